/**
 * Active health checking (issue 11, acceptance 3) with a static Envoy config: three HTTP backends
 * behind one round-robin cluster with health_checks, real sockets on loopback. A backend whose
 * health endpoint fails never sees a user request; it is re-added once its checks pass.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { until } from './helpers.ts';
import { startWorld } from './health_helpers.ts';

const HTTP_CHECK = {
  timeout: '1s',
  interval: '0.2s',
  no_traffic_interval: '0.2s',
  unhealthy_threshold: 2,
  healthy_threshold: 2,
  http_health_check: { path: '/health' },
};

test('HTTP health check: a host whose /health fails gets no user request from the start, is re-added when it passes, and removed again when it fails', async () => {
  // c's health endpoint fails before the proxy starts: the cluster warms with c already out.
  const w = await startWorld({ health_checks: [HTTP_CHECK] }, 3, (backends) => {
    backends[2].healthStatus = 503;
  });
  const [a, b, c] = w.backends;
  try {
    for (let i = 0; i < 30; i++) assert.equal((await w.request()).status, 200);
    console.log(`health check: a=${a.hits.length} b=${b.hits.length} c=${c.hits.length} user requests while c's /health answered ${c.healthHits.length} checks with 503; c health_flags ${await w.flags(c)}`);
    assert.equal(c.hits.length, 0, 'no user request reached the host failing its health check');
    assert.equal(await w.flags(c), '/failed_active_hc');
    const json = JSON.parse(await w.admin('/clusters?format=json'));
    const hs = json.cluster_statuses.find((x: any) => x.name === 'up').host_statuses.find((h: any) => h.address.socket_address.port_value === c.port);
    assert.equal(hs.health_status.failed_active_health_check, true);

    c.healthStatus = 200;
    const t0 = performance.now();
    await until(async () => (await w.flags(c)) === 'healthy', 'c passes healthy_threshold checks', 10_000, 20);
    const back = performance.now() - t0;
    for (let i = 0; i < 30; i++) await w.request();
    console.log(`health check: c re-added ${back.toFixed(0)} ms after /health recovered (healthy_threshold 2, interval 200 ms); then took ${c.hits.length} of 30 requests`);
    assert.ok(c.hits.length >= 5, 'c takes its share again');

    // A healthy host whose health endpoint starts failing is out at its next check (an unexpected status fails at once).
    b.healthStatus = 500;
    await until(async () => (await w.flags(b)) === '/failed_active_hc', 'b fails its check', 10_000, 20);
    const before = b.hits.length;
    for (let i = 0; i < 30; i++) assert.equal((await w.request()).status, 200);
    assert.equal(b.hits.length, before, 'b takes no traffic while failing');
    assert.ok((await w.stat('health_check.failure')) >= 2);
    assert.ok((await w.stat('health_check.success')) >= 2);
  } finally {
    await w.close();
  }
});

test('TCP connect-only health check: a host that refuses connections is out before any request, and back once it listens again', async () => {
  const w = await startWorld(
    { health_checks: [{ timeout: '1s', interval: '0.2s', no_traffic_interval: '0.2s', unhealthy_threshold: 2, healthy_threshold: 1, tcp_health_check: {} }] },
    3,
    async (backends) => {
      await backends[2].close();
    },
  );
  const c = w.backends[2];
  try {
    for (let i = 0; i < 30; i++) assert.equal((await w.request()).status, 200, 'no request goes to the closed host');
    assert.equal(await w.flags(c), '/failed_active_hc');
    await c.reopen();
    await until(async () => (await w.flags(c)) === 'healthy', 'c passes a connect check', 10_000, 20);
    for (let i = 0; i < 30; i++) await w.request();
    console.log(`tcp health check: c back after it listened again, took ${c.hits.length} of 30 requests`);
    assert.ok(c.hits.length >= 5);
  } finally {
    await w.close();
  }
});
