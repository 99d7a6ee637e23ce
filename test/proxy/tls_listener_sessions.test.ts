/**
 * A TLS-terminating listener as clients actually use it:
 * - session resumption with client certificates required: a sidecar's pool resumes its TLS
 *   session on every connection after the first (before, each resumed handshake got an
 *   internal_error alert, so every mTLS connection after the first failed);
 * - HTTP/2 negotiated by ALPN over TLS (before, the request hung: gRPC between sidecars over
 *   mTLS never completed).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import tls from 'node:tls';
import { createPki, hasOpenssl } from '../helpers/certs.ts';
import { TRANSPORT_SOCKET } from '../../src/xds/type_urls.ts';
import { createServer } from 'node:http';
import { closeServer, httpListener, listen, startProxy, staticCluster } from './helpers.ts';

/** The app behind the listener: answers every request with `body`. */
async function httpApp(body: string): Promise<{ port: number; close: () => Promise<void> }> {
  const s = createServer((_req, res) => res.end(body));
  const port = await listen(s);
  return { port, close: () => closeServer(s) };
}

const SKIP = !hasOpenssl() && 'openssl CLI not available';

function tlsListener(pki: ReturnType<typeof createPki>, server: { cert: string; key: string }, requireClient: boolean) {
  const l = httpListener('https', [{ match: { prefix: '/' }, route: { cluster: 'app' } }]);
  l.filter_chains[0].transport_socket = {
    name: 'envoy.transport_sockets.tls',
    typed_config: {
      '@type': TRANSPORT_SOCKET.DOWNSTREAM_TLS,
      require_client_certificate: requireClient,
      common_tls_context: {
        alpn_protocols: ['h2', 'http/1.1'],
        tls_certificates: [{ certificate_chain: { inline_string: server.cert }, private_key: { inline_string: server.key } }],
        ...(requireClient ? { validation_context: { trusted_ca: { inline_string: pki.ca } } } : {}),
      },
    },
  };
  return l;
}

/** One HTTP/1.1 GET over a fresh TLS connection, optionally resuming `session`. */
function get(port: number, o: tls.ConnectionOptions): Promise<{ body: string; reused: boolean; session?: Buffer }> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port, servername: 'app.local', ALPNProtocols: ['http/1.1'], ...o });
    let data = '';
    let session: Buffer | undefined;
    let reused = false;
    s.on('session', (b) => (session = b));
    s.once('secureConnect', () => {
      reused = s.isSessionReused();
      s.write('GET / HTTP/1.1\r\nhost: app\r\nconnection: close\r\n\r\n');
    });
    s.on('data', (d) => (data += d));
    s.once('error', reject);
    s.once('close', () => resolve({ body: data, reused, session }));
  });
}

for (const version of ['TLSv1.2', 'TLSv1.3'] as const) {
  test(`client certificates required: a resumed ${version} session is served`, { skip: SKIP }, async (t) => {
    const pki = createPki();
    t.after(() => pki.dispose());
    const server = pki.server('app', ['app.local']);
    const client = pki.client('client', 'client');
    const app = await httpApp('app');
    t.after(() => app.close());
    const proxy = await startProxy({ clusters: [staticCluster('app', [app.port])], listeners: [tlsListener(pki, server, true)] });
    t.after(() => proxy.close());
    const port = proxy.port('https');
    const opts = { ca: pki.ca, cert: client.cert, key: client.key, minVersion: version, maxVersion: version };
    const first = await get(port, opts);
    assert.match(first.body, /^HTTP\/1\.1 200[\s\S]*app$/);
    assert.ok(first.session, 'the server issued a session to resume');
    for (let i = 0; i < 3; i++) {
      const again = await get(port, { ...opts, session: first.session });
      assert.match(again.body, /^HTTP\/1\.1 200[\s\S]*app$/, `resumption ${i + 1}`);
      assert.equal(again.reused, true, 'the session was resumed, not renegotiated');
    }
  });
}

test('HTTP/2 over TLS (ALPN h2): requests on one connection are answered', { skip: SKIP }, async (t) => {
  const pki = createPki();
  t.after(() => pki.dispose());
  const server = pki.server('app', ['app.local']);
  const app = await httpApp('app over h2');
  t.after(() => app.close());
  const proxy = await startProxy({ clusters: [staticCluster('app', [app.port])], listeners: [tlsListener(pki, server, false)] });
  t.after(() => proxy.close());
  const session = http2.connect(`https://127.0.0.1:${proxy.port('https')}`, { ca: pki.ca, servername: 'app.local' });
  t.after(() => session.close());
  const ask = () =>
    new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = session.request({ ':path': '/', ':authority': 'app' });
      let status = 0;
      let body = '';
      req.setTimeout(10_000, () => req.close(http2.constants.NGHTTP2_CANCEL));
      req.on('response', (h) => (status = Number(h[':status'])));
      req.on('data', (d) => (body += d));
      req.on('end', () => resolve({ status, body }));
      req.on('error', reject);
      // A stream reset without an error event would leave this pending (the file then ends with
      // the test cancelled and no reason): say how it closed. After 'end' this is a no-op.
      req.on('close', () => reject(new Error(`stream closed before its end: rst code ${req.rstCode}, status ${status}, body ${JSON.stringify(body)}`)));
      req.end();
    });
  const answers = await Promise.all([ask(), ask(), ask()]);
  assert.deepEqual(answers, [1, 2, 3].map(() => ({ status: 200, body: 'app over h2' })));
  assert.equal((session.socket as tls.TLSSocket).alpnProtocol, 'h2');
});
