/**
 * Issue 11 acceptance 5: locality load balancing from Istio YAML (DestinationRule
 * localityLbSetting), translated by the pilot and enforced by a real proxy in front of real
 * upstreams on loopback. With every local endpoint failing, outlier detection ejects them and
 * traffic moves to the failover locality (priority 1), and back when they recover; one of two
 * local endpoints down spills Envoy's share (overprovisioning factor 1.4) to the next priority;
 * `distribute` 80/20 is measured over 1,000 requests.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { until } from '../helpers/poll.ts';
import { appWorkload, pilotResources, serviceYaml, share, show, startApps, startLbProxy, tally, type App } from './lb_helpers.ts';

describe('locality failover (failover + outlierDetection)', () => {
  let apps: Record<string, App>;
  const policy = `    loadBalancer:
      simple: ROUND_ROBIN
      localityLbSetting:
        enabled: true
        failover: [{from: us, to: eu}]
    outlierDetection: {consecutive5xxErrors: 1, interval: 1s, baseEjectionTime: 2s, maxEjectionPercent: 100}`;
  let yaml: string;
  before(async () => {
    apps = await startApps(['a1', 'a2', 'b1', 'e1', 'j1']);
    yaml = serviceYaml(apps.a1.port, policy);
  });
  after(async () => {
    await Promise.all(Object.values(apps).map((a) => a.close()));
  });
  const workloads = (healthy: Record<string, boolean> = {}) => [
    appWorkload(apps.a1, 'us/a', { healthy: healthy.a1 ?? true }),
    appWorkload(apps.a2, 'us/a', { healthy: healthy.a2 ?? true }),
    appWorkload(apps.b1, 'us/b'),
    appWorkload(apps.e1, 'eu/x'),
    appWorkload(apps.j1, 'jp/y'),
  ];

  test('the pilot orders localities by closeness to the caller, the failover region before others', () => {
    const { cluster, cla } = pilotResources(yaml, workloads());
    const prio = Object.fromEntries(cla.endpoints.map((l: any) => [`${l.locality.region}/${l.locality.zone}`, l.priority ?? 0]));
    assert.deepEqual(prio, { 'us/a': 0, 'us/b': 1, 'eu/x': 2, 'jp/y': 3 });
    assert.deepEqual(cluster.common_lb_config.locality_weighted_lb_config, {});
    assert.equal(cluster.outlier_detection.consecutive_5xx, 1);
  });

  test('all local endpoints failing: ejected, traffic moves to priority 1 within the outlier interval, and returns when they recover', async () => {
    const { cluster, cla } = pilotResources(yaml, workloads());
    const proxy = await startLbProxy(cluster, cla);
    try {
      const port = proxy.port('in');
      const healthy = await tally(port, 100);
      console.log(`locality failover: all healthy, 100 requests: ${show(healthy)}`);
      assert.equal(share(healthy, 'a1', 'a2'), 1, 'all traffic stays in the local locality');

      apps.a1.status = 503;
      apps.a2.status = 503;
      const failedAt = performance.now();
      // Each local endpoint answers one 503 before it is ejected (consecutive5xxErrors: 1); while
      // one of the two is left, priority 0 still takes 70% (1.4 × 50%).
      const seen = new Map<string, number>();
      await until(
        async () => {
          const got = await tally(port, 10);
          for (const [k, v] of got) seen.set(k, (seen.get(k) ?? 0) + v);
          return got.get('b1') === 10;
        },
        'all traffic on the failover locality',
        5000,
      );
      const movedMs = performance.now() - failedAt;
      const during = await tally(port, 200);
      console.log(`locality failover: local endpoints answering 503: moved to us/b after ${movedMs.toFixed(0)} ms (${show(seen)}); next 200 requests: ${show(during)}`);
      assert.ok((seen.get('status 503') ?? 0) <= 2, 'one 503 per local endpoint, then ejected');
      assert.equal(during.get('b1'), 200, 'priority 1 (same region, other zone) takes all traffic');
      assert.ok(movedMs < 1000, `moved within the 1 s outlier interval (${movedMs.toFixed(0)} ms)`);
      const ejections = proxy.server.store.counter(`cluster.${cluster.name}.outlier_detection.ejections_enforced_total`).value();
      assert.ok(ejections >= 2, `${ejections} ejections`);

      apps.a1.status = 200;
      apps.a2.status = 200;
      const recoveredAt = performance.now();
      await until(async () => share(await tally(port, 5), 'a1', 'a2') === 1, 'traffic back on the local locality', 15_000, 50);
      const backMs = performance.now() - recoveredAt;
      const back = await tally(port, 100);
      console.log(`locality failover: local endpoints recovered: back after ${backMs.toFixed(0)} ms (baseEjectionTime 2s); next 100 requests: ${show(back)}`);
      assert.equal(share(back, 'a1', 'a2'), 1);
    } finally {
      apps.a1.status = 200;
      apps.a2.status = 200;
      await proxy.close();
    }
  });

  test('one of two local endpoints unhealthy in EDS: priority 0 keeps 1.4 × 50% = 70% of the load, 30% spills to priority 1', async () => {
    const { cluster, cla } = pilotResources(yaml, workloads({ a1: false }));
    assert.equal(cla.endpoints.flatMap((l: any) => l.lb_endpoints).find((e: any) => e.endpoint.address.socket_address.address === apps.a1.ip).health_status, 'UNHEALTHY');
    const proxy = await startLbProxy(cluster, cla);
    try {
      const port = proxy.port('in');
      const got = await tally(port, 600, 4);
      const local = share(got, 'a2');
      console.log(`overprovisioning: a1 unhealthy, 600 requests: ${show(got)} (priority 0 ${(local * 100).toFixed(1)}%, Envoy's load 70%)`);
      assert.equal(got.get('a1') ?? 0, 0);
      assert.ok(Math.abs(local - 0.7) < 0.08, `priority 0 share ${local}`);
      assert.ok(Math.abs(share(got, 'b1') - 0.3) < 0.08);
      // Back to healthy through an EDS push: everything local again.
      proxy.push(undefined, pilotResources(yaml, workloads()).cla);
      assert.equal(share(await tally(port, 100), 'a1', 'a2'), 1);
    } finally {
      await proxy.close();
    }
  });
});

describe('locality distribute', () => {
  let apps: Record<string, App>;
  before(async () => {
    apps = await startApps(['a1', 'a2', 'b1', 'e1']);
  });
  after(async () => {
    await Promise.all(Object.values(apps).map((a) => a.close()));
  });

  test('distribute us/a 80%, eu/x 20%: measured over 1,000 requests; localities not named get nothing', async () => {
    const yaml = serviceYaml(apps.a1.port, `    loadBalancer:
      simple: ROUND_ROBIN
      localityLbSetting:
        distribute:
        - from: "us/a/*"
          to: {"us/a/*": 80, "eu/x/*": 20}`);
    const workloads = [appWorkload(apps.a1, 'us/a'), appWorkload(apps.a2, 'us/a'), appWorkload(apps.b1, 'us/b'), appWorkload(apps.e1, 'eu/x')];
    const { cluster, cla } = pilotResources(yaml, workloads);
    assert.deepEqual(Object.fromEntries(cla.endpoints.map((l: any) => [`${l.locality.region}/${l.locality.zone}`, l.load_balancing_weight])), { 'us/a': 80, 'eu/x': 20 });
    const proxy = await startLbProxy(cluster, cla);
    try {
      const got = await tally(proxy.port('in'), 1000, 4);
      const us = share(got, 'a1', 'a2');
      console.log(`distribute 80/20 over 1000 requests: ${show(got)} -> us/a ${(us * 100).toFixed(1)}%, eu/x ${(share(got, 'e1') * 100).toFixed(1)}%`);
      assert.ok(Math.abs(us - 0.8) <= 0.02, `us/a share ${us}`);
      assert.ok(Math.abs(share(got, 'e1') - 0.2) <= 0.02);
      assert.equal(got.get('b1') ?? 0, 0);
      // Within the locality, round robin over its endpoints.
      assert.ok(Math.abs((got.get('a1') ?? 0) - (got.get('a2') ?? 0)) <= 2);
    } finally {
      await proxy.close();
    }
  });
});
