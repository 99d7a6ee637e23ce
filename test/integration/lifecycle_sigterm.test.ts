/**
 * "Nothing lost" on shutdown. SIGTERM to a sidecar while ~1 s requests are in flight through it:
 * every one of them completes with 200, a new connection after the signal is refused or told
 * `connection: close`, and the proxy exits 0. SIGTERM to a server pod's sidecar (the pod going
 * away) while a client keeps sending: nothing fails, new requests go to the other pod. SIGTERM
 * to the control plane: it exits 0 and the proxies keep serving their last config.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { Client, Pool } from 'undici';
import { startMesh, type Pod } from '../helpers/mesh.ts';
import { startBackend, startLoad, type Backend } from '../helpers/lifecycle.ts';
import { until } from '../helpers/poll.ts';

const SLOW = 'slow.default.svc.cluster.local';
/** Longer than any request here, so the drain never has to cut one. */
const DRAIN = ['--drain-time-s', '10'];

const CONFIG = `
apiVersion: v1
kind: Service
metadata: { name: slow, namespace: default }
spec:
  selector: { app: slow }
  ports: [{ name: http, port: 80, targetPort: 8080 }]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: slow, namespace: default }
spec:
  hosts: [${SLOW}]
  http:
  - retries: { attempts: 0 }
    route: [{ destination: { host: ${SLOW} } }]
`;

function exited(child: ChildProcess, timeoutMs: number): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`process ${child.pid} still running after ${timeoutMs} ms`)), timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(t);
      resolve(code);
    });
  });
}

test('SIGTERM: sidecars let in-flight requests finish, a leaving pod loses nothing, the control plane leaves proxies serving', { timeout: 600_000 }, async (t) => {
  const mesh = await startMesh(t, { config: { 'slow.yaml': CONFIG } });
  const backends = new Map<string, Backend>();
  t.after(() => Promise.all([...backends.values()].map((b) => b.close())));
  const server = (name: string, proxyArgs = DRAIN) =>
    mesh.startPod({
      name,
      labels: { app: 'slow' },
      ports: { http: 8080 },
      proxyArgs,
      app: async (ip) => {
        const b = await startBackend(name, ip, 8080);
        backends.set(name, b);
        return b;
      },
    });
  // slow-a runs two workers, as Istio runs its sidecars: they too must keep accepting until
  // peers have stopped sending, not only the primary.
  const [slowA, slowB] = await Promise.all([server('slow-a', [...DRAIN, '--concurrency', '2']), server('slow-b')]);
  const [client1, client2] = await Promise.all([
    mesh.startPod({ name: 'client1', labels: { app: 'client1' }, proxyArgs: DRAIN }),
    mesh.startPod({ name: 'client2', labels: { app: 'client2' }, proxyArgs: DRAIN }),
  ]);
  for (const c of [client1, client2]) for (const who of ['slow-a', 'slow-b']) await c.waitFor('slow:80', '/warmup', (r) => r.status === 200 && r.json().who === who);
  const inFlight = () => [...backends.values()].reduce((n, b) => n + b.inFlight(), 0);

  await t.test('client sidecar: in-flight 1 s requests finish with 200, new connections are refused or closed, exit 0', async () => {
    const N = 8;
    const pool = new Pool(client2.outbound, { connections: N });
    t.after(() => pool.destroy());
    const requests = Array.from({ length: N }, (_, i) =>
      pool
        .request({ method: 'GET', path: `/inflight/${i}?delay=1000`, headers: { host: 'slow:80' }, signal: AbortSignal.timeout(30_000) })
        .then(async (r) => ({ status: r.statusCode, body: await r.body.text() }))
        .catch((e: Error) => ({ status: 0, body: e.message })),
    );
    await until(() => inFlight() >= N, `${N} requests in flight at the backends`, 30_000);
    client2.proxy.child.kill('SIGTERM');
    // A new connection after the signal: refused, or served with `connection: close` (drain).
    const fresh = new Client(client2.outbound);
    let after: string;
    try {
      const r = await fresh.request({ method: 'GET', path: '/after-sigterm', headers: { host: 'slow:80' }, signal: AbortSignal.timeout(30_000) });
      await r.body.text();
      after = r.headers.connection === 'close' ? 'connection: close' : `kept alive (${r.statusCode})`;
    } catch (e) {
      const code = (e as { code?: string }).code ?? '';
      after = code === 'ECONNREFUSED' ? 'refused' : `error ${code} ${(e as Error).message}`;
    } finally {
      await fresh.destroy();
    }
    const results = await Promise.all(requests);
    const code = await exited(client2.proxy.child, 60_000);
    console.log(`client sidecar SIGTERM: ${N} in flight → ${results.map((r) => r.status).join(',')}; new connection after the signal: ${after}; exit ${code}`);
    assert.deepEqual(
      results.map((r) => r.status),
      Array(N).fill(200),
      results.map((r) => r.body.slice(0, 200)).join('\n'),
    );
    assert.ok(after === 'refused' || after === 'connection: close', `new connection after SIGTERM: ${after}`);
    assert.equal(code, 0, client2.proxy.output().slice(-2000));
  });

  await t.test('server sidecar (the pod goes away) under load: every request succeeds, later ones on the other pod', async () => {
    const load = startLoad({
      url: client1.outbound,
      host: 'slow:80',
      clients: 4,
      max: 100_000,
      deadlineMs: 120_000,
      valid: (who) => who === 'slow-a' || who === 'slow-b',
      path: (i) => `/r/${i}?delay=${i % 3 === 0 ? 400 : 20}`,
    });
    try {
      await until(() => backends.get('slow-a')!.inFlight() > 0 && load.sent > 20, 'requests in flight at slow-a', 30_000);
      const sentAtSignal = load.sent;
      const atA = backends.get('slow-a')!.inFlight();
      slowA.proxy.child.kill('SIGTERM');
      const code = await exited(slowA.proxy.child, 60_000);
      // Some more traffic once slow-a's sidecar is gone: all of it must land on slow-b.
      const bBefore = load.byBackend.get('slow-b') ?? 0;
      const sentAtExit = load.sent;
      await until(() => load.sent >= sentAtExit + 100, '100 requests after slow-a left', 60_000);
      await load.stop();
      console.log(
        `server sidecar SIGTERM: ${atA} in flight at slow-a at the signal (request #${sentAtSignal}), exit ${code}; ${load.sent} requests, ${load.ok} ok, ${load.failures.length} failed, ` +
          `by backend ${JSON.stringify(Object.fromEntries(load.byBackend))}` +
          (load.failures.length ? `\n  ${load.failures.slice(0, 20).join('\n  ')}` : ''),
      );
      assert.deepEqual(load.failures.slice(0, 20), [], `${load.failures.length} of ${load.sent} failed`);
      assert.equal(code, 0, slowA.proxy.output().slice(-2000));
      assert.ok((load.byBackend.get('slow-b') ?? 0) - bBefore >= 100 - 4, 'requests after the exit went to slow-b');
    } finally {
      await load.stop();
    }
  });

  await t.test('control plane: exits 0 on SIGTERM, proxies keep serving their last config', async () => {
    const code = await mesh.cp.stop('SIGTERM');
    assert.equal(code, 0, mesh.cp.output().slice(-2000));
    for (let i = 0; i < 20; i++) {
      const r = await client1.request('slow:80', `/after-cp/${i}`);
      assert.equal(r.status, 200, r.body);
      assert.equal(r.json().who, 'slow-b');
    }
    for (const p of [client1, slowB] as Pod[]) assert.equal(p.proxy.child.exitCode, null, `${p.name} still running:\n${p.proxy.output().slice(-2000)}`);
  });
});
