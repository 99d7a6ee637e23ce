/**
 * Chaos (issue 11, acceptance 7): three echo pods behind one Service, a bounded 60 s keep-alive
 * load through the client's sidecar, and one pod's app killed (listening socket closed, open
 * connections cut) and restarted every few seconds, a different pod each time. The mesh has only
 * what a user gets from Istio's defaults — the default retry policy (no VirtualService) — plus a
 * DestinationRule with outlier detection. The client must see fewer than 0.1% errors.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startMesh } from '../helpers/mesh.ts';
import { clusterStat, startBackend, startLoad, type Backend } from '../helpers/lifecycle.ts';
import { kubeService, plaintextPeers } from '../helpers/yaml.ts';

const ECHO = 'echo.default.svc.cluster.local';
const LOAD_MS = 60_000;
/** One kill every KILL_EVERY_MS, down for DOWN_MS. */
const KILL_EVERY_MS = 3_000;
const DOWN_MS = 1_500;

const CONFIG = `${kubeService('echo')}---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: echo, namespace: default }
spec:
  host: ${ECHO}
  trafficPolicy:
    outlierDetection:
      consecutive5xxErrors: 3
      interval: 1s
      baseEjectionTime: 2s
      maxEjectionPercent: 34
---
${plaintextPeers('echo')}`;

test('chaos: one of three upstreams killed and restarted every 3 s under 60 s of load; default retries and outlier detection keep errors below 0.1%', { timeout: 300_000 }, async (t) => {
  const mesh = await startMesh(t, { config: { 'echo.yaml': CONFIG } });
  const backends = new Map<string, Backend>();
  t.after(() => Promise.all([...backends.values()].map((b) => b.close())));
  const names = ['echo-1', 'echo-2', 'echo-3'];
  const ips = new Map<string, string>();
  await Promise.all(
    names.map((name) =>
      mesh.startPod({
        name,
        labels: { app: 'echo' },
        ports: { http: 8080 },
        app: async (ip) => {
          ips.set(name, ip);
          const b = await startBackend(name, ip, 8080);
          backends.set(name, b);
          // The pod's own stop closes whatever backend is current (it may have been restarted).
          return { close: () => backends.get(name)?.close() };
        },
      }),
    ),
  );
  const client = await mesh.startPod({ name: 'client', labels: { app: 'client' } });
  for (const who of names) await client.waitFor('echo:80', '/warmup', (r) => r.status === 200 && r.json().who === who);

  const load = startLoad({ url: client.outbound, host: 'echo:80', clients: 8, max: 1_000_000, deadlineMs: LOAD_MS, valid: (who) => names.includes(who) });
  let kills = 0;
  const loadStart = Date.now();
  const killedAt: string[] = [];
  const end = Date.now() + LOAD_MS - DOWN_MS;
  try {
    while (Date.now() + KILL_EVERY_MS < end) {
      await new Promise((r) => setTimeout(r, KILL_EVERY_MS - DOWN_MS));
      const name = names[kills % names.length];
      kills++;
      killedAt.push(`${name} at ${Date.now() - loadStart} ms`);
      await backends.get(name)!.close();
      await new Promise((r) => setTimeout(r, DOWN_MS));
      backends.set(name, await startBackend(name, ips.get(name)!, 8080));
    }
  } finally {
    await load.done;
  }
  const stat = (n: string) => clusterStat(client.admin, 'echo', n);
  // Ejections refused by maxEjectionPercent (another host still ejected) are printed too: with
  // retries bounded by the budget, a killed host that cannot be ejected is where errors pile up.
  const [retries, ejections, ejectionOverflow, retryOverflow] = await Promise.all([
    stat('upstream_rq_retry'),
    stat('outlier_detection.ejections_enforced_total'),
    stat('outlier_detection.ejections_overflow'),
    stat('upstream_rq_retry_overflow'),
  ]);
  const errors = load.failures.length;
  const rate = errors / Math.max(1, load.sent);
  console.log(
    `chaos: ${load.sent} requests in ${LOAD_MS / 1000} s, ${kills} kills (${DOWN_MS} ms down each), ${errors} errors = ${(rate * 100).toFixed(3)}% ` +
      `(limit 0.1%), client sidecar retries ${retries}, retry overflow ${retryOverflow}, outlier ejections ${ejections} (${ejectionOverflow} refused by maxEjectionPercent), by backend ${JSON.stringify(Object.fromEntries(load.byBackend))}` +
      (errors ? `\n  kills: ${killedAt.join(', ')}\n  ${load.failures.slice(0, 10).join('\n  ')}${errors > 10 ? `\n  ...\n  ${load.failures.slice(-5).join('\n  ')}` : ''}` : ''),
  );
  assert.ok(kills >= 15, `the chaos loop killed ${kills} times`);
  assert.ok(load.sent >= 1000, `the load sent ${load.sent} requests`);
  for (const name of names) assert.ok((load.byBackend.get(name) ?? 0) > 0, `${name} answered`);
  assert.ok(retries > 0, 'the kills were felt: the client sidecar retried');
  assert.ok(ejections > 0, 'outlier detection ejected killed hosts');
  assert.ok(rate < 0.001, `error rate ${(rate * 100).toFixed(3)}% is below 0.1%`);
});
