/**
 * Issue 7, bug 10: a client that trickles its request headers no longer holds a connection for
 * ever. request_headers_timeout (tsmesh default 60 s, overridable) and stream_idle_timeout, which
 * Envoy applies before the headers have arrived too, answer 408 and close; other clients are served
 * meanwhile; an idle keep-alive connection is not mistaken for a slow request. On the wire, with
 * raw sockets.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import net from 'node:net';
import http from 'node:http';
import { hcmConfig, request, routeConfig, startHcm, startUpstream, type TestProxy, type Upstream } from './harness.ts';

const RC = routeConfig([
  { match: { prefix: '/up' }, route: { cluster: 'up' } },
  { match: { prefix: '/' }, direct_response: { status: 200, body: { inline_string: 'ok' } } },
]);

/** What a client sees when it sends `first`, then one more piece every `everyMs`, until the server closes (or `maxMs`). */
function trickle(port: number, first: string, piece: (i: number) => string, everyMs: number, maxMs = 5000): Promise<{ reply: string; closedByServer: boolean }> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    let reply = '';
    let i = 0;
    const iv = setInterval(() => s.writable && s.write(piece(i++)), everyMs);
    const giveUp = setTimeout(() => finish(false), maxMs);
    const finish = (closedByServer: boolean) => {
      clearInterval(iv);
      clearTimeout(giveUp);
      s.destroy();
      resolve({ reply, closedByServer });
    };
    s.on('data', (d) => (reply += d.toString('latin1')));
    s.on('error', () => {});
    s.on('close', () => finish(true));
    s.write(first);
  });
}

const headerTrickle = (port: number) => trickle(port, 'GET / HTTP/1.1\r\nHost: slow\r\n', (i) => `x-slow-${i}: y\r\n`, 40);

describe('HTTP/1.1 request headers that trickle in', () => {
  let up: Upstream;
  before(async () => {
    up = await startUpstream('up');
  });
  after(async () => {
    await up.close();
  });

  test('request_headers_timeout: 408 and close, while another client is served', async () => {
    const p = await startHcm(hcmConfig(RC, { request_headers_timeout: '0.3s' }), [{ name: 'up', ports: [up.port] }]);
    try {
      const slow = headerTrickle(p.port);
      const other = await request(p.port, { path: '/up' });
      assert.equal(other.status, 200);
      const { reply, closedByServer } = await slow;
      assert.ok(closedByServer, 'the server closed the trickling connection');
      assert.match(reply, /^HTTP\/1\.1 408 /);
      assert.equal(p.stats.get('http.test.downstream_rq_header_timeout'), 1);
    } finally {
      await p.close();
    }
  });

  test('stream_idle_timeout bounds header reception too (request_headers_timeout unset)', async () => {
    const p = await startHcm(hcmConfig(RC, { stream_idle_timeout: '0.3s' }), []);
    try {
      const { reply, closedByServer } = await headerTrickle(p.port);
      assert.ok(closedByServer);
      assert.match(reply, /^HTTP\/1\.1 408 /);
      assert.equal(p.stats.get('http.test.downstream_rq_idle_timeout'), 1);
    } finally {
      await p.close();
    }
  });

  test('an idle keep-alive connection is not a slow request: its next request is served', async () => {
    const p = await startHcm(hcmConfig(RC, { request_headers_timeout: '0.2s' }), []);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      assert.equal((await request(p.port, { agent })).body, 'ok');
      // Idle for longer than the header timeout, on the same connection.
      await new Promise((r) => setTimeout(r, 700));
      const again = await request(p.port, { agent });
      assert.equal(again.status, 200);
      assert.equal(p.stats.get('http.test.downstream_cx_total'), 1, 'the same connection served both');
    } finally {
      agent.destroy();
      await p.close();
    }
  });

  test('defaults: 60 s for headers (nginx), 5 min stream idle (Envoy); both overridable', async () => {
    const { compileHcmConfig } = await import('../../../src/proxy/http/conn_manager/config.ts');
    const p = await startHcm(hcmConfig(RC), []);
    try {
      const d = compileHcmConfig(hcmConfig(RC), p.ctx);
      assert.equal(d.requestHeadersTimeoutMs, 60_000);
      assert.equal(d.streamIdleTimeoutMs, 300_000);
      const o = compileHcmConfig(hcmConfig(RC, { request_headers_timeout: '2s', stream_idle_timeout: '0s' }), p.ctx);
      assert.equal(o.requestHeadersTimeoutMs, 2000);
      assert.equal(o.headerDeadlineMs, 2000);
    } finally {
      await p.close();
    }
  });
});

describe('HTTP/2', () => {
  let p: TestProxy;
  let up: Upstream;
  before(async () => {
    up = await startUpstream('up');
    p = await startHcm(hcmConfig(RC, { request_headers_timeout: '0.3s', stream_idle_timeout: '0.3s' }), [{ name: 'up', ports: [up.port] }]);
  });
  after(async () => {
    await p.close();
    await up.close();
  });

  test('a connection preface trickled a byte at a time is closed', async () => {
    const preface = 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n';
    const { closedByServer } = await trickle(p.port, preface[0], (i) => preface[i + 1] ?? '', 60);
    assert.ok(closedByServer, 'closed before the preface was complete');
  });

  test('a stream whose request never goes on gets 408 after stream_idle_timeout; other streams are served', async () => {
    const c = http2.connect(`http://127.0.0.1:${p.port}`);
    try {
      const stuck = c.request({ ':method': 'POST', ':path': '/up' }, { endStream: false });
      const status = new Promise<number>((r) => stuck.on('response', (h) => r(Number(h[':status']))));
      stuck.on('error', () => {});
      const ok = c.request({ ':path': '/' });
      const okStatus = await new Promise<number>((r) => ok.on('response', (h) => r(Number(h[':status']))));
      ok.resume();
      assert.equal(okStatus, 200);
      assert.equal(await status, 408);
      stuck.resume();
    } finally {
      c.close();
    }
  });
});
