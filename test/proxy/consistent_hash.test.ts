/**
 * RING_HASH and MAGLEV: unit tests on the load balancers (stickiness, spread by weight, minimal
 * remapping, unhealthy and retry-excluded hosts, no hash key) and through a real proxy (HTTP route
 * hash_policy on a header, clusters as pilot emits them for a DestinationRule consistentHash).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Stats, UpstreamHost } from '../../src/proxy/interfaces.ts';
import { makeHost } from '../../src/proxy/upstream/eds.ts';
import { buildRing, RingHashLoadBalancer, ringHashConfig } from '../../src/proxy/upstream/ring_hash.ts';
import { buildTable, isPrime, MaglevLoadBalancer, maglevTableSize } from '../../src/proxy/upstream/maglev.ts';
import { validateCluster } from '../../src/proxy/config/validation.ts';
import { hash53 } from '../../src/proxy/upstream/consistent_hash.ts';
import type { LoadBalancer } from '../../src/proxy/upstream/load_balancer.ts';
import { applyTrafficPolicy, hashPolicyFromLb } from '../../src/pilot/cluster/policy.ts';
import { TYPE, type EnvoyJson } from '../../src/xds/types.ts';
import { startProxy, staticCluster, type Proxy } from './helpers.ts';
import { request, startUpstream, type Upstream } from './http/harness.ts';

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

const hosts = (n: number, weights: number[] = []) => Array.from({ length: n }, (_, i) => makeHost(`10.0.0.${i + 1}`, 8080, weights[i] ?? 1));
const keys = (n: number) => Array.from({ length: n }, (_, i) => `user-${i}`);

function assign(lb: LoadBalancer, ks: string[]): Map<string, UpstreamHost> {
  const m = new Map<string, UpstreamHost>();
  for (const k of ks) m.set(k, lb.chooseHost({ hashKey: k })!);
  return m;
}

function counts(m: Map<string, UpstreamHost>): Map<UpstreamHost, number> {
  const c = new Map<UpstreamHost, number>();
  for (const h of m.values()) c.set(h, (c.get(h) ?? 0) + 1);
  return c;
}

const KINDS: { name: string; make: (random?: () => number) => LoadBalancer }[] = [
  { name: 'RING_HASH', make: (random) => new RingHashLoadBalancer(stats(), { minimumRingSize: 1024, maximumRingSize: 8 * 1024 * 1024 }, random) },
  { name: 'MAGLEV', make: (random) => new MaglevLoadBalancer(stats(), 65537, random) },
];

for (const kind of KINDS) {
  describe(`${kind.name} load balancer`, () => {
    test('the same key always maps to the same host, also on a freshly built balancer', () => {
      const hs = hosts(5);
      const a = kind.make();
      a.update([hs]);
      const b = kind.make();
      b.update([[...hs].reverse()]); // EDS order must not matter
      for (const k of keys(500)) {
        const h = a.chooseHost({ hashKey: k });
        assert.ok(h);
        assert.equal(a.chooseHost({ hashKey: k }), h);
        assert.equal(b.chooseHost({ hashKey: k }), h);
      }
    });

    test('keys spread over hosts by weight (3,000 keys, each host within ±25% of its share)', () => {
      for (const weights of [[1, 1, 1], [1, 2, 3]]) {
        const hs = hosts(3, weights);
        const lb = kind.make();
        lb.update([hs]);
        const c = counts(assign(lb, keys(3000)));
        const total = weights.reduce((x, y) => x + y, 0);
        hs.forEach((h, i) => {
          const share = (3000 * weights[i]) / total;
          const got = c.get(h) ?? 0;
          assert.ok(Math.abs(got - share) <= share * 0.25, `weights ${weights}: host ${i} got ${got}, share ${share}`);
        });
      }
    });

    test('removing one of 4 hosts remaps only about the keys that were on it', () => {
      const hs = hosts(4);
      const lb = kind.make();
      lb.update([hs]);
      const ks = keys(4000);
      const before = assign(lb, ks);
      const gone = hs[2];
      lb.update([hs.filter((h) => h !== gone)]);
      const after = assign(lb, ks);
      let kept = 0;
      let stayed = 0;
      let moved = 0;
      for (const k of ks) {
        assert.notEqual(after.get(k), gone);
        if (before.get(k) === gone) continue;
        kept++;
        if (after.get(k) === before.get(k)) stayed++;
        else moved++;
      }
      // Ring hash moves none of them; Maglev promises minimal, not zero, disruption.
      if (kind.name === 'RING_HASH') assert.equal(moved, 0);
      else assert.ok(stayed / kept >= 0.95, `maglev kept ${stayed}/${kept}`);
    });

    test('an unhealthy host is skipped; only its keys move, and back when it recovers', () => {
      const hs = hosts(4);
      const lb = kind.make();
      lb.update([hs]);
      const ks = keys(2000);
      const before = assign(lb, ks);
      hs[1].healthy = false;
      lb.update([hs]);
      const during = assign(lb, ks);
      for (const k of ks) {
        assert.notEqual(during.get(k), hs[1]);
        if (before.get(k) !== hs[1]) assert.equal(during.get(k), before.get(k), 'keys of healthy hosts stay');
      }
      // The orphaned keys spread over the others rather than all landing on one neighbour.
      const orphans = new Set(ks.filter((k) => before.get(k) === hs[1]).map((k) => during.get(k)));
      assert.ok(orphans.size >= 2, `orphaned keys went to ${orphans.size} host(s)`);
      // Health flipped in place, without a host-set update (e.g. outlier detection), is honoured too.
      hs[1].healthy = true;
      hs[3].healthy = false;
      for (const k of ks.slice(0, 300)) assert.notEqual(lb.chooseHost({ hashKey: k }), hs[3]);
      lb.update([hs.map((h) => ((h.healthy = true), h))]);
      assert.deepEqual(assign(lb, ks), before);
    });

    test('retries: excluded hosts are avoided, deterministically per key; all excluded still answers', () => {
      const hs = hosts(3);
      const lb = kind.make();
      lb.update([hs]);
      for (const k of keys(50)) {
        const first = lb.chooseHost({ hashKey: k })!;
        const second = lb.chooseHost({ hashKey: k, excludeHosts: new Set([first]) })!;
        assert.notEqual(second, first);
        assert.equal(lb.chooseHost({ hashKey: k, excludeHosts: new Set([first]) }), second);
        assert.ok(lb.chooseHost({ hashKey: k, excludeHosts: new Set(hs) }));
      }
    });

    test('without a hash key a random host is picked; priorities and panic as the other balancers', () => {
      const hs = hosts(3);
      let seed = 1;
      const random = () => ((seed = (seed * 16807) % 2147483647) - 1) / 2147483646;
      const lb = kind.make(random);
      lb.update([hs]);
      const seen = new Set<UpstreamHost>();
      for (let i = 0; i < 60; i++) seen.add(lb.chooseHost()!);
      assert.equal(seen.size, 3);

      // Priority 0 all unhealthy: priority 1 serves.
      const p0 = hosts(2).map((h) => ((h.healthy = false), h));
      const p1 = [makeHost('10.0.1.1', 80), makeHost('10.0.1.2', 80)];
      lb.update([p0, p1]);
      for (const k of keys(50)) assert.ok(p1.includes(lb.chooseHost({ hashKey: k })!));
      lb.update([]);
      assert.equal(lb.chooseHost({ hashKey: 'x' }), undefined);
    });
  });
}

test('ring size: minimum_ring_size to twice that, points by weight, every host on the ring, capped by maximum_ring_size', () => {
  const big = { minimumRingSize: 1024, maximumRingSize: 8 * 1024 * 1024 };
  const ring = buildRing(hosts(3, [1, 1, 100]), big);
  assert.ok(ring.hashes.length > 1024 && ring.hashes.length <= 2048, `ring of ${ring.hashes.length}`);
  assert.equal(ring.hostCount, 3);
  assert.equal(ring.owners.filter((h) => h.weight === 100).length, 100 * ring.owners.filter((h) => h.address === '10.0.0.1:8080').length);
  for (let i = 1; i < ring.hashes.length; i++) assert.ok(ring.hashes[i - 1] <= ring.hashes[i]);
  // A host's points do not depend on the others while the total weight stays in its band (3 and 4 hosts here).
  const pointsOf = (r: ReturnType<typeof buildRing>, addr: string) => [...r.hashes].filter((_, i) => r.owners[i].address === addr);
  assert.deepEqual(pointsOf(buildRing(hosts(4), big), '10.0.0.1:8080'), pointsOf(buildRing(hosts(3), big), '10.0.0.1:8080'));
  // More weight than minimum_ring_size: one point per unit of weight.
  assert.equal(buildRing(hosts(3, [500, 600, 700]), big).hashes.length, 1800);
  assert.equal(buildRing(hosts(3), { minimumRingSize: 64, maximumRingSize: 100 }).hashes.length, 96);
  assert.equal(buildRing(hosts(3), { minimumRingSize: 50, maximumRingSize: 30 }).hashes.length, 30);
});

test('maglev table: fully filled, entries per host follow weights', () => {
  const hs = hosts(3, [1, 1, 2]);
  const t = buildTable(hs, 10007);
  const per = new Map<UpstreamHost, number>();
  for (const s of t.slots) per.set(t.hosts[s], (per.get(t.hosts[s]) ?? 0) + 1);
  assert.equal([...per.values()].reduce((a, b) => a + b, 0), 10007);
  assert.ok(Math.abs(per.get(hs[2])! / 10007 - 0.5) < 0.01);
  assert.ok(Math.abs(per.get(hs[0])! / 10007 - 0.25) < 0.01);
});

test('config: defaults, limits and what NACKs', () => {
  assert.deepEqual(ringHashConfig({}), { minimumRingSize: 1024, maximumRingSize: 8 * 1024 * 1024 });
  assert.deepEqual(ringHashConfig({ ring_hash_lb_config: { minimum_ring_size: '2048', hash_function: 'MURMUR_HASH_2' } }), { minimumRingSize: 2048, maximumRingSize: 8 * 1024 * 1024 });
  assert.match(String(ringHashConfig({ ring_hash_lb_config: { minimum_ring_size: 10, maximum_ring_size: 5 } })), /must not exceed/);
  assert.match(String(ringHashConfig({ ring_hash_lb_config: { maximum_ring_size: 9_000_000 } })), /between 1 and 8388608/);
  assert.equal(maglevTableSize({}), 65537);
  assert.equal(maglevTableSize({ maglev_lb_config: { table_size: 5000011 } }), 5000011);
  assert.match(String(maglevTableSize({ maglev_lb_config: { table_size: 1000 } })), /prime/);
  assert.match(String(maglevTableSize({ maglev_lb_config: { table_size: 5000077 } })), /must not exceed 5000011/);
  assert.ok(isPrime(65537) && !isPrime(65535) && !isPrime(1));
  // The typed load_balancing_policy form reads the same settings.
  const typed = { lb_policy: 'LOAD_BALANCING_POLICY_CONFIG', load_balancing_policy: { policies: [{ typed_extension_config: { name: 'm', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.load_balancing_policies.maglev.v3.Maglev', table_size: 7 } } }] } };
  assert.equal(maglevTableSize(typed), 7);
  // hash53: deterministic, 53 bits, sensitive to every character.
  assert.equal(hash53('abc'), hash53('abc'));
  assert.notEqual(hash53('abc'), hash53('abd'));
  assert.ok(Number.isSafeInteger(hash53('x'.repeat(100))) && hash53('') >= 0);
});

// ---------- through a real proxy ----------

const HCM = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
const ROUTER = 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router';

/** A cluster as pilot builds it for a DestinationRule with loadBalancer.consistentHash. */
function pilotCluster(name: string, ports: number[], loadBalancer: Record<string, any>): EnvoyJson {
  const c = staticCluster(name, ports);
  applyTrafficPolicy(c, { loadBalancer }, { http: true, http2: false, defaultLb: 'LEAST_REQUEST' });
  return c;
}

describe('consistent hashing through a real proxy', () => {
  const RING_LB = { consistentHash: { httpHeaderName: 'x-user', ringHash: { minimumRingSize: 2048 } } };
  const MAGLEV_LB = { consistentHash: { httpHeaderName: 'x-user', maglev: { tableSize: 65537 } } };
  let ups: Upstream[];
  let proxy: Proxy;
  before(async () => {
    ups = await Promise.all(['u1', 'u2', 'u3'].map((n) => startUpstream(n)));
    const ports = ups.map((u) => u.port);
    const route = (prefix: string, cluster: string, lb: Record<string, any>) => ({ match: { prefix }, route: { cluster, hash_policy: hashPolicyFromLb(lb) } });
    proxy = await startProxy({
      clusters: [pilotCluster('ring', ports, RING_LB), pilotCluster('maglev', ports, MAGLEV_LB)],
      listeners: [
        {
          name: 'http',
          address: { socket_address: { address: '127.0.0.1', port_value: 0 } },
          filter_chains: [
            {
              filters: [
                {
                  name: 'envoy.filters.network.http_connection_manager',
                  typed_config: {
                    '@type': HCM,
                    stat_prefix: 'hash',
                    route_config: { name: 'local', virtual_hosts: [{ name: 'all', domains: ['*'], routes: [route('/maglev', 'maglev', MAGLEV_LB), route('/', 'ring', RING_LB)] }] },
                    http_filters: [{ name: 'envoy.filters.http.router', typed_config: { '@type': ROUTER } }],
                  },
                },
              ],
            },
          ],
        },
      ],
    });
  });
  after(async () => {
    await proxy.close();
    await Promise.all(ups.map((u) => u.close()));
  });

  test('pilot emits RING_HASH / MAGLEV and the proxy runs them', () => {
    assert.equal(proxy.server.clusters.get('ring')!.lbPolicy, 'RING_HASH');
    assert.equal(proxy.server.clusters.get('maglev')!.lbPolicy, 'MAGLEV');
    assert.equal(proxy.server.store.gauge('cluster.ring.ring_hash_lb.size').value() >= 2048, true);
    assert.equal(proxy.server.store.gauge('cluster.maglev.maglev_lb.max_entries_per_host').value() > 0, true);
  });

  for (const path of ['/ring', '/maglev']) {
    test(`${path}: the same x-user always reaches the same upstream; users spread over upstreams`, async () => {
      const port = proxy.port('http');
      const byUser = new Map<string, string>();
      for (let round = 0; round < 3; round++) {
        for (let u = 0; u < 24; u++) {
          const r = await request(port, { path, headers: { 'x-user': `user-${u}` } });
          assert.equal(r.status, 200);
          const name = JSON.parse(r.body).name as string;
          const prev = byUser.get(`user-${u}`);
          if (prev) assert.equal(name, prev, `user-${u} moved from ${prev} to ${name}`);
          byUser.set(`user-${u}`, name);
        }
      }
      assert.equal(new Set(byUser.values()).size, 3, 'all three upstreams serve some users');
      // No x-user: no hash key, a random upstream each time, still served.
      assert.equal((await request(port, { path })).status, 200);
    });
  }

  test('CDS: RING_HASH and MAGLEV clusters are accepted (no NACK); a non-prime table_size is rejected', () => {
    const s = proxy.server;
    const ports = ups.map((u) => u.port);
    const cds = [
      staticCluster('cds-ring', ports, { lb_policy: 'RING_HASH', ring_hash_lb_config: { minimum_ring_size: 512, maximum_ring_size: 4096, hash_function: 'XX_HASH' } }),
      staticCluster('cds-maglev', ports, { lb_policy: 'MAGLEV', maglev_lb_config: { table_size: 251 } }),
      staticCluster('cds-default', ports, { lb_policy: 'MAGLEV' }),
    ];
    assert.deepEqual(s.setResources(TYPE.CLUSTER, cds, 'hash-v1'), { ok: true });
    assert.equal(s.clusters.get('cds-ring')!.lbPolicy, 'RING_HASH');
    assert.ok(s.clusters.get('cds-maglev')!.chooseHost({ hashKey: 'k' }));
    const bad = s.setResources(TYPE.CLUSTER, [...cds, staticCluster('cds-bad', ports, { lb_policy: 'MAGLEV', maglev_lb_config: { table_size: 1000 } })], 'hash-v2');
    assert.equal(bad.ok, false);
    assert.match((bad as { error: string }).error, /cluster cds-bad\.maglev_lb_config: table_size 1000 must be a prime number/);
  });
});

test('hashing options tsmesh does not implement are rejected, not silently ignored', () => {
  const hostnames = { common_lb_config: { consistent_hashing_lb_config: { use_hostname_for_hashing: true } } };
  const bounded = { common_lb_config: { consistent_hashing_lb_config: { hash_balance_factor: 150 } } };
  assert.match(String(ringHashConfig(hostnames)), /use_hostname_for_hashing is not supported/);
  assert.match(String(ringHashConfig(bounded)), /hash_balance_factor is not supported/);
  assert.match(String(maglevTableSize(bounded)), /hash_balance_factor is not supported/);
  assert.equal(maglevTableSize({ common_lb_config: { consistent_hashing_lb_config: { hash_balance_factor: 0 } } }), 65537);
  // What the xDS layer checks before applying: the cluster is NACKed with the reason.
  const errs = validateCluster({ name: 'c', type: 'STATIC', lb_policy: 'RING_HASH', load_assignment: { cluster_name: 'c', endpoints: [] }, ...bounded });
  assert.ok(errs.some((e) => /hash_balance_factor is not supported/.test(e)), errs.join('; '));
});
