/**
 * Stream idle timeouts (stream_idle_timeout, a route's idle_timeout) and the connection's
 * idle_timeout, kept with one timer per connection that activity does not touch: activity keeps
 * a stream alive, each stream times out at its own deadline, a connection is idle only with no
 * request in progress. On a manual clock (the timer class) and on the wire, HTTP/1.1 and HTTP/2.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import { StreamIdleTimers, type IdleStream } from '../../../src/proxy/http/conn_manager/stream_idle_timers.ts';
import { ManualClock } from '../../helpers/clock.ts';
import { hcmConfig, routeConfig, startHcm, startUpstream, type TestProxy, type Upstream } from './harness.ts';

function member(clock: ManualClock, idleMs: number, fired: string[], name: string): IdleStream {
  return { idleMs, lastActive: clock.now(), onIdleTimeout: () => fired.push(`${name}@${clock.now()}`), idlePrev: undefined, idleNext: undefined };
}

describe('StreamIdleTimers', () => {
  test('activity postpones the timeout to its own time; streams keep their own deadlines; one timer', async () => {
    const clock = new ManualClock(0);
    const t = new StreamIdleTimers(clock);
    const fired: string[] = [];
    const a = member(clock, 200, fired, 'a');
    const b = member(clock, 500, fired, 'b');
    t.add(a);
    t.add(b);
    assert.equal(clock.size, 1, 'one timer for both streams');
    await clock.advance(150);
    a.lastActive = clock.now(); // activity at 150: a is now due at 350
    await clock.advance(199);
    assert.deepEqual(fired, [], 'nothing due at 349');
    await clock.advance(1);
    assert.deepEqual(fired, ['a@350']);
    await clock.advance(149);
    assert.deepEqual(fired, ['a@350'], 'b is not due before 500');
    await clock.advance(1);
    assert.deepEqual(fired, ['a@350', 'b@500']);
    assert.equal(clock.size, 0, 'nothing left to watch, no timer left');
  });

  test('a removed stream never fires; a later stream with a shorter timeout arms an earlier timer; close cancels', async () => {
    const clock = new ManualClock(0);
    const t = new StreamIdleTimers(clock);
    const fired: string[] = [];
    const long = member(clock, 1000, fired, 'long');
    t.add(long);
    await clock.advance(100);
    t.remove(long);
    const short = member(clock, 50, fired, 'short');
    t.add(short);
    await clock.advance(50);
    assert.deepEqual(fired, ['short@150']);
    await clock.advance(2000);
    assert.deepEqual(fired, ['short@150'], 'the removed stream did not fire');
    const c = member(clock, 100, fired, 'c');
    t.add(c);
    t.close();
    assert.equal(clock.size, 0);
    await clock.advance(500);
    assert.deepEqual(fired, ['short@150']);
  });

  test('any stream can leave, first, middle or last; a timeout that ends other streams or closes the connection stops them firing', async () => {
    const clock = new ManualClock(0);
    const t = new StreamIdleTimers(clock);
    const fired: string[] = [];
    const [a, b, c, d] = ['a', 'b', 'c', 'd'].map((n) => member(clock, 100, fired, n));
    for (const s of [a, b, c, d]) t.add(s);
    t.remove(b); // middle
    t.remove(d); // the last added: the head
    t.remove(d); // twice: nothing
    await clock.advance(100);
    assert.deepEqual(fired.sort(), ['a@100', 'c@100']);

    fired.length = 0;
    const e = member(clock, 50, fired, 'e');
    const f = member(clock, 50, fired, 'f');
    const g = member(clock, 50, fired, 'g');
    // Whichever of them times out first ends the other two (as a connection reset would).
    for (const s of [e, f, g]) {
      s.onIdleTimeout = () => {
        fired.push(`${['e', 'f', 'g'][[e, f, g].indexOf(s)]}@${clock.now()}`);
        for (const o of [e, f, g]) if (o !== s) t.remove(o);
      };
      t.add(s);
    }
    await clock.advance(50);
    assert.equal(fired.length, 1, `one timeout, the others ended by it: ${fired}`);

    fired.length = 0;
    const h = member(clock, 50, fired, 'h');
    const i = member(clock, 50, fired, 'i');
    h.onIdleTimeout = i.onIdleTimeout = () => {
      fired.push('closed');
      t.close();
    };
    t.add(h);
    t.add(i);
    await clock.advance(50);
    assert.deepEqual(fired, ['closed']);
    assert.equal(clock.size, 0);
  });
});

/** /short: a 150 ms route idle_timeout; everything else the HCM's 300 ms stream_idle_timeout. */
const RC = routeConfig([
  { match: { prefix: '/short' }, route: { cluster: 'up', idle_timeout: '0.15s' } },
  { match: { prefix: '/' }, route: { cluster: 'up' } },
]);

describe('stream idle timeout on the wire', () => {
  let up: Upstream;
  let p: TestProxy;
  before(async () => {
    up = await startUpstream('up', (req, res) => {
      if (req.url?.endsWith('/trickle')) {
        res.writeHead(200, { 'content-type': 'text/plain' });
        let n = 0;
        const t = setInterval(() => {
          res.write(`chunk${n}\n`);
          if (++n === 10) {
            clearInterval(t);
            res.end();
          }
        }, 100);
        res.on('close', () => clearInterval(t));
        return true;
      }
      if (req.url?.endsWith('/stall')) {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.write('first\n');
        return true;
      }
      return false;
    });
    p = await startHcm(hcmConfig(RC, { stream_idle_timeout: '0.3s', common_http_protocol_options: { idle_timeout: '0.4s' } }), [{ name: 'up', ports: [up.port] }]);
  });
  after(async () => {
    await p.close();
    await up.close();
  });

  test('HTTP/1.1: a response that keeps coming outlives the timeout; one that stalls is cut; the connection is reused', async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const get = (path: string) =>
        new Promise<{ status: number; body: string; complete: boolean }>((resolve) => {
          http.get({ port: p.port, path, agent }, (res) => {
            let body = '';
            res.setEncoding('utf8');
            res.on('data', (d) => (body += d));
            res.on('error', () => {});
            res.on('close', () => resolve({ status: res.statusCode!, body, complete: res.complete }));
          });
        });
      const t0 = Date.now();
      const trickle = await get('/trickle');
      assert.equal(trickle.status, 200);
      assert.equal(trickle.body.split('\n').filter(Boolean).length, 10, 'all ten chunks, over about 1 s');
      assert.ok(trickle.complete);
      assert.ok(Date.now() - t0 >= 900);
      const before = p.stats.get('http.test.downstream_rq_idle_timeout') ?? 0;
      const stall = await get('/stall');
      assert.equal(stall.body, 'first\n');
      assert.equal(stall.complete, false, 'the stalled response was cut, not ended');
      assert.equal(p.stats.get('http.test.downstream_rq_idle_timeout'), before + 1);
    } finally {
      agent.destroy();
    }
  });

  test('HTTP/2: streams on one connection time out on their own routes; a trickling stream is served in full', async () => {
    const c = http2.connect(`http://127.0.0.1:${p.port}`);
    try {
      const open = (path: string) => {
        const s = c.request({ ':method': 'POST', ':path': path }, { endStream: false });
        const status = new Promise<number>((r) => s.on('response', (h) => r(Number(h[':status']))));
        let body = '';
        s.setEncoding('utf8');
        s.on('data', (d) => (body += d));
        const ended = new Promise<void>((r) => s.on('close', () => r()));
        s.on('error', () => {});
        return { s, status, ended, body: () => body };
      };
      const t0 = Date.now();
      // Request bodies that never end: only the stream idle timeouts can answer them.
      const short = open('/short/wait');
      const long = open('/wait');
      const trickle = c.request({ ':path': '/trickle' });
      let trickled = '';
      trickle.setEncoding('utf8');
      trickle.on('data', (d) => (trickled += d));
      const trickleDone = new Promise<void>((r) => trickle.on('end', () => r()));
      assert.equal(await short.status, 408);
      const shortAt = Date.now() - t0;
      assert.equal(await long.status, 408);
      const longAt = Date.now() - t0;
      assert.ok(shortAt >= 140 && shortAt < longAt, `the route's 150 ms came first (${shortAt} ms, then ${longAt} ms)`);
      assert.ok(longAt >= 290, `stream_idle_timeout is 300 ms (${longAt} ms)`);
      await trickleDone;
      assert.equal(trickled.split('\n').filter(Boolean).length, 10);
      // The answered streams are reset with NO_ERROR (RFC 9113 8.1), not left half-open.
      await Promise.all([short.ended, long.ended]);
      assert.equal(short.s.rstCode, http2.constants.NGHTTP2_NO_ERROR);
      assert.equal(long.s.rstCode, http2.constants.NGHTTP2_NO_ERROR);
    } finally {
      c.close();
    }
  });

  test('HTTP/1.1 idle_timeout: a connection with no request in progress closes; a long response is not cut by it', async () => {
    const s = net.connect(p.port, '127.0.0.1');
    let reply = '';
    s.setEncoding('latin1');
    s.on('data', (d) => (reply += d));
    const closed = new Promise<number>((r) => s.on('close', () => r(Date.now())));
    await new Promise<void>((r) => s.once('connect', () => r()));
    // The trickle takes about 1 s, longer than the 400 ms idle_timeout: a request in progress is not idle.
    const t0 = Date.now();
    s.write('GET /trickle HTTP/1.1\r\nHost: a\r\n\r\n');
    const closedAt = await closed;
    assert.match(reply, /chunk9\n\r\n0\r\n\r\n$/, 'the whole chunked response came before the close');
    assert.ok(closedAt - t0 >= 1000 + 350, `closed about 400 ms after the response (${closedAt - t0} ms)`);
  });
});
