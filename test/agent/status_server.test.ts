/**
 * pilot-agent's status server beside a real `tsmesh proxy`: 15021 /healthz/ready is 503 until
 * the proxy has its first config from the control plane and while it drains, 200 in between;
 * 15020 /stats/prometheus merges the proxy's envoy_* series, the agent's istio_agent_* series and
 * the app's own metrics named by ISTIO_PROMETHEUS_ANNOTATIONS, and an app that stops answering
 * only drops its part (and is counted).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ControlPlane } from '../../src/controlplane/server.ts';
import { caStateDir, freePort, spawnTsmesh } from '../helpers/processes.ts';
import { until } from '../helpers/poll.ts';
import { NO_PROMTOOL, promtoolCheck } from '../helpers/promtool.ts';

const POD_IP = '127.0.3.7';
const STATUS = /tsmesh proxy status: [^\s:]+:(\d+) .*readiness [^\s:]+:(\d+)/;

async function get(url: string): Promise<{ status: number; body: string }> {
  const res = await fetch(url, { signal: AbortSignal.timeout(5000) });
  return { status: res.status, body: await res.text() };
}

test('status server: readiness follows the first xDS config and the drain; merged metrics survive a dead app', { timeout: 90_000 }, async (t) => {
  // The app's own metrics, at the pod IP, as a pod annotated prometheus.io/scrape serves them.
  const app = createServer((req, res) => {
    if (req.url === '/custom/metrics') res.writeHead(200, { 'content-type': 'text/plain' }).end('# TYPE app_orders_total counter\napp_orders_total 7\n');
    else res.writeHead(404).end();
  });
  await new Promise<void>((r) => app.listen(0, POD_IP, () => r()));
  const appPort = (app.address() as { port: number }).port;
  t.after(() => app.close());

  const grpcPort = await freePort();
  const proxy = await spawnTsmesh(
    ['proxy', '--discovery-address', `127.0.0.1:${grpcPort}`, '--workload-name', 'shop', '--labels', 'app=shop,version=v1', '--ip', POD_IP,
      '--admin-port', '0', '--status-port', '0', '--readiness-port', '0', '--drain-time-s', '3'],
    STATUS,
    { env: { ISTIO_PROMETHEUS_ANNOTATIONS: JSON.stringify({ scrape: 'true', port: String(appPort), path: '/custom/metrics' }) } },
  );
  t.after(() => proxy.stop('SIGKILL'));
  const [, statusPort, readinessPort] = proxy.output().match(STATUS)!;
  const ready = `http://${POD_IP}:${readinessPort}/healthz/ready`;
  const merged = `http://${POD_IP}:${statusPort}/stats/prometheus`;

  // No control plane yet: the proxy has no config.
  const before = await get(ready);
  assert.equal(before.status, 503, before.body);
  assert.match(before.body, /INITIALIZING/);
  assert.equal((await get(`http://${POD_IP}:${statusPort}/healthz/ready`)).status, 503);

  const dir = mkdtempSync(join(tmpdir(), 'tsmesh-status-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const cp = new ControlPlane({ configDir: dir, grpcPort, httpPort: 0, secureGrpcPort: 0, stateDir: caStateDir(t), log: () => {} });
  await cp.start();
  t.after(() => cp.close());
  await until(async () => (await get(ready)).status === 200, '15021 ready once the proxy has its config', 30_000, 100);

  const m = await get(merged);
  assert.equal(m.status, 200);
  assert.match(m.body, /^envoy_server_live(\{[^}]*\})? 1$/m, 'the proxy\'s own series');
  assert.match(m.body, /^istio_agent_scrapes_total 1$/m, 'the agent\'s series');
  assert.match(m.body, /^istio_agent_xds_connected 1$/m);
  assert.match(m.body, /^app_orders_total 7$/m, 'the app\'s metrics, from its annotations');
  t.diagnostic(`merged output: ${m.body.split('\n').length} lines, ${m.body.split('\n').filter((l) => l.startsWith('envoy_')).length} envoy_*`);
  await t.test('promtool parses the merged output', { skip: NO_PROMTOOL }, () => {
    t.diagnostic(`promtool check metrics on the merged output: ${promtoolCheck(m.body).length} naming lints`);
  });

  // The app stops answering: its part is missing, the rest is served and the failure counted.
  await new Promise<void>((r) => {
    app.close(() => r());
    app.closeAllConnections();
  });
  const without = await get(merged);
  assert.equal(without.status, 200);
  assert.doesNotMatch(without.body, /app_orders_total/);
  assert.match(without.body, /^envoy_server_live(\{[^}]*\})? 1$/m);
  assert.match(without.body, /^istio_agent_scrape_failures_total\{type="application"\} 1$/m);

  // Draining (SIGTERM with a 3 s drain time): not ready any more, before the process exits.
  proxy.child.kill('SIGTERM');
  const draining = await until(async () => {
    const r = await get(ready);
    return r.status === 503 && r;
  }, '15021 not ready while draining', 5000, 50);
  assert.match(draining.body, /DRAINING/);
  assert.equal(await proxy.stop(), 0);
});
