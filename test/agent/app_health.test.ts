/**
 * The app probes the injector rewrites to the agent (ISTIO_KUBE_APP_PROBERS): the kubelet's GET of
 * /app-health/<container>/<probe> on the status port runs the pod's original probe against a real
 * app on loopback and answers as Istio's agent does — the app's own HTTP code, 200/500 for a TCP
 * connect, 200 only for a gRPC SERVING — and a bad env is refused naming the path and field.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { createServer as createNetServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { Server as GrpcServer, ServerCredentials, status as grpcStatus } from '@grpc/grpc-js';
import protobuf from 'protobufjs';
import { StatusServer } from '../../src/agent/status_server.ts';
import { AgentMetrics } from '../../src/agent/metrics.ts';
import { parseAppProbers } from '../../src/agent/health/app_probers.ts';
import { refusedPort } from '../helpers/refused_port.ts';

const HOST = '127.0.0.1';
type T = { after(fn: () => unknown): void };

async function listenHttp(t: T, handler: Parameters<typeof createServer>[1]): Promise<number> {
  const s: Server = createServer(handler);
  await new Promise<void>((r) => s.listen(0, HOST, () => r()));
  t.after(() => new Promise<void>((r) => (s.closeAllConnections(), s.close(() => r()))));
  return (s.address() as AddressInfo).port;
}

/** A gRPC app implementing grpc.health.v1.Health/Check: `serving` says which services are SERVING. */
async function grpcHealthApp(t: T, serving: Record<string, number>): Promise<number> {
  const root = protobuf.Root.fromJSON({
    nested: { HealthCheckRequest: { fields: { service: { type: 'string', id: 1 } } }, HealthCheckResponse: { fields: { status: { type: 'int32', id: 1 } } } },
  });
  const Req = root.lookupType('HealthCheckRequest');
  const Res = root.lookupType('HealthCheckResponse');
  const server = new GrpcServer();
  server.addService(
    {
      Check: {
        path: '/grpc.health.v1.Health/Check', requestStream: false, responseStream: false,
        requestSerialize: (m: object) => Buffer.from(Req.encode(Req.create(m)).finish()),
        requestDeserialize: (b: Buffer) => Req.toObject(Req.decode(b)) as { service?: string },
        responseSerialize: (m: object) => Buffer.from(Res.encode(Res.create(m)).finish()),
        responseDeserialize: (b: Buffer) => Res.toObject(Res.decode(b)),
      },
    },
    {
      Check: (call: { request: { service?: string } }, cb: (e: { code: number; details: string } | null, r?: object) => void) => {
        const st = serving[call.request.service ?? ''];
        if (st === undefined) return cb({ code: grpcStatus.NOT_FOUND, details: 'unknown service' });
        cb(null, { status: st });
      },
    },
  );
  const port = await new Promise<number>((res, rej) => server.bindAsync(`${HOST}:0`, ServerCredentials.createInsecure(), (e, p) => (e ? rej(e) : res(p))));
  t.after(() => server.forceShutdown());
  return port;
}

async function statusWith(t: T, probers: object): Promise<(path: string) => Promise<{ status: number; body: string }>> {
  const s = new StatusServer({
    address: HOST, statusPort: 0, readinessPort: 0, notReady: () => undefined,
    proxyStatsUrl: () => `http://${HOST}:1/stats/prometheus`, metrics: new AgentMetrics(),
    appProbers: parseAppProbers(JSON.stringify(probers)), appHost: HOST,
  });
  await s.listen();
  t.after(() => s.close());
  return async (path) => {
    const r = await fetch(`http://${HOST}:${s.statusPort}${path}`, { signal: AbortSignal.timeout(10_000) });
    return { status: r.status, body: await r.text() };
  };
}

test('httpGet: the app answers through /app-health with its own status code, path and headers as the pod declared', { timeout: 30_000 }, async (t) => {
  let healthy = true;
  const seen: string[] = [];
  const app = await listenHttp(t, (req, res) => {
    seen.push(`${req.url} ${req.headers['x-probe'] ?? ''}`);
    res.writeHead(req.url === '/healthz' ? (healthy ? 200 : 503) : 404).end();
  });
  const get = await statusWith(t, {
    '/app-health/web/livez': { httpGet: { path: '/healthz', port: app, scheme: 'HTTP', httpHeaders: [{ name: 'x-probe', value: 'kubelet' }] }, timeoutSeconds: 1 },
    '/app-health/web/readyz': { httpGet: { path: '/missing', port: app }, timeoutSeconds: 1 },
  });
  assert.equal((await get('/app-health/web/livez')).status, 200);
  assert.deepEqual(seen, ['/healthz kubelet']);
  healthy = false;
  assert.equal((await get('/app-health/web/livez')).status, 503, "the app's own failing code goes back to the kubelet");
  assert.equal((await get('/app-health/web/readyz')).status, 404);
  const none = await get('/app-health/other/livez');
  assert.equal(none.status, 404);
  assert.match(none.body, /no app probe at \/app-health\/other\/livez/);
});

test('httpGet to a port nothing listens on, and tcpSocket to an open and a closed port: 500 with the reason, 200 on connect', { timeout: 30_000 }, async (t) => {
  const open = createNetServer((s) => s.destroy());
  await new Promise<void>((r) => open.listen(0, HOST, () => r()));
  t.after(() => new Promise<void>((r) => open.close(() => r())));
  const openPort = (open.address() as AddressInfo).port;
  const closedPort = await refusedPort(HOST);
  const get = await statusWith(t, {
    '/app-health/db/livez': { tcpSocket: { port: openPort } },
    '/app-health/db/readyz': { tcpSocket: { port: closedPort } },
    '/app-health/web/startupz': { httpGet: { path: '/', port: closedPort } },
  });
  assert.equal((await get('/app-health/db/livez')).status, 200);
  const down = await get('/app-health/db/readyz');
  assert.equal(down.status, 500);
  assert.match(down.body, /TCP probe 127\.0\.0\.1:\d+: .*ECONNREFUSED/);
  const web = await get('/app-health/web/startupz');
  assert.equal(web.status, 500);
  assert.match(web.body, /ECONNREFUSED/);
});

test('grpc: 200 only when the app reports SERVING for the service; NOT_SERVING and unknown services are 500', { timeout: 30_000 }, async (t) => {
  const port = await grpcHealthApp(t, { '': 1, cart: 2 });
  const get = await statusWith(t, {
    '/app-health/api/livez': { grpc: { port } },
    '/app-health/api/readyz': { grpc: { port, service: 'cart' } },
    '/app-health/api/startupz': { grpc: { port, service: 'nope' } },
  });
  assert.equal((await get('/app-health/api/livez')).status, 200);
  const notServing = await get('/app-health/api/readyz');
  assert.equal(notServing.status, 500);
  assert.match(notServing.body, /NOT_SERVING/);
  const unknown = await get('/app-health/api/startupz');
  assert.equal(unknown.status, 500);
  assert.match(unknown.body, /unknown service/);
});

test('a bad ISTIO_KUBE_APP_PROBERS is refused naming the path and the field', () => {
  assert.throws(() => parseAppProbers('{'), /ISTIO_KUBE_APP_PROBERS is not JSON/);
  assert.throws(() => parseAppProbers('{"/healthz": {"tcpSocket": {"port": 1}}}'), /key "\/healthz" does not start with \/app-health\//);
  assert.throws(() => parseAppProbers('{"/app-health/a/livez": {"httpGet": {"port": "http"}}}'), /\[\/app-health\/a\/livez\]: probe\.httpGet\.port: expected a port number/);
  assert.throws(() => parseAppProbers('{"/app-health/a/livez": {"grpc": {"port": 0}}}'), /\[\/app-health\/a\/livez\]\.grpc\.port/);
  assert.equal(parseAppProbers(undefined).size, 0);
});
