/**
 * Downstream codecs on the wire: malformed HTTP/1.1 gets 400/431 or a closed connection while
 * other clients keep being served; h2c prior knowledge downstream to an HTTP/1.1 upstream and
 * HTTP/1.1 downstream to an h2c upstream; WebSocket upgrade spliced end to end; keep-alive,
 * 100-continue and drain (Connection: close / GOAWAY).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import http2 from 'node:http2';
import { WebSocketServer, WebSocket } from 'ws';
import { hcmConfig, listenOn, rawExchange, request, startH2Upstream, startHcm, startUpstream, type TestProxy, type Upstream } from './harness.ts';

const simple = (cluster: string, extra: Record<string, unknown> = {}) => ({ name: 'rc', virtual_hosts: [{ name: 'v', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster, ...extra } }] }] });

describe('malformed HTTP/1.1', () => {
  let up: Upstream;
  let p: TestProxy;
  before(async () => {
    up = await startUpstream('a');
    p = await startHcm(hcmConfig(simple('a')), [{ name: 'a', ports: [up.port] }]);
  });
  after(async () => {
    await p.close();
    await up.close();
  });

  const status = (raw: string) => /^HTTP\/1\.1 (\d{3})/.exec(raw)?.[1];
  const cases: [string, string, string[]][] = [
    ['oversized headers', `GET / HTTP/1.1\r\nHost: a\r\nX-Big: ${'a'.repeat(70 * 1024)}\r\n\r\n`, ['431']],
    ['more than 100 headers', `GET / HTTP/1.1\r\nHost: a\r\n${Array.from({ length: 101 }, (_, i) => `X-H${i}: v\r\n`).join('')}\r\n`, ['431']],
    ['invalid header value character', 'GET / HTTP/1.1\r\nHost: a\r\nX-A: b\x01c\r\n\r\n', ['400']],
    ['invalid header name', 'GET / HTTP/1.1\r\nHost: a\r\nX A: b\r\n\r\n', ['400']],
    ['Content-Length with Transfer-Encoding', 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', ['400']],
    ['duplicate Content-Length', 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd', ['400']],
    ['bare LF', 'GET / HTTP/1.1\nHost: a\n\n', ['400']],
    ['obs-fold', 'GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n c\r\n\r\n', ['400']],
    ['bad chunk size', 'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n', ['400', undefined as unknown as string]],
  ];
  for (const [name, raw, want] of cases) {
    test(`${name} → ${want.filter(Boolean).join('/')} or close, and others still served`, async () => {
      const out = await rawExchange(p.port, raw);
      const st = status(out);
      assert.ok(want.includes(st as string) || (want.includes(undefined as unknown as string) && st === undefined), `got ${JSON.stringify(out.slice(0, 60))}`);
      const ok = await request(p.port, { path: '/after' });
      assert.equal(ok.status, 200);
    });
  }

  test('protocol errors are counted', () => {
    assert.ok(p.stats.get('http.test.downstream_cx_protocol_error') >= 6);
  });
});

describe('keep-alive, 100-continue, drain', () => {
  test('several requests on one connection; expect 100-continue; drain adds connection: close', async () => {
    const up = await startUpstream('a');
    const p = await startHcm(hcmConfig(simple('a')), [{ name: 'a', ports: [up.port] }]);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      for (let i = 0; i < 3; i++) assert.equal((await request(p.port, { agent })).status, 200);
      assert.equal(p.stats.get('http.test.downstream_cx_total'), 1);
      const cont = await new Promise<{ continued: boolean; body: string }>((resolve, reject) => {
        let continued = false;
        const req = http.request({ host: '127.0.0.1', port: p.port, method: 'POST', path: '/c', headers: { expect: '100-continue', 'content-length': '5' }, agent: false }, (res) => {
          let b = '';
          res.on('data', (d) => (b += d));
          res.on('end', () => resolve({ continued, body: b }));
        });
        req.on('continue', () => {
          continued = true;
          req.end('hello');
        });
        req.on('error', reject);
      });
      assert.ok(cont.continued);
      assert.equal(JSON.parse(cont.body).body, 'hello');
      assert.equal(JSON.parse(cont.body).headers.expect, undefined);
      p.setDraining(true);
      const r = await request(p.port, { agent });
      assert.equal(r.headers.connection, 'close');
    } finally {
      agent.destroy();
      await p.close();
      await up.close();
    }
  });
});

function h2Request(port: number, path: string, headers: Record<string, string> = {}, body?: string): Promise<{ status: number; headers: http2.IncomingHttpHeaders; body: string; session: http2.ClientHttp2Session }> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`http://127.0.0.1:${port}`);
    session.on('error', reject);
    const req = session.request({ ':path': path, ':method': body ? 'POST' : 'GET', ...headers });
    let status = 0;
    let h: http2.IncomingHttpHeaders = {};
    let b = '';
    req.on('response', (hh) => {
      h = hh;
      status = Number(hh[':status']);
    });
    req.on('data', (d) => (b += d));
    req.on('end', () => resolve({ status, headers: h, body: b, session }));
    req.on('error', reject);
    req.end(body);
  });
}

describe('protocol conversion', () => {
  test('h2c prior knowledge downstream → HTTP/1.1 upstream', async () => {
    const up = await startUpstream('h1');
    const p = await startHcm(hcmConfig(simple('a')), [{ name: 'a', ports: [up.port] }]);
    try {
      const r = await h2Request(p.port, '/x?y=1', { cookie: 'a=1', 'x-test': 'v' }, 'body-h2');
      r.session.close();
      assert.equal(r.status, 200);
      const seen = JSON.parse(r.body);
      assert.equal(seen.url, '/x?y=1');
      assert.equal(seen.body, 'body-h2');
      assert.ok(String(seen.headers.host).startsWith('127.0.0.1:'));
      assert.equal(seen.headers['x-test'], 'v');
      assert.equal(r.headers.server, 'envoy');
      assert.equal(p.stats.get('http.test.downstream_rq_http2_total'), 1);
      assert.equal(p.completed[0]?.protocol, 'HTTP/2');
    } finally {
      await p.close();
      await up.close();
    }
  });

  test('HTTP/1.1 downstream → h2c upstream', async () => {
    const up = await startH2Upstream('h2');
    const p = await startHcm(hcmConfig(simple('a')), [{ name: 'a', ports: [up.port], protocol: 'http2' }]);
    try {
      const r = await request(p.port, { method: 'POST', path: '/up2', headers: { host: 'svc.local', connection: 'keep-alive, x-hop', 'x-hop': '1', te: 'gzip' }, body: 'payload' });
      assert.equal(r.status, 200);
      const seen = JSON.parse(r.body);
      assert.equal(seen.protocol, 'h2');
      assert.equal(seen.headers[':authority'], 'svc.local');
      assert.equal(seen.body, 'payload');
      assert.equal(seen.headers['x-hop'], undefined);
      assert.equal(seen.headers.te, undefined);
    } finally {
      await p.close();
      await up.close();
    }
  });

  test('HTTP/2 drain sends GOAWAY', async () => {
    const up = await startUpstream('h1');
    const p = await startHcm(hcmConfig(simple('a')), [{ name: 'a', ports: [up.port] }]);
    try {
      p.setDraining(true);
      const session = http2.connect(`http://127.0.0.1:${p.port}`);
      const goaway = new Promise<boolean>((r) => session.on('goaway', () => r(true)));
      const req = session.request({ ':path': '/' });
      req.resume();
      await new Promise((r) => req.on('end', r));
      assert.equal(await goaway, true);
      session.destroy();
    } finally {
      await p.close();
      await up.close();
    }
  });

  test('HTTP/2 rapid reset is answered with GOAWAY', async () => {
    const up = await startUpstream('slow', (_q, res) => {
      setTimeout(() => res.end('x'), 2000).unref();
      return true;
    });
    const p = await startHcm(hcmConfig(simple('a')), [{ name: 'a', ports: [up.port] }]);
    try {
      const session = http2.connect(`http://127.0.0.1:${p.port}`, { settings: {} });
      session.on('error', () => {});
      const closed = new Promise<void>((r) => session.on('close', () => r()));
      await new Promise((r) => session.on('connect', r));
      for (let i = 0; i < 400 && !session.destroyed && !session.closed; i++) {
        try {
          const s = session.request({ ':path': '/' });
          s.on('error', () => {});
          s.close(http2.constants.NGHTTP2_CANCEL);
        } catch {
          break;
        }
        if (i % 50 === 0) await new Promise((r) => setImmediate(r));
      }
      await closed;
      assert.equal(p.stats.get('http.test.http2.rapid_reset_goaway'), 1);
      // The proxy keeps serving others.
      assert.equal((await request(p.port, {})).status, 200);
    } finally {
      await p.close();
      await up.close();
    }
  });
});

describe('WebSocket', () => {
  test('upgrade is spliced and echoes both ways; refused without upgrade_configs', async () => {
    const server = http.createServer();
    const wss = new WebSocketServer({ server });
    wss.on('connection', (ws) => ws.on('message', (m, bin) => ws.send(bin ? m : `echo:${m}`)));
    const upPort = await listenOn(server);
    const p = await startHcm(hcmConfig(simple('ws'), { upgrade_configs: [{ upgrade_type: 'websocket' }] }), [{ name: 'ws', ports: [upPort] }]);
    const plain = await startHcm(hcmConfig(simple('ws')), [{ name: 'ws', ports: [upPort] }]);
    try {
      const ws = new WebSocket(`ws://127.0.0.1:${p.port}/chat`);
      await new Promise((r, j) => ws.on('open', r).on('error', j));
      const got: string[] = [];
      const all = new Promise<void>((r) =>
        ws.on('message', (m) => {
          got.push(String(m));
          if (got.length === 3) r();
        }),
      );
      ws.send('one');
      ws.send('two');
      ws.send('three');
      await all;
      assert.deepEqual(got, ['echo:one', 'echo:two', 'echo:three']);
      ws.close();
      await new Promise((r) => ws.on('close', r));
      const refused = new WebSocket(`ws://127.0.0.1:${plain.port}/chat`);
      const status = await new Promise<number>((r) => refused.on('unexpected-response', (_q, res) => r(res.statusCode ?? 0)).on('error', () => r(-1)));
      assert.equal(status, 403);
      assert.equal(plain.stats.get('http.test.downstream_rq_ws_on_non_ws_route'), 1);
    } finally {
      await p.close();
      await plain.close();
      for (const c of wss.clients) c.terminate();
      wss.close();
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });
});
