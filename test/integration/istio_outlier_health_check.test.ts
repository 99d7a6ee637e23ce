/**
 * Outlier detection and active health checks through Istio YAML (issue 11, acceptance 2 and 3):
 * a real control plane and real sidecars on loopback. `echo` has three pods and a
 * DestinationRule with outlierDetection; `hc` has three pods and a DestinationRule carrying
 * tsmesh's `tsmesh.io/health-check` annotation. Backends count the requests that reach them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { startMesh, type Pod } from '../helpers/mesh.ts';
import { until } from '../helpers/poll.ts';

const CONFIG = `
apiVersion: v1
kind: Service
metadata: { name: echo, namespace: default }
spec:
  selector: { app: echo }
  ports: [{ name: http, port: 80, targetPort: 8080 }]
---
apiVersion: v1
kind: Service
metadata: { name: hc, namespace: default }
spec:
  selector: { app: hc }
  ports: [{ name: http, port: 80, targetPort: 8080 }]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: echo, namespace: default }
spec:
  host: echo.default.svc.cluster.local
  trafficPolicy:
    outlierDetection:
      consecutive5xxErrors: 3
      interval: 1s
      baseEjectionTime: 2s
      maxEjectionPercent: 100
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: hc
  namespace: default
  annotations:
    tsmesh.io/health-check: '{"path": "/health", "interval": "300ms", "timeout": "1s", "unhealthyThreshold": 1, "healthyThreshold": 1}'
spec:
  host: hc.default.svc.cluster.local
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: { name: echo-plain, namespace: default }
spec:
  selector: { matchLabels: { app: echo } }
  mtls: { mode: DISABLE }
`;

interface App {
  name: string;
  status: number;
  healthStatus: number;
  hits: number[];
  healthHits: number;
  /** User requests and health checks that came over mTLS (the sidecar added x-forwarded-client-cert). */
  mtls: number;
  healthMtls: number;
  close(): Promise<void>;
}

function startApp(name: string, ip: string): Promise<App> {
  const app: App = { name, status: 200, healthStatus: 200, hits: [], healthHits: 0, mtls: 0, healthMtls: 0, close: async () => {} };
  const server = http.createServer((req, res) => {
    if (req.url === '/health') {
      app.healthHits++;
      if (req.headers['x-forwarded-client-cert']) app.healthMtls++;
      res.writeHead(app.healthStatus).end();
      return;
    }
    if (req.url !== '/warmup') app.hits.push(performance.now());
    if (req.url !== '/warmup' && req.headers['x-forwarded-client-cert']) app.mtls++;
    res.writeHead(app.status, { 'content-type': 'application/json' }).end(JSON.stringify({ who: name }));
  });
  app.close = () =>
    new Promise((r) => {
      server.close(() => r());
      server.closeAllConnections();
    });
  return new Promise((resolve) => server.listen(8080, ip, () => resolve(app)));
}

test('Istio DestinationRule outlierDetection and the tsmesh.io/health-check annotation, enforced by the sidecar', { timeout: 240_000 }, async (t) => {
  const mesh = await startMesh(t, { config: { 'mesh.yaml': CONFIG } });
  const apps = new Map<string, App>();
  t.after(() => Promise.all([...apps.values()].map((a) => a.close())));
  // hc's pods and the client have workload certificates: hc traffic, health checks included, is mTLS (auto mTLS).
  const pod = (name: string, app: string) =>
    mesh.startPod({
      name,
      labels: { app },
      ...(app === 'hc' ? { identity: {} } : {}),
      ports: { http: 8080 },
      app: async (ip) => {
        const a = await startApp(name, ip);
        // hc-3's health endpoint fails before any sidecar calls it.
        if (name === 'hc-3') a.healthStatus = 503;
        apps.set(name, a);
        return a;
      },
    });
  await Promise.all(['echo-1', 'echo-2', 'echo-3', 'hc-1', 'hc-2', 'hc-3'].map((n) => pod(n, n.split('-')[0])));
  const client: Pod = await mesh.startPod({ name: 'client', labels: { app: 'client' }, identity: {} });
  /** A counter of the client sidecar's outbound|80||<svc>.default.svc.cluster.local cluster (0 when absent). */
  const clusterStat = async (svc: string, n: string) =>
    Number(new RegExp(`^cluster\\.outbound\\|80\\|\\|${svc}\\.default\\.svc\\.cluster\\.local\\.${n}: (\\d+)$`, 'm').exec(await (await fetch(`${client.admin}/stats`)).text())?.[1] ?? 0);

  await t.test('outlierDetection: a pod answering 503 is ejected, returns after baseEjectionTime, and stays out twice as long the next time', async () => {
    for (const who of ['echo-1', 'echo-2', 'echo-3']) await client.waitFor('echo:80', '/warmup', (r) => r.status === 200 && r.json().who === who);
    const bad = apps.get('echo-3')!;
    bad.status = 503;
    /** The client sidecar's outlier events for echo (Envoy's event log), in performance.now() time. */
    const events = () =>
      client.proxy
        .output()
        .split('\n')
        .filter((l) => l.includes('outlier_detection {') && l.includes('echo.default'))
        .map((l) => ({ at: Date.parse(/^\[([^\]]+)\]/.exec(l)![1]!) - performance.timeOrigin, ev: JSON.parse(l.slice(l.indexOf('{'))), line: l }))
        // Only ejections that took effect (a detection not enforced changes nothing).
        .filter((e) => e.ev.enforced)
        .map((e) => ({ at: e.at, action: e.ev.action as string, line: e.line }));
    const deadline = performance.now() + 40_000;
    const sent: number[] = [];
    // Until echo-3 has come back from its second ejection and taken a request again.
    const done = () => {
      const un = events().filter((e) => e.action === 'UNEJECT');
      return un.length >= 2 && bad.hits.some((h) => h > un[1]!.at);
    };
    for (let i = 0; i < 10_000 && performance.now() < deadline && !(i % 20 === 0 && done()); i++) {
      // Istio's default retry policy retries the 503 on another pod: the client sees 200.
      sent.push(performance.now());
      const r = await client.request('echo:80', '/');
      assert.equal(r.status, 200, 'retries hide the failing pod from the client');
      await new Promise((r) => setTimeout(r, 5));
    }
    const ev = events();
    const wall = (t: number) => new Date(performance.timeOrigin + t).toISOString().slice(11, 23);
    console.log(`istio outlier: echo-3 hits at ${bad.hits.map(wall).join(' ')}\n${ev.map((e) => `  [${wall(e.at)}] ${e.action}`).join('\n')}`);
    const ejects = ev.filter((e) => e.action === 'EJECT');
    const unejects = ev.filter((e) => e.action === 'UNEJECT');
    assert.ok(ejects.length >= 2 && unejects.length >= 2, `two ejections and two returns in the sidecar's log:\n${ev.map((e) => e.line).join('\n')}`);
    const ejections = await clusterStat('echo', 'outlier_detection.ejections_enforced_consecutive_5xx');
    const report: string[] = [];
    for (let k = 0; k < 2; k++) {
      const out = ejects[k]!.at;
      const back = unejects[k]!.at;
      const ms = back - out;
      // The request that took the pod out was the last to reach it until it returned (the 503's
      // retry goes to another pod). The sidecar logs whole milliseconds of the wall clock, this
      // process reads the monotonic one: a few milliseconds of slack.
      const during = bad.hits.filter((h) => h > out + 5 && h < back - 5);
      assert.deepEqual(during.map(wall), [], `no request reaches echo-3 while it is ejected (${wall(out)}..${wall(back)})`);
      // Returns happen at interval ticks: baseEjectionTime x the ejection count, plus up to one
      // interval, plus however late the tick runs on a busy machine (up to another interval).
      const base = 2000 * (k + 1);
      assert.ok(ms >= base - 5 && ms < base + 2000, `ejection ${k + 1} lasted ${ms.toFixed(0)} ms (baseEjectionTime 2s x ${k + 1}, interval 1s)`);
      // Back in the balancer's set: LEAST_REQUEST picks it for about one request in three, so 30
      // requests without it would happen once in 190,000 runs. Counted in requests, not
      // milliseconds, so a slow client does not read as a late return.
      const firstHit = bad.hits.find((h) => h > back - 5);
      const before = sent.filter((t) => t > back && (firstHit === undefined || t < firstHit)).length;
      assert.ok(firstHit !== undefined && before < 30, `echo-3 takes a request again after returning: ${before} requests went elsewhere first`);
      report.push(`ejection ${k + 1} ${ms.toFixed(0)} ms, then ${before} requests elsewhere and one to echo-3 after ${(firstHit - back).toFixed(0)} ms`);
    }
    const step = sent.length > 1 ? (sent[sent.length - 1]! - sent[0]!) / (sent.length - 1) : 0;
    console.log(`istio outlier (baseEjectionTime 2s, interval 1s): ${report.join('; ')}; client step ${step.toFixed(0)} ms on average; ejections_enforced_consecutive_5xx ${ejections}; echo-3 got ${bad.hits.length} requests`);
    assert.ok(ejections >= 2);
    bad.status = 200;
  });

  await t.test('tsmesh.io/health-check: a pod failing /health takes no request from the start, is re-added when it passes, and removed when it fails', async () => {
    for (const who of ['hc-1', 'hc-2']) await client.waitFor('hc:80', '/warmup', (r) => r.status === 200 && r.json().who === who);
    const [h1, h2, h3] = ['hc-1', 'hc-2', 'hc-3'].map((n) => apps.get(n)!);
    for (let i = 0; i < 30; i++) assert.equal((await client.request('hc:80', '/')).status, 200);
    const clusters = await (await fetch(`${client.admin}/clusters`)).text();
    const flags = clusters.split('\n').filter((l) => l.startsWith('outbound|80||hc.default.svc.cluster.local::') && l.includes('::health_flags::'));
    console.log(`istio health check: hc-1 ${h1.hits.length}, hc-2 ${h2.hits.length}, hc-3 ${h3.hits.length} user requests; hc-3 answered ${h3.healthHits} checks with 503\n  ${flags.join('\n  ')}`);
    assert.equal(h3.hits.length, 0, 'no user request reached the pod failing its health check');
    assert.ok(flags.some((l) => l.endsWith('::health_flags::/failed_active_hc')), '/clusters shows /failed_active_hc');

    h3.healthStatus = 200;
    const t0 = performance.now();
    await until(async () => {
      await client.request('hc:80', '/');
      return h3.hits.length > 0;
    }, 'hc-3 takes traffic after passing its check', 15_000, 20);
    console.log(`istio health check: hc-3 took traffic ${(performance.now() - t0).toFixed(0)} ms after /health recovered (interval 300ms, healthyThreshold 1)`);

    h1.healthStatus = 500;
    await until(async () => (await (await fetch(`${client.admin}/clusters`)).text()).split('\n').some((l) => l.startsWith('outbound|80||hc.default.svc.cluster.local::') && l.endsWith('::health_flags::/failed_active_hc')), 'hc-1 fails its check', 15_000, 50);
    // With one check failure enough to fail a host, a transient failure of another host's check on
    // a loaded machine leaves one healthy host of three: below Envoy's 50% panic threshold the
    // cluster balances over all hosts, hc-1 included, and counts lb_healthy_panic. Only such
    // requests may reach it.
    const hcStat = (n: string) => clusterStat('hc', n);
    const panicBefore = await hcStat('lb_healthy_panic');
    const before = h1.hits.length;
    for (let i = 0; i < 30; i++) assert.equal((await client.request('hc:80', '/')).status, 200);
    const panics = (await hcStat('lb_healthy_panic')) - panicBefore;
    const reached = h1.hits.length - before;
    if (panics > 0) console.log(`istio health check: ${panics} of 30 requests balanced in panic mode (another host's check failed too), ${reached} reached hc-1`);
    assert.ok(reached <= panics, `hc-1 takes no traffic while failing /health outside panic mode: ${reached} requests reached it, ${panics} were balanced in panic`);
    console.log(`istio health check: over mTLS, user requests hc-1 ${h1.mtls}/${h1.hits.length}, hc-2 ${h2.mtls}/${h2.hits.length}, hc-3 ${h3.mtls}/${h3.hits.length}; health checks hc-2 ${h2.healthMtls}/${h2.healthHits}`);
    assert.ok(h2.mtls > 0 && h2.healthMtls > 0, 'hc traffic, health checks included, is mTLS');
  });
});
