/**
 * Acceptance of the data plane's protocols through two real sidecars (client sidecar → server
 * sidecar → app), configured by our control plane: WebSocket upgrades, gRPC unary and
 * bidirectional streaming with trailers, HTTP/1.1 ⇄ h2c conversion chosen by the Service port
 * name (http / http2), and raw TCP through tcp_proxy. The apps run in the test process so they
 * can report what they saw on the wire.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer as createH1Server } from 'node:http';
import http2 from 'node:http2';
import { connect } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { WebSocket, WebSocketServer } from 'ws';
import { loadEchoPackage } from '../../samples/grpc-echo/main.ts';
import { start as startTcpEcho } from '../../samples/tcp-echo/main.ts';
import { listen } from '../../samples/common/server.ts';
import { startMesh, OUTBOUND_PORT, type Closable, type Mesh, type Pod } from '../helpers/mesh.ts';
import { kubeService } from '../helpers/yaml.ts';

const SERVICES = [
  kubeService('ws'),
  kubeService('grpc-echo', { portName: 'grpc', port: 7070, targetPort: 7070 }),
  kubeService('h1only'),
  kubeService('h2only', { portName: 'http2' }),
  kubeService('tcp-echo', { portName: 'tcp', port: 9000, targetPort: 9000 }),
].join('---\n');

let mesh: Mesh;
let client: Pod;

/** A WebSocket server that echoes each message back prefixed with "echo: ". */
async function wsEcho(ip: string): Promise<Closable> {
  const server = createH1Server((_req, res) => res.end('plain http'));
  const wss = new WebSocketServer({ server });
  wss.on('connection', (sock, req) => {
    sock.send(`hello ${req.url}`);
    sock.on('message', (data, binary) => sock.send(binary ? data : `echo: ${data.toString()}`, { binary }));
  });
  const running = await listen(server, 8080, ip);
  return {
    close: async () => {
      for (const c of wss.clients) c.terminate();
      wss.close();
      await running.close();
    },
  };
}

/** What an HTTP app saw: its protocol, path and authority. */
function describe(httpVersion: string, path: string | undefined, authority: string | undefined) {
  return JSON.stringify({ httpVersion, path, authority });
}

async function h1Only(ip: string): Promise<Closable> {
  const s = createH1Server((req, res) => {
    res.setHeader('content-type', 'application/json');
    res.end(describe(req.httpVersion, req.url, req.headers.host));
  });
  return listen(s, 8080, ip);
}

/** A cleartext HTTP/2 server: prior knowledge only, an HTTP/1.1 request gets nowhere. */
async function h2Only(ip: string): Promise<Closable> {
  const s = http2.createServer();
  s.on('stream', (stream, headers) => {
    stream.on('error', () => undefined);
    stream.respond({ ':status': 200, 'content-type': 'application/json' });
    stream.end(describe('2.0', headers[':path'] as string, headers[':authority'] as string));
  });
  const sessions = new Set<http2.ServerHttp2Session>();
  s.on('session', (sess) => {
    sessions.add(sess);
    sess.on('close', () => sessions.delete(sess));
  });
  await new Promise<void>((resolve, reject) => {
    s.once('error', reject);
    s.listen(8080, ip, () => resolve());
  });
  return {
    close: () =>
      new Promise<void>((resolve) => {
        for (const sess of sessions) sess.destroy();
        s.close(() => resolve());
      }),
  };
}

/**
 * echo.EchoService with trailers: every response ends with `x-trailer` trailing metadata, and
 * the message "fail" ends the call with FAILED_PRECONDITION, its details and a trailer.
 */
async function grpcEcho(ip: string): Promise<Closable> {
  const pkg = loadEchoPackage();
  const server = new grpc.Server();
  const trailer = (v: string) => {
    const m = new grpc.Metadata();
    m.set('x-trailer', v);
    return m;
  };
  // metadata.authority: the :authority the app saw (grpc-js keeps pseudo-headers out of Metadata).
  const reply = (message: string, host: string, sequence: number) => ({ message, version: 'v1', hostname: 'grpc-echo', metadata: { authority: host }, sequence });
  server.addService(pkg.echo.EchoService.service, {
    Echo(call: grpc.ServerUnaryCall<{ message: string }, unknown>, cb: grpc.sendUnaryData<unknown>) {
      const head = new grpc.Metadata();
      head.set('x-served-by', 'grpc-echo');
      call.sendMetadata(head);
      if (call.request.message === 'fail') {
        cb({ code: grpc.status.FAILED_PRECONDITION, details: 'asked to fail', metadata: trailer('failed') });
        return;
      }
      cb(null, reply(call.request.message, call.getHost(), 0), trailer(`unary ${call.request.message}`));
    },
    EchoStream(call: grpc.ServerDuplexStream<{ message: string }, unknown>) {
      let seq = 0;
      call.on('data', (req: { message: string }) => call.write(reply(req.message, call.getHost(), seq++)));
      call.on('end', () => call.end(trailer(`stream ${seq}`)));
      call.on('error', () => undefined);
    },
  });
  await new Promise<number>((resolve, reject) => server.bindAsync(`${ip}:7070`, grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
  return { close: () => void server.forceShutdown() };
}

before(async () => {
  mesh = await startMesh(undefined, { config: { 'services.yaml': SERVICES } });
  await Promise.all([
    mesh.startPod({ name: 'ws', labels: { app: 'ws' }, ports: { http: 8080 }, app: wsEcho }),
    mesh.startPod({ name: 'grpc-echo', labels: { app: 'grpc-echo' }, ports: { grpc: 7070 }, app: grpcEcho }),
    mesh.startPod({ name: 'h1only', labels: { app: 'h1only' }, ports: { http: 8080 }, app: h1Only }),
    mesh.startPod({ name: 'h2only', labels: { app: 'h2only' }, ports: { http2: 8080 }, app: h2Only }),
    mesh.startPod({ name: 'tcp-echo', labels: { app: 'tcp-echo' }, ports: { tcp: 9000 }, app: (ip) => startTcpEcho({ host: ip, port: 9000, prefix: 'hello', log: () => undefined }) }),
  ]);
  client = await mesh.startPod({ name: 'client', labels: { app: 'client' } });
  await client.waitFor('h1only:80', '/ready', (r) => r.status === 200);
  await client.waitFor('ws:80', '/ready', (r) => r.status === 200);
});

after(() => mesh?.stop());

test('WebSocket: upgrade and echo through two sidecars', { timeout: 60_000 }, async () => {
  const ws = new WebSocket(`ws://${client.appIP}:${OUTBOUND_PORT}/chat?room=1`, { headers: { host: 'ws:80' } });
  const inbox: Array<{ data: string; binary: boolean }> = [];
  let wake = () => undefined as void;
  ws.on('message', (data, binary) => {
    inbox.push({ data: binary ? Buffer.from(data as Buffer).toString('hex') : data.toString(), binary });
    wake();
  });
  const next = async () => {
    const deadline = Date.now() + 10_000;
    while (inbox.length === 0) {
      if (Date.now() > deadline) throw new Error('no WebSocket message within 10 s');
      await new Promise<void>((r) => {
        wake = r;
        setTimeout(r, 200);
      });
    }
    return inbox.shift()!;
  };
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
    ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused: ${res.statusCode}`)));
  });
  assert.deepEqual(await next(), { data: 'hello /chat?room=1', binary: false });
  for (let i = 0; i < 20; i++) {
    ws.send(`message ${i}`);
    assert.deepEqual(await next(), { data: `echo: message ${i}`, binary: false });
  }
  const big = Buffer.alloc(256 * 1024, 7);
  ws.send(big, { binary: true });
  const back = await next();
  assert.equal(back.binary, true);
  assert.equal(back.data, big.toString('hex'), 'a 256 KiB binary frame comes back intact');
  const closed = new Promise<number>((r) => ws.once('close', (code) => r(code)));
  ws.close(1000, 'bye');
  assert.equal(await closed, 1000);
});

test('gRPC unary and bidirectional streaming through two sidecars, trailers intact', { timeout: 60_000 }, async (t) => {
  const Echo = loadEchoPackage().echo.EchoService;
  // grpc-js speaks h2c with prior knowledge to the client sidecar's HTTP proxy listener.
  const c = new Echo(`${client.appIP}:${OUTBOUND_PORT}`, grpc.credentials.createInsecure(), { 'grpc.default_authority': 'grpc-echo:7070' });
  t.after(() => c.close());
  const unary = (message: string) =>
    new Promise<{ err: grpc.ServiceError | null; res: any; headers?: grpc.Metadata; trailers?: grpc.Metadata }>((resolve) => {
      let headers: grpc.Metadata | undefined;
      let trailers: grpc.Metadata | undefined;
      const call = c.Echo({ message }, new grpc.Metadata(), { deadline: Date.now() + 10_000 }, (err: grpc.ServiceError | null, res: any) => {
        // The status (and its trailers) can arrive after the callback: wait for it.
        setImmediate(() => resolve({ err, res, headers, trailers: trailers ?? err?.metadata }));
      });
      call.on('metadata', (m: grpc.Metadata) => (headers = m));
      call.on('status', (s: grpc.StatusObject) => (trailers = s.metadata));
    });
  // The first call may wait for the channel to connect.
  const deadline = Date.now() + 30_000;
  let first = await unary('hi');
  while (first.err && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 200));
    first = await unary('hi');
  }
  assert.equal(first.err, null, String(first.err));
  assert.equal(first.res.message, 'hi');
  assert.equal(first.res.metadata.authority, 'grpc-echo:7070');
  assert.equal(first.headers?.get('x-served-by')[0], 'grpc-echo', 'response headers arrive');
  assert.equal(first.trailers?.get('x-trailer')[0], 'unary hi', 'trailing metadata arrives');

  for (let i = 0; i < 20; i++) assert.equal((await unary(`m${i}`)).res.message, `m${i}`);

  const failed = await unary('fail');
  assert.equal(failed.err?.code, grpc.status.FAILED_PRECONDITION);
  assert.equal(failed.err?.details, 'asked to fail');
  assert.equal(failed.err?.metadata.get('x-trailer')[0], 'failed', 'error trailers arrive');

  const stream = c.EchoStream();
  const got: Array<{ message: string; sequence: number }> = [];
  const ended = new Promise<grpc.StatusObject>((resolve, reject) => {
    stream.on('data', (m: { message: string; sequence: number }) => got.push(m));
    stream.on('status', resolve);
    stream.on('error', reject);
  });
  // Interleaved: each message is answered before the next is sent (a true bidi stream).
  for (let i = 0; i < 10; i++) {
    stream.write({ message: `s${i}` });
    const until = Date.now() + 10_000;
    while (got.length <= i && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
    assert.equal(got.length, i + 1, `answer ${i} arrived while the stream is open`);
  }
  stream.end();
  const status = await ended;
  assert.equal(status.code, grpc.status.OK);
  assert.equal(status.metadata.get('x-trailer')[0], 'stream 10');
  assert.deepEqual(got.map((m) => [m.message, m.sequence]), Array.from({ length: 10 }, (_, i) => [`s${i}`, i]));
});

/** One h2c request (prior knowledge) to the client sidecar. */
async function h2cGet(authority: string, path: string): Promise<{ status: number; body: string }> {
  const session = http2.connect(`http://${client.appIP}:${OUTBOUND_PORT}`);
  try {
    return await new Promise((resolve, reject) => {
      session.once('error', reject);
      const req = session.request({ ':method': 'GET', ':path': path, ':authority': authority });
      req.setTimeout(10_000, () => req.close(http2.constants.NGHTTP2_CANCEL));
      let status = 0;
      let body = '';
      req.on('response', (h) => (status = Number(h[':status'])));
      req.setEncoding('utf8');
      req.on('data', (d: string) => (body += d));
      req.on('end', () => resolve({ status, body }));
      req.on('error', reject);
      req.end();
    });
  } finally {
    session.close();
  }
}

test('HTTP/1.1 → h2c: a Service port named http2 reaches its app over HTTP/2', { timeout: 60_000 }, async () => {
  // Waits for h2only's endpoint to reach the client sidecar; any answer from the app will do.
  const r = await client.waitFor('h2only:80', '/from-h1', (x) => x.status === 200, { waitMs: 30_000 });
  assert.equal(r.status, 200, r.body);
  assert.equal(r.json().httpVersion, '2.0');
  assert.equal(r.json().path, '/from-h1');
  assert.match(r.json().authority, /^h2only(:80)?$/);
});

test('h2c → HTTP/1.1: a prior-knowledge client reaches an http port app over HTTP/1.1', { timeout: 60_000 }, async () => {
  const r = await h2cGet('h1only:80', '/from-h2');
  assert.equal(r.status, 200, r.body);
  const seen = JSON.parse(r.body);
  assert.equal(seen.httpVersion, '1.1');
  assert.equal(seen.path, '/from-h2');
  assert.match(seen.authority, /^h1only(:80)?$/, ':authority became Host');
});

test('h2c → h2c and HTTP/1.1 → HTTP/1.1 keep their protocol', { timeout: 60_000 }, async () => {
  const h2 = await h2cGet('h2only:80', '/h2');
  assert.equal(h2.status, 200, h2.body);
  assert.equal(JSON.parse(h2.body).httpVersion, '2.0');
  const h1 = await client.request('h1only:80', '/h1');
  assert.equal(h1.status, 200);
  assert.equal(h1.json().httpVersion, '1.1');
});

test('TCP: tcp_proxy through two sidecars (client connects to <appIP>:<service port>)', { timeout: 60_000 }, async () => {
  const talk = (lines: string[]) =>
    new Promise<string>((resolve, reject) => {
      const s = connect({ host: client.appIP, port: 9000 });
      let got = '';
      s.setEncoding('utf8');
      s.setTimeout(10_000, () => s.destroy(new Error(`TCP echo timed out; got ${JSON.stringify(got)}`)));
      s.on('data', (d: string) => {
        got += d;
        if (got.split('\n').length > lines.length) s.end();
      });
      s.on('connect', () => {
        for (const l of lines) s.write(`${l}\n`);
      });
      s.on('close', () => resolve(got));
      s.on('error', reject);
    });
  // The outbound TCP listener appears with the push that follows the server's registration.
  const deadline = Date.now() + 30_000;
  let first = '';
  while (Date.now() < deadline) {
    first = await talk(['ping']).catch(() => '');
    if (first) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  assert.equal(first, 'hello ping\n');
  const lines = Array.from({ length: 50 }, (_, i) => `line ${i} ${'x'.repeat(i * 10)}`);
  const got = await talk(lines);
  assert.equal(got, lines.map((l) => `hello ${l}\n`).join(''));
  for (let i = 0; i < 10; i++) assert.equal(await talk([`conn ${i}`]), `hello conn ${i}\n`);
});
