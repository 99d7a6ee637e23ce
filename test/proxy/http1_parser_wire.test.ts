/**
 * The raw-socket HTTP/1.1 codec on the wire (src/proxy/http/conn_manager/codec_http1.ts with
 * src/proxy/http/http1/): response framing (chunked, HTTP/1.0 close-delimited and keep-alive, HEAD,
 * 204), pipelined requests answered in order, Expect other than 100-continue, Connection: close,
 * large bodies both ways under backpressure, and the connection idle timeout.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import http from 'node:http';
import { hcmConfig, rawExchange, request, startHcm, startUpstream, type TestProxy, type Upstream } from './http/harness.ts';

const simple = { name: 'rc', virtual_hosts: [{ name: 'v', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster: 'up' } }] }] };

/** Upstream answers: /chunked streams two pieces without a length, /slow waits, /204 is empty, /big is 8 MiB. */
function behave(req: http.IncomingMessage, res: http.ServerResponse, body: string): boolean {
  const url = req.url ?? '';
  if (url.startsWith('/chunked')) {
    res.write('ab');
    setTimeout(() => res.end('cd'), 20);
    return true;
  }
  if (url.startsWith('/slow')) {
    setTimeout(() => res.end(`slow:${url}`), 150);
    return true;
  }
  if (url.startsWith('/204')) {
    res.writeHead(204).end();
    return true;
  }
  if (url.startsWith('/big')) {
    res.setHeader('content-length', String(8 << 20));
    res.end(Buffer.alloc(8 << 20, 'x'));
    return true;
  }
  if (url.startsWith('/len')) {
    res.end(`len:${body.length}`);
    return true;
  }
  return false;
}

/** The response heads in a raw byte stream (no body here contains a status line). */
function heads(raw: string): string[] {
  return raw.split(/(?=HTTP\/1\.1 \d{3} )/).map((r) => r.split('\r\n\r\n')[0]);
}

describe('HTTP/1.1 codec on the wire', () => {
  let up: Upstream;
  let p: TestProxy;
  before(async () => {
    up = await startUpstream('up', behave);
    p = await startHcm(hcmConfig(simple), [{ name: 'up', ports: [up.port] }]);
  });
  after(async () => {
    await p.close();
    await up.close();
  });

  test('no content-length upstream → chunked to an HTTP/1.1 client', async () => {
    const out = await rawExchange(p.port, 'GET /chunked HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
    const [head, body] = out.split('\r\n\r\n');
    assert.match(head, /^HTTP\/1\.1 200 OK\r\n/);
    assert.match(head, /\r\ntransfer-encoding: chunked\r\n/);
    assert.match(head, /\r\nconnection: close/);
    assert.equal(`${body}\r\n\r\n`, '2\r\nab\r\n2\r\ncd\r\n0\r\n\r\n');
  });

  test('HTTP/1.0: close-delimited without a length; keep-alive when asked, with the length', async () => {
    const out = await rawExchange(p.port, 'GET /chunked HTTP/1.0\r\n\r\n');
    const [head, body] = out.split('\r\n\r\n');
    assert.doesNotMatch(head, /transfer-encoding/);
    assert.match(head, /\r\nconnection: close/);
    assert.equal(body, 'abcd');
    const two = await rawExchange(p.port, 'GET /len1 HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /len2 HTTP/1.0\r\n\r\n');
    const h = heads(two);
    assert.equal(h.length, 2, two);
    assert.match(h[0], /\r\nconnection: keep-alive/);
    assert.match(h[1], /\r\nconnection: close/);
  });

  test('HEAD and 204 carry no body; the next pipelined response follows right after', async () => {
    const out = await rawExchange(p.port, 'HEAD /len HTTP/1.1\r\nHost: a\r\n\r\nGET /204 HTTP/1.1\r\nHost: a\r\n\r\nGET /len3 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
    const parts = out.split('\r\n\r\n');
    assert.match(parts[0], /^HTTP\/1\.1 200 OK\r\n/);
    assert.match(parts[1], /^HTTP\/1\.1 204 No Content\r\n/);
    assert.doesNotMatch(parts[1], /transfer-encoding|content-length/);
    assert.match(parts[2], /^HTTP\/1\.1 200 OK\r\n/);
    assert.equal(parts[3], 'len:0');
  });

  test('pipelined requests are answered in order, one whole response after another', async () => {
    const out = await rawExchange(p.port, 'GET /slow1 HTTP/1.1\r\nHost: a\r\n\r\nGET /chunked HTTP/1.1\r\nHost: a\r\n\r\nGET /slow2 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
    const a = out.indexOf('slow:/slow1');
    const b = out.indexOf('2\r\nab\r\n2\r\ncd\r\n0\r\n\r\n');
    const c = out.indexOf('slow:/slow2');
    assert.ok(a > 0 && b > a && c > b, out);
    assert.equal(heads(out).length, 3);
  });

  test('an expectation other than 100-continue → 417, its body skipped, the connection goes on', async () => {
    const before = up.seen.length;
    const out = await rawExchange(p.port, 'POST /x HTTP/1.1\r\nHost: a\r\nExpect: bogus\r\nContent-Length: 3\r\n\r\nabcGET /len4 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
    assert.match(out, /^HTTP\/1\.1 417 Expectation Failed\r\n/);
    assert.match(out, /\r\n\r\nlen:0$/);
    assert.deepEqual(up.seen.slice(before).map((s) => s.url), ['/len4']);
  });

  test('Connection: close → the response says so and the server closes', async () => {
    const closed = await new Promise<{ reply: string }>((resolve) => {
      const s = net.connect(p.port, '127.0.0.1');
      let reply = '';
      s.on('data', (d) => (reply += d.toString('latin1')));
      s.on('close', () => resolve({ reply }));
      s.write('GET /len5 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
    });
    assert.match(closed.reply, /\r\nconnection: close\r\n/);
    assert.match(closed.reply, /len:0$/);
  });

  test('large bodies both ways: 3 MiB up, 8 MiB down to a reader that starts late', async () => {
    const upload = await request(p.port, { method: 'POST', path: '/len', body: Buffer.alloc(3 << 20, 'y') });
    assert.equal(upload.body, `len:${3 << 20}`);
    const got = await new Promise<number>((resolve, reject) => {
      const req = http.get({ host: '127.0.0.1', port: p.port, path: '/big', agent: false }, (res) => {
        res.pause();
        let n = 0;
        setTimeout(() => {
          res.on('data', (d: Buffer) => (n += d.length));
          res.on('end', () => resolve(n));
          res.resume();
        }, 200);
      });
      req.on('error', reject);
    });
    assert.equal(got, 8 << 20);
  });
});

describe('connection idle timeout (common_http_protocol_options.idle_timeout)', () => {
  test('an idle keep-alive connection is closed; a slow response on another is not cut', async () => {
    const up = await startUpstream('up', behave);
    const p = await startHcm(hcmConfig(simple, { common_http_protocol_options: { idle_timeout: '0.1s' } }), [{ name: 'up', ports: [up.port] }]);
    try {
      const s = net.connect(p.port, '127.0.0.1');
      let reply = '';
      const closed = new Promise<void>((r) => s.on('close', () => r()));
      s.on('data', (d) => (reply += d.toString('latin1')));
      s.write('GET /slow-idle HTTP/1.1\r\nHost: a\r\n\r\n');
      await closed;
      // The response (150 ms upstream, longer than the idle timeout) arrived before the idle close.
      assert.match(reply, /slow:\/slow-idle$/);
      assert.doesNotMatch(reply, /connection: close/);
    } finally {
      await p.close();
      await up.close();
    }
  });
});
