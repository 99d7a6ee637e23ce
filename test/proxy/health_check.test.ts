/**
 * Active health checking (issue 11, acceptance 3) with a static Envoy config: three HTTP backends
 * behind one round-robin cluster with health_checks, real sockets on loopback. A backend whose
 * health endpoint fails never sees a user request; it is re-added once its checks pass.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { RESOURCE } from '../../src/xds/type_urls.ts';
import { validateCluster } from '../../src/proxy/config/validation.ts';
import { healthFlagsText } from '../../src/proxy/upstream/host_health.ts';
import { httpListener, startProxy, until } from './helpers.ts';
import { startBackend, startWorld, type Backend } from './health_helpers.ts';

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

test('EDS: an endpoint added later takes no traffic before its first passing check; outlier and health state survive EDS pushes', async () => {
  const backends = await Promise.all(['a', 'b', 'c'].map(startBackend));
  const [a, b, c] = backends;
  const proxy = await startProxy({});
  const s = proxy.server;
  const cla = (bs: Backend[], v: string) =>
    s.setResources(RESOURCE.ENDPOINT, [{ cluster_name: 'up', endpoints: [{ lb_endpoints: bs.map((x) => ({ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: x.port } } } })) }] }], v);
  const agent = new http.Agent({ keepAlive: true });
  const get = () =>
    new Promise<number>((resolve, reject) => {
      http.get({ host: '127.0.0.1', port: s.listeners.active.get('in')!.boundPort, path: '/', agent }, (res) => (res.resume(), res.on('end', () => resolve(res.statusCode ?? 0)))).on('error', reject);
    });
  try {
    s.setResources(
      RESOURCE.CLUSTER,
      [
        {
          name: 'up',
          type: 'EDS',
          connect_timeout: '1s',
          lb_policy: 'ROUND_ROBIN',
          eds_cluster_config: { eds_config: { ads: {} } },
          health_checks: [{ ...HTTP_CHECK, healthy_threshold: 1 }],
          // Panic off, as istiod writes it with outlierDetection (minHealthPercent 0).
          common_lb_config: { ignore_new_hosts_until_first_hc: true, healthy_panic_threshold: { value: 0 } },
          outlier_detection: { consecutive_5xx: 2, interval: '0.1s', base_ejection_time: '30s', max_ejection_percent: 100 },
        },
      ],
      'c1',
    );
    cla([a, b], 'e1');
    s.setResources(RESOURCE.LISTENER, [httpListener('in', [{ match: { prefix: '/' }, route: { cluster: 'up' } }])], 'l1');
    await s.listeners.listening();
    await until(async () => (await get()) === 200, 'the cluster serves');
    // b answers 503 to users (its /health passes): outlier detection ejects it.
    b.status = 503;
    for (let i = 0; i < 8; i++) await get();
    const cluster = () => s.clusters.active.get('up')!;
    const hostOf = (x: Backend) => cluster().allHosts().find((h) => h.port === x.port)!;
    assert.equal(hostOf(b).healthy, false, 'b ejected');
    // c arrives with a failing /health: it must not take a request, before or after its checks.
    c.healthStatus = 503;
    cla([a, b, c], 'e2');
    for (let i = 0; i < 30; i++) assert.equal(await get(), 200);
    assert.equal(c.hits.length, 0, 'the new endpoint took no request');
    // Checked: failed, and no longer pending.
    await until(() => c.healthHits.length >= 1 && healthFlagsText(hostOf(c)) === '/failed_active_hc', 'c checked once', 5000);
    assert.equal(hostOf(b).healthy, false, 'b is still ejected after the EDS push');
    c.healthStatus = 200;
    await until(() => hostOf(c).healthy, 'c passes its check', 10_000);
    for (let i = 0; i < 20; i++) await get();
    console.log(`eds: new endpoint c took ${c.hits.length} of 20 requests after its first passing check; b stayed ejected across the push`);
    assert.ok(c.hits.length >= 5);
  } finally {
    agent.destroy();
    await proxy.close();
    await Promise.all(backends.map((x) => x.close()));
  }
});

test('config validation: what Envoy rejects in health_checks and outlier_detection NACKs with the field named', () => {
  const base = { name: 'up', type: 'STATIC', load_assignment: { cluster_name: 'up', endpoints: [] } };
  const errs = (extra: object) => validateCluster({ ...base, ...extra });
  assert.deepEqual(errs({ health_checks: [HTTP_CHECK] }), []);
  assert.deepEqual(errs({ health_checks: [HTTP_CHECK, HTTP_CHECK] }), ['cluster up.health_checks: only one health check per cluster is supported, got 2']);
  assert.deepEqual(errs({ health_checks: [{ ...HTTP_CHECK, interval: '0s', http_health_check: {} }] }), ['cluster up.health_checks[0].interval: required, greater than 0', 'cluster up.health_checks[0].http_health_check.path: required']);
  assert.deepEqual(errs({ health_checks: [{ ...HTTP_CHECK, http_health_check: { path: '/h', expected_statuses: [{ start: 300, end: 200 }] } }] }), [
    'cluster up.health_checks[0].http_health_check.expected_statuses[0]: a range [start, end) of statuses within [100, 600), got [300, 200)',
  ]);
  assert.deepEqual(errs({ health_checks: [{ timeout: '1s', interval: '1s', unhealthy_threshold: 1, healthy_threshold: 1 }] }), ['cluster up.health_checks[0]: one of http_health_check or tcp_health_check is required']);
  assert.deepEqual(errs({ outlier_detection: { max_ejection_percent: 101 } }), ['cluster up.outlier_detection.max_ejection_percent: a percentage in [0, 100], got 101']);
});
