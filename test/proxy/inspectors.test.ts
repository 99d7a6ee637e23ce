import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import tls from 'node:tls';
import { parseClientHello } from '../../src/proxy/listener/tls_inspector.ts';
import { inspectHttp } from '../../src/proxy/listener/http_inspector.ts';
import { closeServer, listen } from './helpers.ts';

/** Captures the first bytes a real node:tls client sends (its ClientHello). */
async function captureClientHello(opts: tls.ConnectionOptions): Promise<Buffer> {
  let resolve!: (b: Buffer) => void;
  const got = new Promise<Buffer>((r) => (resolve = r));
  const server = net.createServer((s) => {
    s.once('data', (d) => {
      resolve(d);
      s.destroy();
    });
  });
  const port = await listen(server);
  const c = tls.connect({ port, host: '127.0.0.1', rejectUnauthorized: false, ...opts });
  c.on('error', () => {});
  const hello = await got;
  c.destroy();
  await closeServer(server);
  return hello;
}

test('tls_inspector reads SNI and ALPN from a real ClientHello, and asks for more when cut short', async () => {
  const hello = await captureClientHello({ servername: 'reviews.default.svc.cluster.local', ALPNProtocols: ['istio-peer-exchange', 'h2'] });
  const r = parseClientHello(hello);
  assert.equal(r.kind, 'tls');
  if (r.kind === 'tls') {
    assert.equal(r.serverName, 'reviews.default.svc.cluster.local');
    assert.deepEqual(r.alpn, ['istio-peer-exchange', 'h2']);
  }
  assert.equal(parseClientHello(hello.subarray(0, 20)).kind, 'need_more');
  const plain = parseClientHello(await captureClientHello({}));
  assert.equal(plain.kind === 'tls' && plain.serverName, undefined);
  assert.equal(parseClientHello(Buffer.from('GET / HTTP/1.1\r\n')).kind, 'not_tls');
});

test('http_inspector tells HTTP/1.x from h2c and from other bytes', () => {
  assert.deepEqual(inspectHttp(Buffer.from('GET /productpage HTTP/1.1\r\nHost: x\r\n')), { kind: 'http', protocol: 'http/1.1' });
  assert.deepEqual(inspectHttp(Buffer.from('POST / HTTP/1.0\r\n')), { kind: 'http', protocol: 'http/1.0' });
  assert.deepEqual(inspectHttp(Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n')), { kind: 'http', protocol: 'h2c' });
  assert.deepEqual(inspectHttp(Buffer.from('PRI * HT')), { kind: 'need_more' });
  assert.deepEqual(inspectHttp(Buffer.from('GET /a')), { kind: 'need_more' });
  assert.deepEqual(inspectHttp(Buffer.from('\x16\x03\x01')), { kind: 'not_http' });
  assert.deepEqual(inspectHttp(Buffer.from('hello world\n')), { kind: 'not_http' });
});
