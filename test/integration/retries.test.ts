/**
 * Retries from Istio YAML (issue 11, acceptance 4): a VirtualService with `retries` in front of
 * three echo pods, each with its sidecar, called through a client pod's sidecar:
 * - the first two attempts fail with 503: the third attempt answers, and the three attempts
 *   went to three distinct pods (Istio's previous_hosts predicate), which saw
 *   x-envoy-attempt-count 1, 2, 3;
 * - perTryTimeout: a pod that hangs once is given up after the per-try timeout and the retry
 *   answers from another pod.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type ServerResponse } from 'node:http';
import { startMesh } from '../helpers/mesh.ts';

const ECHO = 'echo.default.svc.cluster.local';

const CONFIG = `
apiVersion: v1
kind: Service
metadata: { name: echo, namespace: default }
spec:
  selector: { app: echo }
  ports: [{ name: http, port: 80, targetPort: 8080 }]
`;

function virtualService(retries: string): string {
  return `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: echo, namespace: default }
spec:
  hosts: [${ECHO}]
  http:
  - retries: ${retries}
    route: [{ destination: { host: ${ECHO} } }]
`;
}

/** What the three apps do, shared: answer, fail the first `failFirst` requests, or hang once. */
const behaviour = { failFirst: 0, hangOnce: false, n: 0 };
const seen: { pod: string; attempt: string | undefined; at: number }[] = [];
const hanging: ServerResponse[] = [];

test('VirtualService retries: third attempt on a third pod; perTryTimeout gives up on a hung pod', { timeout: 240_000 }, async (t) => {
  const mesh = await startMesh(t, { config: { 'echo.yaml': CONFIG } });
  const pods = ['echo-1', 'echo-2', 'echo-3'];
  t.after(() => hanging.forEach((r) => r.destroy()));
  await Promise.all(
    pods.map((name) =>
      mesh.startPod({
        name,
        labels: { app: 'echo' },
        ports: { http: 8080 },
        app: (ip) =>
          new Promise((resolve) => {
            const server = createServer((req, res) => {
              req.resume();
              seen.push({ pod: name, attempt: req.headers['x-envoy-attempt-count'] as string | undefined, at: performance.now() });
              behaviour.n++;
              if (behaviour.hangOnce) {
                behaviour.hangOnce = false;
                return void hanging.push(res);
              }
              if (behaviour.n <= behaviour.failFirst) return void res.writeHead(503).end('failing');
              res.writeHead(200, { 'content-type': 'text/plain' }).end(name);
            });
            server.listen(8080, ip, () => resolve({ close: () => new Promise<void>((r) => (server.closeAllConnections(), server.close(() => r()))) }));
          }),
      }),
    ),
  );
  const client = await mesh.startPod({ name: 'client', labels: { app: 'client' } });
  await mesh.apply('vs.yaml', virtualService('{ attempts: 2, retryOn: 5xx, perTryTimeout: 1s }'), [client]);
  for (const pod of pods) await client.waitFor('echo:80', '/warmup', (r) => r.status === 200 && r.body === pod);

  // 1. Two 503s, then an answer: three attempts, three pods.
  seen.length = 0;
  Object.assign(behaviour, { failFirst: 2, n: 0 });
  const r = await client.request('echo:80', '/fail-twice');
  t.diagnostic(`fail twice: ${seen.map((s) => `${s.pod}(x-envoy-attempt-count ${s.attempt})`).join(' -> ')}; answer ${r.status} ${r.body}`);
  assert.equal(r.status, 200);
  assert.equal(seen.length, 3, 'three attempts');
  assert.equal(new Set(seen.map((s) => s.pod)).size, 3, 'on three distinct pods');
  assert.equal(r.body, seen[2].pod);
  assert.deepEqual(
    seen.map((s) => s.attempt),
    ['1', '2', '3'],
    'x-envoy-attempt-count as each pod saw it',
  );

  // 2. A pod that hangs once: given up after perTryTimeout (1 s), the retry answers elsewhere.
  seen.length = 0;
  Object.assign(behaviour, { failFirst: 0, n: 0, hangOnce: true });
  const hung = await client.request('echo:80', '/hang-once');
  const gap = seen.length >= 2 ? Math.round(seen[1].at - seen[0].at) : -1;
  t.diagnostic(`hang once: ${seen.map((s) => s.pod).join(' -> ')}, retried ${gap} ms after the first attempt; answer ${hung.status} ${hung.body}`);
  assert.equal(hung.status, 200);
  assert.equal(seen.length, 2);
  assert.notEqual(hung.body, seen[0].pod, 'answered by another pod than the hung one');
  assert.ok(gap >= 900, `the retry waited for the 1 s per-try timeout (${gap} ms)`);
});
