/**
 * Acceptance of the data plane's router, through real processes: the test process → client
 * sidecar (HTTP proxy listener, Host header) → server sidecar (inbound listener) → app, every
 * proxy configured by our control plane from Istio YAML. One mesh for the file; each test writes
 * its VirtualService, waits until the client sidecar has ACKed it, and checks what comes back.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { start as startEcho } from '../../samples/echo/main.ts';
import { start as startHttpbin } from '../../samples/httpbin/main.ts';
import { listen } from '../../samples/common/server.ts';
import { startMesh, type Mesh, type Pod } from '../helpers/mesh.ts';
import { ECHO_WITH_SUBSETS, kubeService } from '../helpers/yaml.ts';

const ECHO = 'echo.default.svc.cluster.local';
const quiet = { log: () => undefined };

const SERVICES = [
  ECHO_WITH_SUBSETS,
  kubeService('echo-shadow'),
  kubeService('httpbin', { port: 8000 }),
  kubeService('flaky'),
].join('---\n');

/** A VirtualService for echo with the given http routes (YAML list items, indented 2). */
function echoVs(http: string, name = 'echo', hosts = `[${ECHO}]`): string {
  return `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: ${name}, namespace: default }
spec:
  hosts: ${hosts}
  http:
${http}`;
}

let mesh: Mesh;
let client: Pod;
/** What the shadow app received, by path. */
const shadowSeen: Array<{ path: string; host: string }> = [];
/** What the flaky app received: attempt counts per request path. */
const flakySeen = new Map<string, string[]>();

before(async () => {
  mesh = await startMesh(undefined, { config: { 'services.yaml': SERVICES } });
  const http = { http: 8080 };
  await Promise.all([
    mesh.startPod({ name: 'echo-v1', labels: { app: 'echo', version: 'v1' }, ports: http, app: (ip) => startEcho({ host: ip, port: 8080, version: 'v1', podName: 'echo-v1', ...quiet }) }),
    mesh.startPod({ name: 'echo-v2', labels: { app: 'echo', version: 'v2' }, ports: http, app: (ip) => startEcho({ host: ip, port: 8080, version: 'v2', podName: 'echo-v2', ...quiet }) }),
    mesh.startPod({
      name: 'echo-shadow',
      labels: { app: 'echo-shadow' },
      ports: http,
      app: (ip) => {
        const s = createServer((req, res) => {
          shadowSeen.push({ path: req.url ?? '', host: req.headers.host ?? '' });
          res.end('shadow');
        });
        return listen(s, 8080, ip);
      },
    }),
    mesh.startPod({ name: 'httpbin', labels: { app: 'httpbin' }, ports: http, app: (ip) => startHttpbin({ host: ip, port: 8080, ...quiet }) }),
    mesh.startPod({
      name: 'flaky',
      labels: { app: 'flaky' },
      ports: http,
      // Fails with 503 until the third attempt of a request, as counted by x-envoy-attempt-count.
      app: (ip) => {
        const s = createServer((req, res) => {
          if (req.url === '/warmup') return void res.end('ok');
          const attempt = String(req.headers['x-envoy-attempt-count'] ?? '');
          const seen = flakySeen.get(req.url ?? '') ?? [];
          seen.push(attempt);
          flakySeen.set(req.url ?? '', seen);
          res.statusCode = seen.length >= 3 ? 200 : 503;
          res.end(`attempt ${seen.length}`);
        });
        return listen(s, 8080, ip);
      },
    }),
  ]);
  client = await mesh.startPod({ name: 'client', labels: { app: 'client' } });
  // Endpoints of every service have reached the client sidecar.
  for (const [h, path] of [['echo:80', '/health'], ['echo-shadow:80', '/'], ['httpbin:8000', '/get'], ['flaky:80', '/warmup']] as const) {
    await client.waitFor(h, path, (r) => r.status === 200);
  }
});

after(() => mesh?.stop());

/** Writes the VirtualService and waits until the client sidecar has ACKed the resulting push. */
async function vs(yaml: string, file = 'vs.yaml'): Promise<void> {
  await mesh.apply(file, yaml, [client]);
}

async function versions(n: number, path = '/', headers: Record<string, string> = {}): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (let i = 0; i < n; i++) {
    const r = await client.request('echo:80', path, { headers });
    const key = r.status === 200 ? String(r.json().version) : `status ${r.status}`;
    counts[key] = (counts[key] ?? 0) + 1;
  }
  return counts;
}

test('weighted split 80/20 over 1,000 requests', { timeout: 180_000 }, async (t) => {
  await vs(
    echoVs(`
  - route:
    - { destination: { host: ${ECHO}, subset: v1 }, weight: 80 }
    - { destination: { host: ${ECHO}, subset: v2 }, weight: 20 }`),
  );
  const c = await versions(1000);
  t.diagnostic(`split: ${JSON.stringify(c)}`);
  assert.equal((c.v1 ?? 0) + (c.v2 ?? 0), 1000, `every request answered 200: ${JSON.stringify(c)}`);
  assert.ok((c.v1 ?? 0) >= 740 && (c.v1 ?? 0) <= 860, `80/20 split gave ${JSON.stringify(c)}`);
});

test('a route on JWT claims (request.auth.claims) never matches while the proxy cannot evaluate it: fail closed (issue 7 bug 5)', { timeout: 120_000 }, async () => {
  // Without a JWT filter there is no claim to match; the old proxy ignored the dynamic_metadata
  // matcher and sent every request to v2, whatever the client sent.
  await vs(
    echoVs(`
  - match: [{ headers: { '@request.auth.claims.groups': { exact: admin } } }]
    route: [{ destination: { host: ${ECHO}, subset: v2 } }]
  - route: [{ destination: { host: ${ECHO}, subset: v1 } }]`),
  );
  assert.deepEqual(await versions(20), { v1: 20 });
  assert.deepEqual(await versions(20, '/', { authorization: 'Bearer not-a-verified-token', groups: 'admin' }), { v1: 20 });
});

test('header match: end-user: jason goes to v2, everyone else to v1', { timeout: 120_000 }, async (t) => {
  await vs(
    echoVs(`
  - match: [{ headers: { end-user: { exact: jason } } }]
    route: [{ destination: { host: ${ECHO}, subset: v2 } }]
  - route: [{ destination: { host: ${ECHO}, subset: v1 } }]`),
  );
  assert.deepEqual(await versions(50, '/', { 'end-user': 'jason' }), { v2: 50 });
  assert.deepEqual(await versions(50, '/', { 'end-user': 'mary' }), { v1: 50 });
  assert.deepEqual(await versions(50), { v1: 50 });
});

test('query parameter match', { timeout: 120_000 }, async (t) => {
  await vs(
    echoVs(`
  - match: [{ queryParams: { canary: { exact: "yes" } } }]
    route: [{ destination: { host: ${ECHO}, subset: v2 } }]
  - route: [{ destination: { host: ${ECHO}, subset: v1 } }]`),
  );
  assert.deepEqual(await versions(20, '/q?canary=yes'), { v2: 20 });
  assert.deepEqual(await versions(20, '/q?canary=no'), { v1: 20 });
  assert.deepEqual(await versions(20, '/q'), { v1: 20 });
});

test('uri prefix, exact and regex matches', { timeout: 120_000 }, async (t) => {
  await vs(
    echoVs(`
  - match: [{ uri: { exact: /exact } }]
    route: [{ destination: { host: ${ECHO}, subset: v2 } }]
  - match: [{ uri: { prefix: /pre } }]
    route: [{ destination: { host: ${ECHO}, subset: v2 } }]
  - match: [{ uri: { regex: "/re/[0-9]+" } }]
    route: [{ destination: { host: ${ECHO}, subset: v2 } }]
  - route: [{ destination: { host: ${ECHO}, subset: v1 } }]`),
  );
  const cases: Array<[string, string]> = [
    ['/exact', 'v2'],
    ['/exact/more', 'v1'],
    ['/exactly', 'v1'],
    ['/pre', 'v2'],
    ['/prefix/deep', 'v2'],
    ['/re/123', 'v2'],
    ['/re/12a', 'v1'],
    ['/re/123/x', 'v1'],
    ['/other', 'v1'],
  ];
  for (const [path, want] of cases) assert.deepEqual(await versions(3, path), { [want]: 3 }, path);
});

test('rewrite: uri prefix and authority, as the app sees them', { timeout: 120_000 }, async (t) => {
  await vs(
    echoVs(`
  - match: [{ uri: { prefix: /old } }]
    rewrite: { uri: /new, authority: rewritten.example.com }
    route: [{ destination: { host: ${ECHO}, subset: v1 } }]
  - route: [{ destination: { host: ${ECHO}, subset: v1 } }]`),
  );
  const r = await client.request('echo:80', '/old/thing?x=1');
  assert.equal(r.status, 200);
  const seen = r.json();
  assert.equal(seen.path, '/new/thing');
  assert.deepEqual(seen.query, { x: '1' });
  assert.equal(seen.headers.host, 'rewritten.example.com');
  const plain = (await client.request('echo:80', '/keep')).json();
  assert.equal(plain.path, '/keep');
  assert.match(plain.headers.host, /^echo(:80)?$/);
});

test('redirect: 301 with a location, never reaching the app', { timeout: 120_000 }, async (t) => {
  await vs(
    echoVs(`
  - match: [{ uri: { exact: /moved } }]
    redirect: { uri: /there, authority: new.example.com }
  - match: [{ uri: { exact: /found } }]
    redirect: { uri: /here, redirectCode: 302 }
  - route: [{ destination: { host: ${ECHO}, subset: v1 } }]`),
  );
  const r = await client.request('echo:80', '/moved');
  assert.equal(r.status, 301);
  assert.equal(r.headers.location, 'http://new.example.com/there');
  assert.equal(r.headers['x-served-by'], undefined, 'answered by the proxy, not the app');
  const f = await client.request('echo:80', '/found');
  assert.equal(f.status, 302);
  assert.match(String(f.headers.location), /^http:\/\/echo(:80)?\/here$/);
});

test('directResponse: status and body from the proxy', { timeout: 120_000 }, async (t) => {
  await vs(
    echoVs(`
  - match: [{ uri: { prefix: /maintenance } }]
    directResponse: { status: 503, body: { string: "down for maintenance" } }
  - route: [{ destination: { host: ${ECHO}, subset: v1 } }]`),
  );
  const r = await client.request('echo:80', '/maintenance/now');
  assert.equal(r.status, 503);
  assert.equal(r.body, 'down for maintenance');
  assert.equal(r.headers['x-served-by'], undefined);
  assert.equal((await client.request('echo:80', '/ok')).status, 200);
});

test('mirroring: mirror + mirrorPercentage 100 sends a copy of every request to the shadow service', { timeout: 120_000 }, async (t) => {
  await vs(
    echoVs(`
  - route: [{ destination: { host: ${ECHO}, subset: v1 } }]
    mirror: { host: echo-shadow.default.svc.cluster.local }
    mirrorPercentage: { value: 100 }`),
  );
  const N = 100;
  const tag = `/mirrored-${Date.now()}`;
  for (let i = 0; i < N; i++) {
    const r = await client.request('echo:80', `${tag}/${i}`);
    assert.equal(r.status, 200);
    assert.equal(r.json().version, 'v1', 'the primary answers');
  }
  // Mirrors are fire-and-forget: wait (bounded) until they have all arrived.
  const deadline = Date.now() + 30_000;
  const count = () => shadowSeen.filter((s) => s.path.startsWith(tag)).length;
  while (count() < N && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  const got = shadowSeen.filter((s) => s.path.startsWith(tag));
  t.diagnostic(`shadow saw ${got.length} of ${N}; host ${got[0]?.host}`);
  assert.equal(got.length, N);
  // Envoy's shadow host: the original authority with "-shadow" appended (before any port).
  assert.ok(got.every((s) => /^echo-shadow(:80)?$/.test(s.host)), `shadow Host headers: ${[...new Set(got.map((s) => s.host))].join(', ')}`);
});

test('fault delay: a 0.5 s fixedDelay at 100 % holds every request at least that long', { timeout: 120_000 }, async (t) => {
  await vs(
    echoVs(`
  - match: [{ uri: { prefix: /slow } }]
    fault: { delay: { fixedDelay: 0.5s, percentage: { value: 100 } } }
    route: [{ destination: { host: ${ECHO}, subset: v1 } }]
  - route: [{ destination: { host: ${ECHO}, subset: v1 } }]`),
  );
  for (let i = 0; i < 5; i++) {
    const start = performance.now();
    const r = await client.request('echo:80', '/slow');
    const took = performance.now() - start;
    assert.equal(r.status, 200);
    // A lower bound only: a loaded machine makes it slower, never faster.
    assert.ok(took >= 480, `delayed request took ${took.toFixed(0)} ms`);
  }
  // The stat counts what happened regardless of timing.
  const stats = await (await fetch(`${client.admin}/stats`)).text();
  const injected = Number(/fault\.delays_injected: (\d+)/.exec(stats)?.[1] ?? 0);
  assert.ok(injected >= 5, `fault.delays_injected ${injected}`);
});

test('fault abort: 50 % of 400 requests get the httpStatus given', { timeout: 180_000 }, async (t) => {
  await vs(
    echoVs(`
  - fault: { abort: { httpStatus: 418, percentage: { value: 50 } } }
    route: [{ destination: { host: ${ECHO}, subset: v1 } }]`),
  );
  const c = await versions(400);
  t.diagnostic(`abort: ${JSON.stringify(c)}`);
  assert.equal((c['status 418'] ?? 0) + (c.v1 ?? 0), 400, `only 418s and v1 answers: ${JSON.stringify(c)}`);
  assert.ok(Math.abs((c['status 418'] ?? 0) - 200) <= 40, `aborted ${c['status 418']} of 400`);
});

test('retries: attempts reach the app with x-envoy-attempt-count until one succeeds', { timeout: 120_000 }, async (t) => {
  const FLAKY = 'flaky.default.svc.cluster.local';
  await vs(
    echoVs(
      `
  - match: [{ uri: { prefix: /enough } }]
    retries: { attempts: 2, retryOn: 5xx }
    route: [{ destination: { host: ${FLAKY} } }]
  - retries: { attempts: 1, retryOn: 5xx }
    route: [{ destination: { host: ${FLAKY} } }]`,
      'flaky',
      `[${FLAKY}]`,
    ),
    'vs-flaky.yaml',
  );
  const ok = await client.request('flaky:80', '/enough/1');
  assert.equal(ok.status, 200, ok.body);
  assert.deepEqual(flakySeen.get('/enough/1'), ['1', '2', '3'], 'three attempts, each numbered');
  const short = await client.request('flaky:80', '/short/1');
  assert.equal(short.status, 503, 'one retry is not enough');
  assert.deepEqual(flakySeen.get('/short/1'), ['1', '2']);
});

test('route timeout: httpbin /delay/2 with timeout 0.5s answers 504', { timeout: 120_000 }, async (t) => {
  const HTTPBIN = 'httpbin.default.svc.cluster.local';
  await vs(
    echoVs(
      `
  - timeout: 0.5s
    route: [{ destination: { host: ${HTTPBIN} } }]`,
      'httpbin',
      `[${HTTPBIN}]`,
    ),
    'vs-httpbin.yaml',
  );
  const r = await client.request('httpbin:8000', '/delay/2');
  assert.equal(r.status, 504);
  assert.match(r.body, /upstream request timeout/);
  assert.equal((await client.request('httpbin:8000', '/get')).status, 200, 'fast requests are unaffected');
});

test('headers: request and response set / add / remove', { timeout: 120_000 }, async (t) => {
  await vs(
    echoVs(`
  - headers:
      request:
        set: { x-set: set-value }
        add: { x-added: added-value }
        remove: [x-secret]
      response:
        set: { x-resp-set: r1 }
        add: { x-resp-added: r2 }
        remove: [x-served-by]
    route: [{ destination: { host: ${ECHO}, subset: v1 } }]`),
  );
  const r = await client.request('echo:80', '/h', { headers: { 'x-set': 'client-value', 'x-secret': 'hunter2', 'x-added': 'from-client' } });
  assert.equal(r.status, 200);
  const seen = r.json().headers;
  assert.equal(seen['x-set'], 'set-value', 'set replaces');
  assert.equal(seen['x-secret'], undefined, 'removed before the app');
  assert.match(String(seen['x-added']), /from-client/);
  assert.match(String(seen['x-added']), /added-value/, 'add appends');
  assert.equal(r.headers['x-resp-set'], 'r1');
  assert.equal(r.headers['x-resp-added'], 'r2');
  assert.equal(r.headers['x-served-by'], undefined, 'response header removed');
});

test('corsPolicy: preflight answered by the proxy, simple requests get the headers', { timeout: 120_000 }, async (t) => {
  await vs(
    echoVs(`
  - corsPolicy:
      allowOrigins: [{ exact: "https://allowed.example.com" }]
      allowMethods: [GET, POST]
      allowHeaders: [x-custom]
      exposeHeaders: [x-served-by]
      maxAge: 24h
      allowCredentials: true
    route: [{ destination: { host: ${ECHO}, subset: v1 } }]`),
  );
  const pre = await client.request('echo:80', '/cors', {
    method: 'OPTIONS',
    headers: { origin: 'https://allowed.example.com', 'access-control-request-method': 'POST', 'access-control-request-headers': 'x-custom' },
  });
  assert.equal(pre.status, 200);
  assert.equal(pre.headers['access-control-allow-origin'], 'https://allowed.example.com');
  assert.match(String(pre.headers['access-control-allow-methods']), /POST/);
  assert.match(String(pre.headers['access-control-allow-headers']), /x-custom/);
  assert.equal(pre.headers['access-control-max-age'], '86400');
  assert.equal(pre.headers['access-control-allow-credentials'], 'true');
  assert.equal(pre.headers['x-served-by'], undefined, 'preflight never reaches the app');

  const simple = await client.request('echo:80', '/cors', { headers: { origin: 'https://allowed.example.com' } });
  assert.equal(simple.status, 200);
  assert.equal(simple.headers['access-control-allow-origin'], 'https://allowed.example.com');
  assert.match(String(simple.headers['access-control-expose-headers']), /x-served-by/);

  const denied = await client.request('echo:80', '/cors', { headers: { origin: 'https://evil.example.com' } });
  assert.equal(denied.headers['access-control-allow-origin'], undefined, 'other origins get no CORS headers');
});
