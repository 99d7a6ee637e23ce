/**
 * Envoy's dynamic forward proxy: the cluster (cluster_type envoy.clusters.dynamic_forward_proxy)
 * and the HTTP filter (envoy.filters.http.dynamic_forward_proxy) in a real ProxyServer, reached
 * over HTTP: the upstream is whatever the Host names. Plus the DNS cache on its own, with a fake
 * resolver, for what real DNS cannot show on demand (shared lookups, failures, TTL, limits).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startProxy, until, type Proxy } from './helpers.ts';
import { request, startUpstream } from './http/harness.ts';
import { TYPE } from '../../src/xds/types.ts';
import { DnsCache, type LookupFn } from '../../src/proxy/upstream/dns_cache.ts';
import { parseAuthority } from '../../src/proxy/upstream/dynamic_forward_proxy_cluster.ts';
import { StatsStore } from '../../src/proxy/stats/stats_store.ts';
import type { EnvoyJson } from '../../src/xds/types.ts';

const HCM = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
const ROUTER = { name: 'envoy.filters.http.router', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' } };
const DFP_FILTER = 'type.googleapis.com/envoy.extensions.filters.http.dynamic_forward_proxy.v3.FilterConfig';
const DFP_CLUSTER = 'type.googleapis.com/envoy.extensions.clusters.dynamic_forward_proxy.v3.ClusterConfig';

function dnsCacheConfig(name: string, extra: EnvoyJson = {}): EnvoyJson {
  return { name, dns_lookup_family: 'V4_ONLY', ...extra };
}

function dfpCluster(name: string, cache: EnvoyJson): EnvoyJson {
  return {
    name,
    connect_timeout: '1s',
    lb_policy: 'CLUSTER_PROVIDED',
    cluster_type: { name: 'envoy.clusters.dynamic_forward_proxy', typed_config: { '@type': DFP_CLUSTER, dns_cache_config: cache } },
  };
}

function dfpListener(name: string, cluster: string, cache: EnvoyJson, routes?: EnvoyJson[]): EnvoyJson {
  return {
    name,
    address: { socket_address: { address: '127.0.0.1', port_value: 0 } },
    filter_chains: [
      {
        filters: [
          {
            name: 'envoy.filters.network.http_connection_manager',
            typed_config: {
              '@type': HCM,
              stat_prefix: name,
              route_config: { name: 'local', virtual_hosts: [{ name: 'any', domains: ['*'], routes: routes ?? [{ match: { prefix: '/' }, route: { cluster, timeout: '0s' } }] }] },
              http_filters: [{ name: 'envoy.filters.http.dynamic_forward_proxy', typed_config: { '@type': DFP_FILTER, dns_cache_config: cache } }, ROUTER],
            },
          },
        ],
      },
    ],
  };
}

async function startDfp(cacheName: string, cacheExtra: EnvoyJson = {}, routes?: EnvoyJson[]): Promise<Proxy> {
  const cache = dnsCacheConfig(cacheName, cacheExtra);
  return startProxy({ clusters: [dfpCluster('dfp', cache)], listeners: [dfpListener('dfp', 'dfp', cache, routes)] });
}

const counter = (p: Proxy, name: string) => p.server.store.counter(name).value();

test('the upstream is the Host: localhost:<port> through DNS, 127.0.0.1:<port> without; one keep-alive pool per host', async () => {
  const up = await startUpstream('outside');
  const proxy = await startDfp('c1');
  try {
    const port = proxy.port('dfp');
    // The first request waits for DNS (the filter stops iteration); its body is held, then sent.
    const r1 = await request(port, { method: 'POST', path: '/first', headers: { host: `localhost:${up.port}` }, body: 'payload' });
    assert.equal(r1.status, 200, r1.body);
    assert.equal(JSON.parse(r1.body).body, 'payload');
    assert.equal(up.seen[0]!.headers.host, `localhost:${up.port}`, 'the Host goes upstream unchanged');

    const r2 = await request(port, { path: '/literal', headers: { host: `127.0.0.1:${up.port}` } });
    assert.equal(r2.status, 200, r2.body);
    assert.equal(up.seen[1]!.url, '/literal');

    // Both names mean 127.0.0.1:<port>: one host, one connection pool.
    assert.deepEqual(proxy.server.clusters.get('dfp')!.allHosts().map((h) => h.address), [`127.0.0.1:${up.port}`]);
    assert.equal(counter(proxy, 'dns_cache.c1.dns_query_attempt'), 1, 'the IP literal needed no lookup');
    assert.equal(proxy.server.store.gauge('dns_cache.c1.num_hosts').value(), 2, `localhost:${up.port} and 127.0.0.1:${up.port}`);
    assert.equal(counter(proxy, 'cluster.dfp.upstream_cx_total'), 1, 'the keep-alive connection was reused');
  } finally {
    await proxy.close();
    await up.close();
  }
});

test('DNS cache reuse: later requests for a resolved host do not look it up again', async () => {
  const up = await startUpstream('outside');
  const proxy = await startDfp('c2');
  try {
    const port = proxy.port('dfp');
    // Concurrent first requests share one lookup.
    const first = await Promise.all([1, 2, 3].map((i) => request(port, { path: `/c${i}`, headers: { host: `localhost:${up.port}` } })));
    assert.deepEqual(first.map((r) => r.status), [200, 200, 200]);
    for (let i = 0; i < 3; i++) assert.equal((await request(port, { path: `/s${i}`, headers: { host: `LOCALHOST:${up.port}` } })).status, 200);
    assert.equal(counter(proxy, 'dns_cache.c2.dns_query_attempt'), 1);
    assert.equal(counter(proxy, 'dns_cache.c2.dns_query_success'), 1);
    assert.equal(up.seen.length, 6);
  } finally {
    await proxy.close();
    await up.close();
  }
});

test('a host that does not resolve: 503 "DNS resolution failure" with response flag DF; others keep working', async () => {
  const up = await startUpstream('outside');
  const proxy = await startDfp('c3');
  try {
    const port = proxy.port('dfp');
    const r = await request(port, { path: '/x', headers: { host: 'no-such-host.invalid' } });
    assert.equal(r.status, 503);
    assert.equal(r.body, 'DNS resolution failure');
    assert.equal(counter(proxy, 'http.dfp.response_flag.DF'), 1);
    assert.equal(counter(proxy, 'dns_cache.c3.dns_query_failure'), 1);
    // A Host no lookup could mean fails the same way, without asking DNS.
    const bad = await request(port, { path: '/x', headers: { host: `localhost:99999` } });
    assert.equal(bad.status, 503);
    assert.equal(counter(proxy, 'http.dfp.response_flag.DF'), 2);
    assert.equal(counter(proxy, 'dns_cache.c3.dns_query_attempt'), 1);
    assert.equal((await request(port, { path: '/ok', headers: { host: `127.0.0.1:${up.port}` } })).status, 200);
    assert.equal(up.seen.length, 1, 'nothing else reached the upstream');
  } finally {
    await proxy.close();
    await up.close();
  }
});

test('per-route host_rewrite_literal picks the upstream; max_hosts overflow answers 503', async () => {
  const [a, b] = await Promise.all([startUpstream('a'), startUpstream('b')]);
  const routes = [
    { match: { prefix: '/to-b' }, route: { cluster: 'dfp' }, typed_per_filter_config: { 'envoy.filters.http.dynamic_forward_proxy': { '@type': 'type.googleapis.com/envoy.extensions.filters.http.dynamic_forward_proxy.v3.PerRouteConfig', host_rewrite_literal: `127.0.0.1:${b.port}` } } },
    { match: { prefix: '/' }, route: { cluster: 'dfp' } },
  ];
  const proxy = await startDfp('c4', { max_hosts: 2 }, routes);
  try {
    const port = proxy.port('dfp');
    const r = await request(port, { path: '/to-b', headers: { host: `127.0.0.1:${a.port}` } });
    assert.equal(r.status, 200, r.body);
    assert.equal(JSON.parse(r.body).name, 'b');
    assert.equal(b.seen[0]!.headers.host, `127.0.0.1:${b.port}`);
    assert.equal((await request(port, { path: '/', headers: { host: `127.0.0.1:${a.port}` } })).status, 200);
    const over = await request(port, { path: '/', headers: { host: '127.0.0.2:1' } });
    assert.equal(over.status, 503);
    assert.equal(over.body, 'DNS cache overflow');
    assert.equal(counter(proxy, 'dns_cache.c4.host_overflow'), 1);
  } finally {
    await proxy.close();
    await Promise.all([a.close(), b.close()]);
  }
});

test('CDS: a dynamic forward proxy cluster is accepted; bad ones are NACKed with the field named', async () => {
  const proxy = await startProxy({ listeners: [] });
  const s = proxy.server;
  try {
    assert.deepEqual(s.setResources(TYPE.CLUSTER, [dfpCluster('ok', dnsCacheConfig('c5'))], 'v1'), { ok: true });
    assert.ok(s.clusters.get('ok')?.dynamicHosts, 'active at once: hosts come with requests');
    const noCache = dfpCluster('bad', {});
    delete noCache.cluster_type.typed_config.dns_cache_config;
    const r1 = s.setResources(TYPE.CLUSTER, [noCache], 'v2');
    assert.match((r1 as { error: string }).error, /cluster bad\.cluster_type\.typed_config\.dns_cache_config: required/);
    const r2 = s.setResources(TYPE.CLUSTER, [{ ...dfpCluster('bad', dnsCacheConfig('c5')), lb_policy: 'ROUND_ROBIN' }], 'v2');
    assert.match((r2 as { error: string }).error, /cluster bad\.lb_policy: ROUND_ROBIN is not valid for cluster type envoy\.clusters\.dynamic_forward_proxy/);
    const r3 = s.setResources(TYPE.CLUSTER, [{ name: 'other', connect_timeout: '1s', cluster_type: { name: 'envoy.clusters.redis' } }], 'v2');
    assert.match((r3 as { error: string }).error, /custom cluster type envoy\.clusters\.redis is not supported/);
    // Removing the cluster releases its cache.
    assert.ok(s.clusters.dnsCaches.get('c5'));
    s.setResources(TYPE.CLUSTER, [], 'v3');
    assert.equal(s.clusters.dnsCaches.get('c5'), undefined);
  } finally {
    await proxy.close();
  }
});

// ---------- the DNS cache alone ----------

function fakeDns(answers: Record<string, string[] | Error>): { lookup: LookupFn; calls: string[]; release: () => void } {
  const calls: string[] = [];
  let gate: () => void = () => {};
  const opened = new Promise<void>((r) => (gate = r));
  return {
    calls,
    release: () => gate(),
    lookup: async (host) => {
      calls.push(host);
      await opened;
      const a = answers[host];
      if (!a || a instanceof Error) throw a ?? Object.assign(new Error('ENOTFOUND'), { code: 'ENOTFOUND' });
      return a;
    },
  };
}

test('DnsCache: one lookup per name however many wait; IP literals need none; lookup family preference', async () => {
  const dns = fakeDns({ 'a.test': ['2001:db8::1', '10.0.0.1'], 'b.test': ['2001:db8::2', '10.0.0.2'] });
  const auto = new DnsCache({ name: 'x' }, new StatsStore().scope('x.'), dns.lookup);
  const v4pref = new DnsCache({ name: 'y', dns_lookup_family: 'V4_PREFERRED' }, new StatsStore().scope('y.'), dns.lookup);
  try {
    const l1 = auto.load('a.test', 80);
    const l2 = auto.load('a.test', 80);
    assert.equal(l1.status, 'Loading');
    assert.equal(l2.status, 'Loading');
    const l3 = v4pref.load('b.test', 80);
    dns.release();
    assert.equal(await (l1 as { done: Promise<string | undefined> }).done, '2001:db8::1', 'AUTO prefers IPv6');
    assert.equal(await (l3 as { done: Promise<string | undefined> }).done, '10.0.0.2', 'V4_PREFERRED prefers IPv4');
    assert.deepEqual(dns.calls, ['a.test', 'b.test']);
    assert.deepEqual(auto.load('a.test', 80), { status: 'InCache', address: '2001:db8::1' });
    assert.deepEqual(auto.load('192.0.2.7', 8080), { status: 'InCache', address: '192.0.2.7' });
    assert.deepEqual(auto.resolved().sort((x, y) => x.port - y.port), [{ address: '2001:db8::1', port: 80 }, { address: '192.0.2.7', port: 8080 }]);
    assert.equal(dns.calls.length, 2);
  } finally {
    auto.close();
    v4pref.close();
  }
});

test('DnsCache: unused hosts are purged after host_ttl (at refresh); a failed refresh keeps the address', async () => {
  const answers: Record<string, string[] | Error> = { 'k.test': ['10.0.0.9'], 'gone.test': ['10.0.0.8'] };
  const dns = fakeDns(answers);
  dns.release();
  const store = new StatsStore();
  const cache = new DnsCache({ name: 'z', dns_refresh_rate: '0.02s', host_ttl: '0.2s' }, store.scope('z.'), dns.lookup);
  let updates = 0;
  cache.onUpdate(() => updates++);
  try {
    assert.equal(await (cache.load('k.test', 80) as { done: Promise<string | undefined> }).done, '10.0.0.9');
    assert.equal(await (cache.load('gone.test', 80) as { done: Promise<string | undefined> }).done, '10.0.0.8');
    answers['k.test'] = new Error('SERVFAIL');
    // Keep k.test in use while its refreshes fail: it keeps its address.
    const keepUsing = setInterval(() => cache.load('k.test', 80), 10);
    try {
      await until(() => store.counter('z.host_removed').value() === 1, 'gone.test purged', 5000);
      await until(() => store.counter('z.dns_query_failure').value() >= 2, 'failed refreshes', 5000);
      assert.deepEqual(cache.load('k.test', 80), { status: 'InCache', address: '10.0.0.9' });
      assert.deepEqual(cache.resolved(), [{ address: '10.0.0.9', port: 80 }]);
      assert.ok(updates >= 3, 'added twice, removed once');
    } finally {
      clearInterval(keepUsing);
    }
  } finally {
    cache.close();
  }
});

test('parseAuthority: default port, IPv6 brackets, case; nonsense is refused', () => {
  assert.deepEqual(parseAuthority('Example.COM', 80), { host: 'example.com', port: 80 });
  assert.deepEqual(parseAuthority('example.com', 443), { host: 'example.com', port: 443 });
  assert.deepEqual(parseAuthority('localhost:8080', 80), { host: 'localhost', port: 8080 });
  assert.deepEqual(parseAuthority('[::1]:9000', 80), { host: '::1', port: 9000 });
  assert.deepEqual(parseAuthority('[::1]', 80), { host: '::1', port: 80 });
  for (const bad of ['', ':80', 'h:0', 'h:99999', 'h:x', '::1', '[::1', '[nope]:80']) assert.equal(parseAuthority(bad, 80), undefined, bad);
});
