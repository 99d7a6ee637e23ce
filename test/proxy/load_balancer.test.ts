/**
 * The load balancers' host choice as Envoy defines it: priority load with the overprovisioning
 * factor (the tables of Envoy's priority-levels docs), the panic threshold, retries excluding
 * priorities, locality-weighted picks, slow start, LEAST_REQUEST's two choices and active-request
 * bias, zone-aware routing; and what the pilot emits for failoverPriority and warmup.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Stats, UpstreamHost } from '../../src/proxy/interfaces.ts';
import { hostsFromAssignment, makeHost } from '../../src/proxy/upstream/eds.ts';
import { HealthFlag, setHealthFlag } from '../../src/proxy/upstream/host_health.ts';
import { computePriorityLoad, DEFAULT_OVERPROVISIONING_FACTOR } from '../../src/proxy/upstream/priority_load.ts';
import { RandomLoadBalancer, RoundRobinLoadBalancer, type LoadBalancer } from '../../src/proxy/upstream/load_balancer.ts';
import { LeastRequestLoadBalancer, leastRequestConfig } from '../../src/proxy/upstream/least_request.ts';
import { noteJoined, slowStartConfig, slowStartFactor } from '../../src/proxy/upstream/slow_start.ts';
import { ZoneAwareRouting, zoneAwareConfig } from '../../src/proxy/upstream/zone_aware.ts';
import type { PriorityState } from '../../src/proxy/upstream/host_source.ts';
import { generate } from '../../src/pilot/generator.ts';
import { buildLoadAssignment } from '../../src/pilot/endpoint.ts';
import { parseProxy } from '../../src/pilot/proxy.ts';
import { TYPE } from '../../src/xds/types.ts';
import { pushFromYaml, sidecarNode, workload } from '../pilot/fixtures.ts';
import { roundTrip, startProxy, startTag, tcpListener } from './helpers.ts';

function stats(): Stats & { values: Map<string, number> } {
  const values = new Map<string, number>();
  const metric = (name: string) => ({
    inc: (n = 1) => void values.set(name, (values.get(name) ?? 0) + n),
    dec: (n = 1) => void values.set(name, (values.get(name) ?? 0) - n),
    set: (v: number) => void values.set(name, v),
    value: () => values.get(name) ?? 0,
  });
  return { values, counter: metric, gauge: metric, histogram: () => ({ record() {} }) };
}

let nextIp = 0;
/** `n` hosts of which the first `healthy` are healthy. */
function hostSet(n: number, healthy = n): UpstreamHost[] {
  return Array.from({ length: n }, (_, i) => {
    const h = makeHost(`10.${Math.floor(++nextIp / 250)}.${nextIp % 250}.1`, 80);
    if (i >= healthy) setHealthFlag(h, HealthFlag.FAILED_OUTLIER_CHECK, true);
    return h;
  });
}

/** A seeded PRNG, so distributions are the same on every run. */
function seeded(seed = 7): () => number {
  let s = seed;
  return () => ((s = (s * 16807) % 2147483647) - 1) / 2147483646;
}

function picks(lb: LoadBalancer, n: number, ctx?: Parameters<LoadBalancer['chooseHost']>[0]): Map<UpstreamHost | undefined, number> {
  const m = new Map<UpstreamHost | undefined, number>();
  for (let i = 0; i < n; i++) {
    const h = lb.chooseHost(ctx);
    m.set(h, (m.get(h) ?? 0) + 1);
  }
  return m;
}

function countIn(m: Map<UpstreamHost | undefined, number>, hosts: UpstreamHost[]): number {
  let c = 0;
  for (const h of hosts) c += m.get(h) ?? 0;
  return c;
}

const POLICY = { overprovisioningFactor: DEFAULT_OVERPROVISIONING_FACTOR, weightedPriorityHealth: false };

describe('priority load (Envoy: health = healthy share x 1.4, load spills to the next priority)', () => {
  // Envoy's "Priority levels" docs: P0 healthy share -> traffic to P0 / P1 (P1 fully healthy).
  for (const [p0, load0, load1] of [
    [100, 100, 0],
    [72, 100, 0],
    [71, 99, 1],
    [50, 70, 30],
    [25, 35, 65],
    [0, 0, 100],
  ]) {
    test(`P0 ${p0}% healthy: ${load0}% / ${load1}%`, () => {
      const load = computePriorityLoad([hostSet(100, p0), hostSet(100)], POLICY, 50);
      assert.deepEqual(load.healthy, [load0, load1]);
      assert.deepEqual(load.panic, [false, false]);
    });
  }

  test('three priorities at 20% / 20% / 100% healthy: 28% / 28% / 44%', () => {
    assert.deepEqual(computePriorityLoad([hostSet(10, 2), hostSet(10, 2), hostSet(10)], POLICY, 50).healthy, [28, 28, 44]);
  });

  test('panic: P0 and P1 both 25% healthy -> 50% / 50%, each over all its hosts', () => {
    const load = computePriorityLoad([hostSet(100, 25), hostSet(100, 25)], POLICY, 50);
    assert.deepEqual(load.healthy, [50, 50]);
    assert.deepEqual(load.panic, [true, true]);
    // healthy_panic_threshold 0 disables panic.
    assert.deepEqual(computePriorityLoad([hostSet(100, 25), hostSet(100, 25)], POLICY, 0).panic, [false, false]);
  });

  test('every priority in panic: load by host count, not by health (Envoy)', () => {
    // P0 10 hosts 30% healthy, P1 30 hosts 10% healthy: by health 42/21, by host count 25/75.
    const load = computePriorityLoad([hostSet(10, 3), hostSet(30, 3)], POLICY, 50);
    assert.deepEqual(load.panic, [true, true]);
    assert.deepEqual(load.healthy, [25, 75]);
  });

  test('overprovisioning_factor from the ClusterLoadAssignment policy (100 = no headroom)', () => {
    const cla = (factor?: number) => ({
      ...(factor ? { policy: { overprovisioning_factor: factor } } : {}),
      endpoints: [
        { priority: 0, lb_endpoints: [1, 2].map((i) => ({ endpoint: { address: { socket_address: { address: `10.9.0.${i}`, port_value: 80 } } }, health_status: i === 1 ? 'UNHEALTHY' : 'HEALTHY' })) },
        { priority: 1, lb_endpoints: [{ endpoint: { address: { socket_address: { address: '10.9.1.1', port_value: 80 } } } }] },
      ],
    });
    for (const [factor, p0] of [[undefined, 70], [100, 50], [200, 100]] as const) {
      const lb = new RandomLoadBalancer(stats(), {}, seeded());
      const prios = hostsFromAssignment(cla(factor));
      lb.update(prios);
      const got = picks(lb, 2000);
      const share = countIn(got, prios[0]) / 2000;
      assert.ok(Math.abs(share - p0 / 100) < 0.04, `factor ${factor}: P0 share ${share}, want ${p0}%`);
    }
  });

  test('the balancer: P0 all down -> P1; all down everywhere -> panic over every host by host count', () => {
    const s = stats();
    const lb = new RoundRobinLoadBalancer(s, {}, seeded());
    const p0 = hostSet(2, 0);
    const p1 = hostSet(2);
    lb.update([p0, p1]);
    assert.equal(countIn(picks(lb, 100), p1), 100);
    for (const h of p1) setHealthFlag(h, HealthFlag.FAILED_OUTLIER_CHECK, true);
    lb.update([p0, p1]);
    const got = picks(lb, 400);
    assert.equal(countIn(got, [...p0, ...p1]), 400);
    assert.ok(countIn(got, p0) > 150 && countIn(got, p1) > 150, 'both priorities by host count');
    assert.equal(s.values.get('lb_healthy_panic'), 400);
  });

  test('a priority below the panic threshold balances over all its hosts; healthy_panic_threshold 0 never does', () => {
    const p0 = hostSet(4, 1);
    const panicking = new RoundRobinLoadBalancer(stats(), {}, seeded());
    panicking.update([p0]);
    assert.equal(picks(panicking, 400).size, 4, 'all four hosts, unhealthy ones too');
    const strict = new RoundRobinLoadBalancer(stats(), { common_lb_config: { healthy_panic_threshold: { value: 0 } } }, seeded());
    strict.update([p0]);
    assert.deepEqual([...picks(strict, 50).keys()], [p0[0]]);
  });

  test('retry_priority previous_priorities: a retry spreads its load over the priorities not tried yet', () => {
    const p0 = hostSet(2);
    const p1 = hostSet(2);
    const p2 = hostSet(2);
    const lb = new RoundRobinLoadBalancer(stats(), {}, seeded());
    lb.update([p0, p1, p2]);
    assert.equal(countIn(picks(lb, 100), p0), 100);
    assert.equal(countIn(picks(lb, 100, { previousPriorities: new Set([0]) }), p1), 100);
    assert.equal(countIn(picks(lb, 100, { previousPriorities: new Set([0, 1]) }), p2), 100);
  });
});

describe('locality-weighted load balancing', () => {
  const cla = (healthyInB = 2) => ({
    endpoints: [
      { locality: { zone: 'a' }, load_balancing_weight: 80, lb_endpoints: [1, 2].map((i) => ({ endpoint: { address: { socket_address: { address: `10.8.0.${i}`, port_value: 80 } } } })) },
      {
        locality: { zone: 'b' },
        load_balancing_weight: 20,
        lb_endpoints: [1, 2].map((i) => ({ endpoint: { address: { socket_address: { address: `10.8.1.${i}`, port_value: 80 } } }, health_status: i <= healthyInB ? 'HEALTHY' : 'UNHEALTHY' })),
      },
    ],
  });
  const cluster = { common_lb_config: { locality_weighted_lb_config: {} } };

  test('a locality is picked by its weight, then a host in it', () => {
    const lb = new RoundRobinLoadBalancer(stats(), cluster, seeded());
    const [p0] = hostsFromAssignment(cla());
    lb.update([p0]);
    const got = picks(lb, 1000);
    assert.equal(countIn(got, p0.slice(0, 2)), 800);
    assert.equal(countIn(got, p0.slice(2)), 200);
  });

  test("a locality's weight is scaled by its availability (healthy share x 1.4, at most 1)", () => {
    const lb = new RoundRobinLoadBalancer(stats(), cluster, seeded());
    const [p0] = hostsFromAssignment(cla(1));
    lb.update([p0]);
    const got = picks(lb, 940);
    // b: 20 x min(1, 1.4 x 1/2) = 14 against a's 80.
    assert.equal(countIn(got, p0.slice(0, 2)), 800);
    assert.equal(got.get(p0[2]), 140);
    assert.equal(got.get(p0[3]) ?? 0, 0);
  });

  test('without locality_weighted_lb_config the locality weights are ignored', () => {
    const lb = new RoundRobinLoadBalancer(stats(), {}, seeded());
    const [p0] = hostsFromAssignment(cla());
    lb.update([p0]);
    const got = picks(lb, 400);
    for (const h of p0) assert.equal(got.get(h), 100);
  });
});

describe('slow start', () => {
  test("Envoy's formula: weight x max(min_weight_percent, (max(age, 1 s) / window)^(1 / aggression))", () => {
    const cfg = slowStartConfig({ round_robin_lb_config: { slow_start_config: { slow_start_window: '10s', aggression: { default_value: 2, runtime_key: 'x' }, min_weight_percent: { value: 20 } } } })!;
    assert.deepEqual(cfg, { windowMs: 10_000, aggression: 2, minWeight: 0.2 });
    const h = makeHost('10.7.0.1', 80);
    noteJoined(h, 1_000_000);
    // Age counts as at least 1 s: (1/10)^(1/2).
    assert.equal(slowStartFactor(h, cfg, 1_000_000), Math.sqrt(0.1));
    assert.equal(slowStartFactor(h, cfg, 1_002_500), 0.5);
    const gentle = { ...cfg, aggression: 1 };
    assert.equal(slowStartFactor(h, gentle, 1_000_500), 0.2, 'min_weight_percent floor');
    assert.ok(Math.abs(slowStartFactor(h, cfg, 1_006_400) - 0.8) < 1e-9);
    assert.equal(slowStartFactor(h, cfg, 1_010_000), 1);
    // Defaults: aggression 1, min_weight_percent 10.
    assert.deepEqual(slowStartConfig({ least_request_lb_config: { slow_start_config: { slow_start_window: '30s' } } }), { windowMs: 30_000, aggression: 1, minWeight: 0.1 });
    assert.equal(slowStartConfig({ round_robin_lb_config: {} }), undefined);
  });

  test('a host that just joined gets a fraction of the traffic of hosts past the window', () => {
    const cluster = { round_robin_lb_config: { slow_start_config: { slow_start_window: '60s' } } };
    const old = hostSet(2);
    for (const h of old) noteJoined(h, Date.now() - 120_000);
    const fresh = hostSet(1);
    const lb = new RoundRobinLoadBalancer(stats(), cluster, seeded(), slowStartConfig(cluster));
    lb.update([[...old, ...fresh]]);
    const got = picks(lb, 420);
    // Its weight is 10% (age < 6 s of a 60 s window): 1 pick in 21.
    assert.equal(got.get(fresh[0]), 20);
  });
});

describe('LEAST_REQUEST', () => {
  test('equal weights: two random choices, the one with fewer active requests', () => {
    const hs = hostSet(2);
    const active = new Map([[hs[0], 5]]);
    const lb = new LeastRequestLoadBalancer(stats(), (h) => active.get(h) ?? 0, leastRequestConfig({}), seeded());
    lb.update([hs]);
    const got = picks(lb, 1000);
    // Only when both choices fall on the busy host (1 in 4) does it get the request.
    assert.ok(Math.abs((got.get(hs[0]) ?? 0) / 1000 - 0.25) < 0.05, `busy host got ${got.get(hs[0])}`);
    const cfg = leastRequestConfig({ least_request_lb_config: { choice_count: 4 } });
    assert.equal(cfg.choiceCount, 4);
  });

  test('unequal weights: weight / (active + 1)^active_request_bias', () => {
    const hs = edsWeighted([2, 1]);
    const active = new Map([[hs[0], 3]]);
    const load = (h: UpstreamHost) => active.get(h) ?? 0;
    const biased = new LeastRequestLoadBalancer(stats(), load, leastRequestConfig({}), seeded());
    biased.update([hs]);
    // 2 / 4 = 0.5 against 1 / 1: the heavier but busier host gets a third.
    assert.equal(picks(biased, 300).get(hs[0]), 100);
    const plain = new LeastRequestLoadBalancer(stats(), load, leastRequestConfig({ least_request_lb_config: { active_request_bias: { default_value: 0, runtime_key: 'k' } } }), seeded());
    plain.update([hs]);
    assert.equal(picks(plain, 300).get(hs[0]), 200, 'bias 0: weights alone');
  });
});

function edsWeighted(weights: number[]): UpstreamHost[] {
  return hostsFromAssignment({ endpoints: [{ lb_endpoints: weights.map((w, i) => ({ endpoint: { address: { socket_address: { address: `10.6.0.${i + 1}`, port_value: 80 } } }, load_balancing_weight: w })) }] })[0];
}

describe('zone-aware routing', () => {
  function state(perZone: Record<string, number>): PriorityState {
    const localities = Object.entries(perZone).map(([zone, n]) => {
      const hosts = hostSet(n).map((h) => ((h.locality = { region: 'r', zone }), h));
      return { key: `r/${zone}/`, weight: 0, hosts, healthy: hosts, degraded: [] };
    });
    const hosts = localities.flatMap((l) => l.hosts);
    return { hosts, healthy: hosts, degraded: [], localities, all: { hosts, key: '0|all' }, healthySource: { hosts, key: '0|h' }, degradedSource: { hosts: [], key: '0|d' } };
  }
  const local = (perZone: Record<string, number>) => ({ locality: 'r/a/', hostsPerLocality: () => new Map(Object.entries(perZone).map(([z, n]) => [`r/${z}/`, n])) });

  test('no healthy upstream in the local zone: no zone routing (never a zone with nothing to pick)', () => {
    const s = stats();
    const za = new ZoneAwareRouting(zoneAwareConfig({}, local({ b: 1 }))!, s, seeded());
    const st = state({ a: 2, b: 8 });
    for (const h of st.localities[0]!.hosts) setHealthFlag(h, HealthFlag.FAILED_OUTLIER_CHECK, true);
    st.localities[0]!.healthy = [];
    st.healthy = st.localities[1]!.hosts;
    for (let i = 0; i < 20; i++) assert.equal(za.chooseLocality(st), undefined);
  });

  test('upstream share in the local zone >= the callers share: everything stays local', () => {
    const s = stats();
    const za = new ZoneAwareRouting(zoneAwareConfig({}, local({ a: 1, b: 1 }))!, s, seeded());
    const st = state({ a: 4, b: 4 });
    for (let i = 0; i < 100; i++) assert.equal(za.chooseLocality(st), st.localities[0]);
    assert.equal(s.values.get('lb_zone_routing_all_directly'), 100);
  });

  test('otherwise upstream/local of the traffic stays local and the rest goes where there is spare capacity', () => {
    const s = stats();
    const za = new ZoneAwareRouting(zoneAwareConfig({}, local({ a: 3, b: 1, c: 0 }))!, s, seeded());
    // callers 75% / 25% / 0%, upstream 25% / 25% / 50%: a keeps 25/75 = 1/3; the rest to c only.
    const st = state({ a: 2, b: 2, c: 4 });
    const got = new Map<string, number>();
    for (let i = 0; i < 3000; i++) {
      const l = za.chooseLocality(st)!;
      got.set(l.key, (got.get(l.key) ?? 0) + 1);
    }
    assert.ok(Math.abs(got.get('r/a/')! / 3000 - 1 / 3) < 0.03, JSON.stringify([...got]));
    assert.equal(got.get('r/b/') ?? 0, 0);
    assert.ok(Math.abs(got.get('r/c/')! / 3000 - 2 / 3) < 0.03);
  });

  test('below min_cluster_size healthy upstream hosts, or without a local cluster, no zone routing', () => {
    const s = stats();
    const za = new ZoneAwareRouting(zoneAwareConfig({ common_lb_config: { zone_aware_lb_config: { min_cluster_size: 10 } } }, local({ a: 1 }))!, s, seeded());
    assert.equal(za.chooseLocality(state({ a: 2, b: 2 })), undefined);
    assert.equal(s.values.get('lb_zone_cluster_too_small'), 1);
    assert.equal(zoneAwareConfig({}, undefined), undefined);
  });
});

describe('pilot: failoverPriority and warmup', () => {
  const svc = (policy: string) => `apiVersion: v1
kind: Service
metadata: {name: web}
spec: {selector: {app: web}, ports: [{name: http, port: 80, targetPort: 8080}]}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: web}
spec:
  host: web
  trafficPolicy:
${policy}
`;
  const NAME = 'outbound|80||web.default.svc.cluster.local';

  test('failoverPriority: endpoints ranked by how many of the labels, in order, match the caller; with failover, locality next', () => {
    const pods = [
      workload('same', '127.0.5.1', { app: 'web', tier: 'gold', track: 'x' }, { locality: { region: 'us', zone: 'a' } }),
      workload('tier', '127.0.5.2', { app: 'web', tier: 'gold', track: 'y' }, { locality: { region: 'us', zone: 'a' } }),
      workload('none', '127.0.5.3', { app: 'web', tier: 'silver', track: 'x' }, { locality: { region: 'us', zone: 'a' } }),
      workload('far', '127.0.5.4', { app: 'web', tier: 'gold', track: 'x' }, { locality: { region: 'eu', zone: 'b' } }),
    ];
    const caller = parseProxy(sidecarNode(workload('client', '127.0.5.9', { app: 'client', tier: 'gold', track: 'x' }, { locality: { region: 'us', zone: 'a' } })));
    const priorities = (setting: string) => {
      const push = pushFromYaml(
        svc(`    loadBalancer:
      localityLbSetting: ${setting}
    outlierDetection: {consecutive5xxErrors: 3}`),
        pods,
      );
      const prio: Record<string, number> = {};
      for (const l of buildLoadAssignment(push, caller, NAME)!.endpoints) for (const e of l.lb_endpoints) prio[e.endpoint.address.socket_address.address] = l.priority ?? 0;
      return { prio, cluster: generate(push, caller, TYPE.CLUSTER, [NAME])[0]!.resource };
    };
    // Labels alone: both labels match (here or far) 0, one label 1, none 2.
    const labelsOnly = priorities('{failoverPriority: [tier, track]}');
    assert.deepEqual(labelsOnly.prio, { '127.0.5.1': 0, '127.0.5.4': 0, '127.0.5.2': 1, '127.0.5.3': 2 });
    assert.deepEqual(labelsOnly.cluster.common_lb_config.locality_weighted_lb_config, {});
    // With failover too, locality closeness orders endpoints within a label rank (Istio: rank x 5 + locality).
    assert.deepEqual(priorities('{failoverPriority: [tier, track], failover: [{from: us, to: eu}]}').prio, { '127.0.5.1': 0, '127.0.5.4': 1, '127.0.5.2': 2, '127.0.5.3': 3 });
    // "label=value": the endpoint must carry that value, whatever the caller has.
    assert.deepEqual(priorities('{failoverPriority: ["tier=silver"]}').prio, { '127.0.5.3': 0, '127.0.5.1': 1, '127.0.5.2': 1, '127.0.5.4': 1 });
  });

  test("without localityLbSetting, Istio's default (enabled) prioritises by closeness once outlier detection is on; enabled: false turns it off", () => {
    const pods = [
      workload('near', '127.0.5.1', { app: 'web' }, { locality: { region: 'us', zone: 'a' } }),
      workload('zone', '127.0.5.2', { app: 'web' }, { locality: { region: 'us', zone: 'b' } }),
      workload('far', '127.0.5.3', { app: 'web' }, { locality: { region: 'eu', zone: 'c' } }),
    ];
    const caller = parseProxy(sidecarNode(workload('client', '127.0.5.9', { app: 'client' }, { locality: { region: 'us', zone: 'a' } })));
    const priorities = (policy: string) => {
      const prio: Record<string, number> = {};
      for (const l of buildLoadAssignment(pushFromYaml(svc(policy), pods), caller, NAME)!.endpoints) for (const e of l.lb_endpoints) prio[e.endpoint.address.socket_address.address] = l.priority ?? 0;
      return prio;
    };
    assert.deepEqual(priorities('    outlierDetection: {consecutive5xxErrors: 3}'), { '127.0.5.1': 0, '127.0.5.2': 1, '127.0.5.3': 2 });
    assert.deepEqual(priorities('    loadBalancer: {simple: RANDOM}'), { '127.0.5.1': 0, '127.0.5.2': 0, '127.0.5.3': 0 });
    assert.deepEqual(priorities('    loadBalancer: {localityLbSetting: {enabled: false}}\n    outlierDetection: {consecutive5xxErrors: 3}'), { '127.0.5.1': 0, '127.0.5.2': 0, '127.0.5.3': 0 });
  });

  test('warmup and warmupDurationSecs become slow_start_config on ROUND_ROBIN / LEAST_REQUEST', () => {
    const caller = parseProxy(sidecarNode(workload('client', '127.0.5.9', {})));
    const cluster = (lb: string) => generate(pushFromYaml(svc(lb), []), caller, TYPE.CLUSTER, [NAME])[0]!.resource;
    assert.deepEqual(cluster('    loadBalancer: {simple: ROUND_ROBIN, warmup: {duration: 60s, aggression: 2, minimumPercent: 5}}').round_robin_lb_config, {
      slow_start_config: { slow_start_window: '60s', aggression: { default_value: 2, runtime_key: 'upstream.slow_start.aggression' }, min_weight_percent: { value: 5 } },
    });
    assert.deepEqual(cluster('    loadBalancer: {warmupDurationSecs: 30s}').least_request_lb_config, { slow_start_config: { slow_start_window: '30s' } });
    assert.equal(cluster('    loadBalancer: {simple: RANDOM, warmupDurationSecs: 30s}').round_robin_lb_config, undefined);
  });
});

describe('zone-aware routing through a real proxy (bootstrap local_cluster_name + node locality)', () => {
  const zoned = (name: string, hosts: { port: number; zone: string }[], extra: Record<string, unknown> = {}) => ({
    name,
    type: 'STATIC',
    connect_timeout: '1s',
    lb_policy: 'ROUND_ROBIN',
    load_assignment: {
      cluster_name: name,
      endpoints: ['a', 'b'].map((zone) => ({
        locality: { region: 'r', zone },
        lb_endpoints: hosts.filter((h) => h.zone === zone).map((h) => ({ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: h.port } } } })),
      })),
    },
    ...extra,
  });

  test("callers spread 50/50 over zones a and b, upstream 25/75: zone a keeps 50% of the caller's traffic (Envoy: 25/50 local, the rest cross-zone)", async () => {
    const tags = await Promise.all(['a1', 'b1', 'b2', 'b3'].map(startTag));
    const up = [{ port: tags[0].port, zone: 'a' }, ...tags.slice(1).map((t) => ({ port: t.port, zone: 'b' }))];
    // The local cluster: this service's own instances, one per zone (ports never dialled).
    const local = zoned('local', [{ port: 1, zone: 'a' }, { port: 2, zone: 'b' }]);
    const zoneAware = { common_lb_config: { zone_aware_lb_config: { min_cluster_size: 1 } } };
    const proxy = await startProxy(
      { clusters: [local, zoned('up', up, zoneAware), zoned('plain', up)], listeners: [tcpListener('za', 'up'), tcpListener('plain', 'plain')] },
      { extra: { node: { id: 'caller', cluster: 'test', locality: { region: 'r', zone: 'a' } }, cluster_manager: { local_cluster_name: 'local' } } },
    );
    try {
      const count = async (listener: string, n: number) => {
        const m = new Map<string, number>();
        for (let i = 0; i < n; i++) {
          const t = await roundTrip(proxy.port(listener), '');
          m.set(t, (m.get(t) ?? 0) + 1);
        }
        return m;
      };
      const za = await count('za', 400);
      const plain = await count('plain', 400);
      console.log(`zone-aware: zone a got ${za.get('a1')}/400 (without zone_aware_lb_config: ${plain.get('a1')}/400)`);
      assert.equal(plain.get('a1'), 100);
      assert.ok(Math.abs((za.get('a1') ?? 0) / 400 - 0.5) < 0.08, `zone a share ${za.get('a1')}/400`);
      assert.ok(proxy.server.store.counter('cluster.up.lb_zone_routing_sampled').value() > 0);
    } finally {
      await proxy.close();
      await Promise.all(tags.map((t) => t.close()));
    }
  });
});
