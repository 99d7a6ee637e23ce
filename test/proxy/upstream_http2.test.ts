/**
 * The upstream HTTP/2 pool (src/proxy/upstream/http2) through a real proxy to node:http2
 * upstreams on loopback: gRPC trailers and trailers-only answers, GOAWAY with refused streams
 * (retried under retry_on refused-stream, a 503 without), the peer's stream limit opening more
 * connections up to the circuit breaker's max_connections, TLS with ALPN h2, SNI, SAN checks and
 * a client certificate, large bodies both ways, stream resets, idle_timeout, connect failures,
 * retiring a pool with a stream in flight, and mirroring to an h2 cluster.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import net from 'node:net';
import { createHash, randomBytes } from 'node:crypto';
import { createPki, hasOpenssl } from '../helpers/certs.ts';
import { CLUSTER_EXT, TRANSPORT_SOCKET } from '../../src/xds/type_urls.ts';
import { TYPE, type EnvoyJson } from '../../src/xds/types.ts';
import { closeServer, httpListener, listen, startProxy, staticCluster, until, type Proxy } from './helpers.ts';
import { refusedPort } from '../helpers/refused_port.ts';

/** explicit_http_config http2 (and common_http_protocol_options when given). */
function h2Options(common?: EnvoyJson): EnvoyJson {
  return {
    typed_extension_protocol_options: {
      'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
        '@type': CLUSTER_EXT.HTTP_PROTOCOL_OPTIONS,
        explicit_http_config: { http2_protocol_options: {} },
        ...(common ? { common_http_protocol_options: common } : {}),
      },
    },
  };
}

interface Upstream {
  port: number;
  /** Sessions opened so far, and how many of them are closed. */
  sessions: () => number;
  closedSessions: () => number;
  close: () => Promise<void>;
}

/** A node:http2 server (h2c, or TLS when `tls` is given) whose streams go to `onStream`. */
async function h2Upstream(onStream: (s: http2.ServerHttp2Stream, h: http2.IncomingHttpHeaders, session: number) => void, o: { settings?: http2.Settings; tls?: http2.SecureServerOptions } = {}): Promise<Upstream> {
  const server = o.tls ? http2.createSecureServer({ ...o.tls, settings: o.settings }) : http2.createServer({ settings: o.settings });
  let opened = 0;
  let closed = 0;
  const all = new Set<http2.ServerHttp2Session>();
  server.on('session', (s) => {
    (s as unknown as { n: number }).n = ++opened;
    all.add(s);
    s.on('close', () => (closed++, all.delete(s)));
    s.on('error', () => {});
  });
  server.on('stream', (s, h) => {
    s.on('error', () => {});
    onStream(s, h, (s.session as unknown as { n: number }).n);
  });
  const port = await listen(server as unknown as net.Server);
  return {
    port,
    sessions: () => opened,
    closedSessions: () => closed,
    close: async () => {
      for (const s of all) s.destroy();
      await closeServer(server as unknown as net.Server);
    },
  };
}

/** Sends one request over an h2c session to the proxy; resolves with all that came back. */
function h2Call(
  session: http2.ClientHttp2Session,
  headers: http2.OutgoingHttpHeaders,
  body?: Buffer,
): Promise<{ headers: http2.IncomingHttpHeaders; headersEnded: boolean; body: Buffer; trailers?: http2.IncomingHttpHeaders; rstCode?: number }> {
  return new Promise((resolve) => {
    const s = session.request(headers, { endStream: body === undefined });
    const chunks: Buffer[] = [];
    let h: http2.IncomingHttpHeaders = {};
    let headersEnded = false;
    let trailers: http2.IncomingHttpHeaders | undefined;
    s.on('response', (x, flags) => ((h = x), (headersEnded = (flags & http2.constants.NGHTTP2_FLAG_END_STREAM) !== 0)));
    s.on('data', (c: Buffer) => chunks.push(c));
    s.on('trailers', (t) => (trailers = t));
    s.on('error', () => {});
    s.on('close', () => resolve({ headers: h, headersEnded, body: Buffer.concat(chunks), trailers, rstCode: s.rstCode }));
    if (body !== undefined) s.end(body);
  });
}

const counter = (p: Proxy, name: string) => p.server.store.counter(name).value();
const gauge = (p: Proxy, name: string) => p.server.store.gauge(name).value();

async function get(port: number, path: string, init?: RequestInit): Promise<{ status: number; body: string }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, init);
  return { status: res.status, body: await res.text() };
}

test('gRPC through an h2 upstream: trailers arrive as trailers, and a trailers-only error stays one HEADERS frame with END_STREAM', { timeout: 30_000 }, async () => {
  const up = await h2Upstream((s, h) => {
    if (h[':path'] === '/svc/Fail') {
      s.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '14', 'grpc-message': 'backend down' }, { endStream: true });
      return;
    }
    s.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
    s.on('wantTrailers', () => s.sendTrailers({ 'grpc-status': '0', 'x-trailing': 'meta' }));
    s.on('data', () => {});
    s.on('end', () => s.end(Buffer.from([0, 0, 0, 0, 2, 8, 1])));
  });
  const proxy = await startProxy({ clusters: [staticCluster('grpc', [up.port], h2Options())], listeners: [httpListener('http', [{ match: { prefix: '/' }, route: { cluster: 'grpc' } }])] });
  const client = http2.connect(`http://127.0.0.1:${proxy.port('http')}`);
  try {
    const req = (path: string) => ({ ':method': 'POST', ':path': path, 'content-type': 'application/grpc', te: 'trailers' });
    const ok = await h2Call(client, req('/svc/Call'), Buffer.from([0, 0, 0, 0, 0]));
    assert.equal(ok.headers[':status'], 200);
    assert.deepEqual([...ok.body], [0, 0, 0, 0, 2, 8, 1]);
    assert.equal(ok.trailers?.['grpc-status'], '0');
    assert.equal(ok.trailers?.['x-trailing'], 'meta');

    const fail = await h2Call(client, req('/svc/Fail'), Buffer.from([0, 0, 0, 0, 0]));
    assert.equal(fail.headers[':status'], 200);
    assert.equal(fail.headers['grpc-status'], '14');
    assert.equal(fail.headers['grpc-message'], 'backend down');
    assert.equal(fail.headersEnded, true, 'trailers-only: the status is in the one HEADERS frame, which ends the stream');
    assert.equal(fail.body.length, 0);
  } finally {
    client.close();
    await proxy.close();
    await up.close();
  }
});

/** An upstream whose first session answers its first stream, but sends GOAWAY(last = that stream) when the second arrives. */
function goawayUpstream(): Promise<Upstream> {
  let first: http2.ServerHttp2Stream | undefined;
  let n = 0;
  return h2Upstream((s, _h, session) => {
    if (session > 1) return void (s.respond({ ':status': 200 }), s.end('ok'));
    n++;
    if (n === 1) return void (first = s);
    if (n === 2) {
      s.session!.goaway(http2.constants.NGHTTP2_NO_ERROR, first!.id!);
      setImmediate(() => (first!.respond({ ':status': 200 }), first!.end('ok')));
    }
  });
}

test('GOAWAY from the upstream: streams it did not take are refused; retry_on refused-stream sends them again on a new connection, and without it they get 503', { timeout: 30_000 }, async () => {
  const [retried, plain] = await Promise.all([goawayUpstream(), goawayUpstream()]);
  const routes = [
    { match: { prefix: '/retry' }, route: { cluster: 'retried', retry_policy: { retry_on: 'refused-stream', num_retries: 3 } } },
    { match: { prefix: '/' }, route: { cluster: 'plain' } },
  ];
  // Envoy's default max_retries (3 at once) would turn some of the refused streams into overflows.
  const retryBudget = { circuit_breakers: { thresholds: [{ max_retries: 10 }] } };
  const proxy = await startProxy({ clusters: [staticCluster('retried', [retried.port], { ...h2Options(), ...retryBudget }), staticCluster('plain', [plain.port], h2Options())], listeners: [httpListener('http', routes)] });
  try {
    const port = proxy.port('http');
    const withRetry = await Promise.all(Array.from({ length: 6 }, () => get(port, '/retry')));
    assert.deepEqual(withRetry.map((r) => r.status), [200, 200, 200, 200, 200, 200], JSON.stringify(withRetry));
    assert.ok(counter(proxy, 'cluster.retried.upstream_rq_retry') >= 1, 'at least the second stream was refused and retried');
    assert.ok(retried.sessions() >= 2, 'the retry went to a new connection');

    const without = await Promise.all(Array.from({ length: 6 }, () => get(port, '/plain')));
    const refused = without.filter((r) => r.status === 503);
    assert.ok(refused.length >= 1, 'at least the second stream was refused');
    for (const r of refused) assert.match(r.body, /reset reason: remote refused stream reset/);
    assert.ok(without.some((r) => r.status === 200), 'the stream the upstream took finished');
  } finally {
    await proxy.close();
    await Promise.all([retried.close(), plain.close()]);
  }
});

test("the peer's SETTINGS_MAX_CONCURRENT_STREAMS: full connections make the pool open another, up to the circuit breaker's max_connections", { timeout: 30_000 }, async () => {
  // Each upstream holds its answers until `hold` streams are open at once, then answers all.
  const holding = (hold: number) => {
    const waiting: http2.ServerHttp2Stream[] = [];
    let released = false;
    const answer = (s: http2.ServerHttp2Stream) => (s.respond({ ':status': 200 }), s.end(String((s.session as unknown as { n: number }).n)));
    return h2Upstream(
      (s) => {
        if (released) return answer(s);
        waiting.push(s);
        if (waiting.length === hold) (released = true), waiting.forEach(answer);
      },
      { settings: { maxConcurrentStreams: 2 } },
    );
  };
  const [wide, capped] = await Promise.all([holding(6), holding(4)]);
  const proxy = await startProxy({
    clusters: [staticCluster('wide', [wide.port], h2Options()), staticCluster('capped', [capped.port], { ...h2Options(), circuit_breakers: { thresholds: [{ max_connections: 2 }] } })],
    listeners: [httpListener('http', [{ match: { prefix: '/wide' }, route: { cluster: 'wide' } }, { match: { prefix: '/' }, route: { cluster: 'capped' } }])],
  });
  try {
    const port = proxy.port('http');
    const w = await Promise.all(Array.from({ length: 6 }, () => get(port, '/wide')));
    assert.deepEqual(w.map((r) => r.status), [200, 200, 200, 200, 200, 200]);
    assert.equal(wide.sessions(), 3, 'six streams at two per connection: three connections');
    assert.deepEqual([...new Set(w.map((r) => r.body))].sort(), ['1', '2', '3']);

    const c = await Promise.all(Array.from({ length: 6 }, () => get(port, '/capped')));
    assert.deepEqual(c.map((r) => r.status), [200, 200, 200, 200, 200, 200], 'requests beyond the open streams wait for a slot');
    assert.equal(capped.sessions(), 2, 'max_connections bounds the connections');
    assert.equal(counter(proxy, 'cluster.capped.upstream_cx_total'), 2);
  } finally {
    await proxy.close();
    await Promise.all([wide.close(), capped.close()]);
  }
});

test('upstream TLS for h2: ALPN h2, SNI, the SAN check and a client certificate (mTLS); a SAN mismatch is a connection failure', { skip: !hasOpenssl() && 'openssl CLI not available', timeout: 30_000 }, async () => {
  const pki = createPki();
  const srv = pki.server('h2srv', ['h2.example.com']);
  const cli = pki.client('proxy', 'proxy-client');
  const up = await h2Upstream(
    (s) => {
      const sock = s.session!.socket as unknown as import('node:tls').TLSSocket;
      s.respond({ ':status': 200 });
      s.end(JSON.stringify({ alpn: s.session!.alpnProtocol, sni: (sock as unknown as { servername: string }).servername, client: sock.getPeerCertificate().subject?.CN }));
    },
    { tls: { cert: srv.cert, key: srv.key, ca: pki.ca, requestCert: true, rejectUnauthorized: true, ALPNProtocols: ['h2'] } },
  );
  const tlsSocket = (san: string) => ({
    transport_socket: {
      name: 'envoy.transport_sockets.tls',
      typed_config: {
        '@type': TRANSPORT_SOCKET.UPSTREAM_TLS,
        sni: 'h2.example.com',
        common_tls_context: {
          tls_certificates: [{ certificate_chain: { inline_string: cli.cert }, private_key: { inline_string: cli.key } }],
          validation_context: { trusted_ca: { inline_string: pki.ca }, match_typed_subject_alt_names: [{ san_type: 'DNS', matcher: { exact: san } }] },
        },
      },
    },
  });
  const proxy = await startProxy({
    clusters: [staticCluster('good', [up.port], { ...h2Options(), ...tlsSocket('h2.example.com') }), staticCluster('bad', [up.port], { ...h2Options(), ...tlsSocket('other.example.com') })],
    listeners: [httpListener('http', [{ match: { prefix: '/good' }, route: { cluster: 'good' } }, { match: { prefix: '/' }, route: { cluster: 'bad' } }])],
  });
  try {
    const port = proxy.port('http');
    const ok = await get(port, '/good');
    assert.equal(ok.status, 200);
    assert.deepEqual(JSON.parse(ok.body), { alpn: 'h2', sni: 'h2.example.com', client: 'proxy-client' });
    const bad = await get(port, '/bad');
    assert.equal(bad.status, 503);
    assert.match(bad.body, /connection failure/);
    assert.ok(counter(proxy, 'cluster.bad.upstream_cx_connect_fail') >= 1);
  } finally {
    await proxy.close();
    await up.close();
    pki.dispose();
  }
});

test('large bodies both ways over h2 keep every byte (flow control on both sides)', { timeout: 30_000 }, async () => {
  const big = randomBytes(12 * 1024 * 1024);
  const up = await h2Upstream((s, h) => {
    s.respond({ ':status': 200 });
    if (h[':path'] === '/download') return void s.end(big);
    s.pipe(s); // echo, at the pace the proxy reads
  });
  const proxy = await startProxy({ clusters: [staticCluster('h2', [up.port], h2Options())], listeners: [httpListener('http', [{ match: { prefix: '/' }, route: { cluster: 'h2' } }])] });
  const sha = (b: Buffer | Uint8Array) => createHash('sha256').update(b).digest('hex');
  try {
    const port = proxy.port('http');
    const upload = randomBytes(8 * 1024 * 1024);
    const echoed = Buffer.from(await (await fetch(`http://127.0.0.1:${port}/echo`, { method: 'POST', body: upload })).arrayBuffer());
    assert.equal(echoed.length, upload.length);
    assert.equal(sha(echoed), sha(upload));
    // h2 downstream too: the proxy's response side into a slow reader.
    const client = http2.connect(`http://127.0.0.1:${port}`);
    try {
      const r = await h2Call(client, { ':path': '/download' });
      assert.equal(r.body.length, big.length);
      assert.equal(sha(r.body), sha(big));
    } finally {
      client.close();
    }
  } finally {
    await proxy.close();
    await up.close();
  }
});

test('stream resets: before the response a 503 naming the remote reset; after it, the downstream stream is reset too', { timeout: 30_000 }, async () => {
  const up = await h2Upstream((s, h) => {
    if (h[':path'] === '/before') return void s.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
    s.respond({ ':status': 200 });
    s.write('partial');
    setTimeout(() => s.destroy(new Error('upstream gives up')), 20).unref();
  });
  const proxy = await startProxy({ clusters: [staticCluster('h2', [up.port], h2Options())], listeners: [httpListener('http', [{ match: { prefix: '/' }, route: { cluster: 'h2' } }])] });
  const client = http2.connect(`http://127.0.0.1:${proxy.port('http')}`);
  try {
    const before = await get(proxy.port('http'), '/before');
    assert.equal(before.status, 503);
    assert.match(before.body, /reset reason: remote reset/);
    const after = await h2Call(client, { ':path': '/after' });
    assert.equal(after.headers[':status'], 200);
    assert.notEqual(after.rstCode, http2.constants.NGHTTP2_NO_ERROR, 'the downstream stream is reset, not ended');
    assert.equal(counter(proxy, 'cluster.h2.upstream_cx_total'), 1, 'stream resets do not cost the connection');
  } finally {
    client.close();
    await proxy.close();
    await up.close();
  }
});

test('idle_timeout closes an h2 connection without streams; a connect failure is a 503 with UF; a retired pool lets its open stream finish', { timeout: 30_000 }, async () => {
  let slow: http2.ServerHttp2Stream | undefined;
  const up = await h2Upstream((s, h) => {
    if (h[':path'] === '/slow') return void (slow = s);
    s.respond({ ':status': 200 });
    s.end('ok');
  });
  const closedPort = await refusedPort();
  const clusters = (v: string) => [staticCluster('h2', [up.port], { ...h2Options({ idle_timeout: '0.3s' }), metadata: { filter_metadata: { v: { v } } } }), staticCluster('gone', [closedPort], h2Options())];
  const proxy = await startProxy({ clusters: clusters('1'), listeners: [httpListener('http', [{ match: { prefix: '/gone' }, route: { cluster: 'gone' } }, { match: { prefix: '/' }, route: { cluster: 'h2' } }])] });
  try {
    const port = proxy.port('http');
    assert.equal((await get(port, '/')).status, 200);
    await until(() => up.closedSessions() === 1, 'the idle connection closed');
    await until(() => gauge(proxy, 'cluster.h2.upstream_cx_active') === 0, 'upstream_cx_active back to 0');

    const gone = await get(port, '/gone');
    assert.equal(gone.status, 503);
    assert.match(gone.body, /connection failure/);
    assert.ok(counter(proxy, 'cluster.gone.upstream_cx_connect_fail') >= 1);

    const pending = get(port, '/slow');
    await until(() => slow !== undefined, 'the slow stream reached the upstream');
    // A changed cluster replaces the old one: its pool retires, the open stream goes on.
    assert.deepEqual(proxy.server.setResources(TYPE.CLUSTER, clusters('2'), 'v2'), { ok: true });
    slow!.respond({ ':status': 200 });
    slow!.end('finished');
    assert.deepEqual(await pending, { status: 200, body: 'finished' });
    await until(() => up.closedSessions() === up.sessions(), 'the retired connection closed after its stream');
  } finally {
    await proxy.close();
    await up.close();
  }
});

test('request mirroring to an h2 cluster: the shadow gets the request with "-shadow" on the authority', { timeout: 30_000 }, async () => {
  const seen: string[] = [];
  const main = await h2Upstream((s) => (s.respond({ ':status': 200 }), s.end('main')));
  const shadow = await h2Upstream((s, h) => {
    seen.push(String(h[':authority']));
    s.respond({ ':status': 200 });
    s.end('shadow');
  });
  const proxy = await startProxy({
    clusters: [staticCluster('main', [main.port], h2Options()), staticCluster('shadow', [shadow.port], h2Options())],
    listeners: [httpListener('http', [{ match: { prefix: '/' }, route: { cluster: 'main', request_mirror_policies: [{ cluster: 'shadow' }] } }])],
  });
  try {
    const r = await get(proxy.port('http'), '/');
    assert.deepEqual(r, { status: 200, body: 'main' });
    await until(() => seen.length === 1, 'the shadow request arrived');
    assert.deepEqual(seen, [`127.0.0.1-shadow:${proxy.port('http')}`]);
  } finally {
    await proxy.close();
    await Promise.all([main.close(), shadow.close()]);
  }
});

test('gRPC outcomes reach outlier detection as Envoy maps them: UNAVAILABLE in trailers or trailers-only counts as a 503 and ejects the host', { timeout: 30_000 }, async () => {
  let trailersOnly = false;
  const up = await h2Upstream((s) => {
    if (trailersOnly) return void s.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '14' }, { endStream: true });
    s.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
    s.on('wantTrailers', () => s.sendTrailers({ 'grpc-status': '14' }));
    s.on('data', () => {});
    s.on('end', () => s.end());
  });
  const outlier = { consecutive_5xx: 3, interval: '60s', base_ejection_time: '60s', max_ejection_percent: 100 };
  const proxy = await startProxy({ clusters: [staticCluster('grpc', [up.port], { ...h2Options(), outlier_detection: outlier })], listeners: [httpListener('http', [{ match: { prefix: '/' }, route: { cluster: 'grpc' } }])] });
  const client = http2.connect(`http://127.0.0.1:${proxy.port('http')}`);
  const ejected = () => proxy.server.store.counter('cluster.grpc.outlier_detection.ejections_enforced_consecutive_5xx').value();
  try {
    const req = { ':method': 'POST', ':path': '/svc/Call', 'content-type': 'application/grpc', te: 'trailers' };
    for (let i = 0; i < 3; i++) assert.equal((await h2Call(client, req, Buffer.from([0, 0, 0, 0, 0]))).trailers?.['grpc-status'], '14');
    assert.equal(ejected(), 1, 'three UNAVAILABLE in trailers: ejected');
    await proxy.close();
    // Trailers-only answers, on a fresh proxy.
    trailersOnly = true;
    const p2 = await startProxy({ clusters: [staticCluster('grpc', [up.port], { ...h2Options(), outlier_detection: outlier })], listeners: [httpListener('http', [{ match: { prefix: '/' }, route: { cluster: 'grpc' } }])] });
    const c2 = http2.connect(`http://127.0.0.1:${p2.port('http')}`);
    try {
      for (let i = 0; i < 3; i++) assert.equal((await h2Call(c2, req, Buffer.from([0, 0, 0, 0, 0]))).headers['grpc-status'], '14');
      assert.equal(p2.server.store.counter('cluster.grpc.outlier_detection.ejections_enforced_consecutive_5xx').value(), 1, 'three trailers-only UNAVAILABLE: ejected');
    } finally {
      c2.close();
      await p2.close();
    }
  } finally {
    client.close();
    await proxy.close().catch(() => {});
    await up.close();
  }
});
