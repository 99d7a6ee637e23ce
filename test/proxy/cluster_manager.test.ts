/** Cluster types, EDS updates, load balancing and rejected config, seen through real connections. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TYPE } from '../../src/xds/types.ts';
import { roundTrip, startEcho, startProxy, startTag, staticCluster, tcpListener, until } from './helpers.ts';
import { setOriginalDestination } from '../../src/proxy/listener/original_dst.ts';
import { secretFetchTimeoutMs } from '../../src/proxy/upstream/cluster_manager.ts';

const eds = (name: string) => ({ name, type: 'EDS', connect_timeout: '1s', eds_cluster_config: { eds_config: { ads: {}, resource_api_version: 'V3' } } });
const cla = (name: string, ports: number[], extra: object = {}) => ({
  cluster_name: name,
  endpoints: [{ lb_endpoints: ports.map((p) => ({ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: p } } }, ...extra })) }],
});

async function tags(port: number, n: number): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const t = await roundTrip(port, '');
    out.set(t, (out.get(t) ?? 0) + 1);
  }
  return out;
}

test('round robin spreads connections evenly over a STATIC cluster, and by weight', async () => {
  const hosts = await Promise.all(['a', 'b', 'c'].map(startTag));
  const weighted = staticCluster('w', []);
  weighted.load_assignment.endpoints[0].lb_endpoints = [
    { endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: hosts[0].port } } }, load_balancing_weight: 3 },
    { endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: hosts[1].port } } }, load_balancing_weight: 1 },
  ];
  const proxy = await startProxy({ clusters: [staticCluster('rr', hosts.map((h) => h.port)), weighted], listeners: [tcpListener('rr', 'rr'), tcpListener('w', 'w')] });
  try {
    assert.deepEqual([...(await tags(proxy.port('rr'), 9))].sort(), [['a', 3], ['b', 3], ['c', 3]]);
    assert.deepEqual([...(await tags(proxy.port('w'), 8))].sort(), [['a', 6], ['b', 2]]);
    assert.equal(proxy.server.store.gauge('cluster.rr.membership_total').value(), 3);
  } finally {
    await proxy.close();
    await Promise.all(hosts.map((h) => h.close()));
  }
});

test('STRICT_DNS resolves localhost; LOGICAL_DNS uses one address', async () => {
  const echo = await startEcho();
  const dns = (name: string, type: string) => ({ ...staticCluster(name, []), type, dns_lookup_family: 'V4_ONLY', load_assignment: { cluster_name: name, endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: 'localhost', port_value: echo.port } } } }] }] } });
  const proxy = await startProxy({ clusters: [dns('strict', 'STRICT_DNS'), dns('logical', 'LOGICAL_DNS')], listeners: [tcpListener('s', 'strict'), tcpListener('l', 'logical')] });
  try {
    assert.equal(await roundTrip(proxy.port('s'), 'dns'), 'dns');
    assert.equal(await roundTrip(proxy.port('l'), 'dns'), 'dns');
    assert.deepEqual(proxy.server.clusters.get('strict')!.allHosts().map((h) => h.address), [`127.0.0.1:${echo.port}`]);
    assert.equal(proxy.server.clusters.get('logical')!.allHosts().length, 1);
  } finally {
    await proxy.close();
    await echo.close();
  }
});

test('ORIGINAL_DST: the upstream is the connection original destination', async () => {
  const echo = await startEcho();
  // Stand-in for SO_ORIGINAL_DST: every connection "was headed" to the echo server.
  setOriginalDestination(() => ({ ip: '127.0.0.1', port: echo.port }));
  const proxy = await startProxy({
    clusters: [{ name: 'PassthroughCluster', type: 'ORIGINAL_DST', lb_policy: 'CLUSTER_PROVIDED', connect_timeout: '1s' }],
    listeners: [tcpListener('passthrough', 'PassthroughCluster', 0, { listener_filters: [{ name: 'envoy.filters.listener.original_dst', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.listener.original_dst.v3.OriginalDst' } }] })],
  });
  try {
    assert.equal(await roundTrip(proxy.port('passthrough'), 'to the original destination'), 'to the original destination');
    assert.deepEqual(proxy.server.clusters.get('PassthroughCluster')!.allHosts().map((h) => h.port), [echo.port]);
  } finally {
    setOriginalDestination(undefined);
    await proxy.close();
    await echo.close();
  }
});

test('EDS: a cluster warms until its endpoints arrive; an update changes hosts; unhealthy hosts are skipped', async () => {
  const [a, b, c] = await Promise.all(['a', 'b', 'c'].map(startTag));
  const proxy = await startProxy({ listeners: [] });
  const s = proxy.server;
  try {
    assert.deepEqual(s.setResources(TYPE.CLUSTER, [eds('svc')], 'v1'), { ok: true });
    assert.equal(s.clusters.get('svc'), undefined, 'warming until EDS');
    assert.ok(s.clusters.warming.has('svc'));
    assert.deepEqual(s.setResources(TYPE.ENDPOINT, [cla('svc', [a.port, b.port])], 'v1'), { ok: true });
    assert.ok(s.clusters.get('svc'), 'active after EDS');
    assert.deepEqual(s.setResources(TYPE.LISTENER, [tcpListener('svc', 'svc')], 'v1'), { ok: true });
    await s.listeners.listening();
    const port = s.listeners.active.get('svc')!.boundPort;
    assert.deepEqual([...(await tags(port, 4)).keys()].sort(), ['a', 'b']);
    s.setResources(TYPE.ENDPOINT, [cla('svc', [c.port])], 'v2');
    assert.deepEqual([...(await tags(port, 3)).keys()], ['c']);
    const mixed = cla('svc', [a.port, b.port, c.port]);
    mixed.endpoints[0].lb_endpoints[0] = { ...mixed.endpoints[0].lb_endpoints[0], health_status: 'UNHEALTHY' } as any;
    s.setResources(TYPE.ENDPOINT, [mixed], 'v3');
    assert.deepEqual([...(await tags(port, 6)).keys()].sort(), ['b', 'c']);
    assert.equal(s.store.gauge('cluster.svc.membership_healthy').value(), 2);
  } finally {
    await proxy.close();
    await Promise.all([a, b, c].map((h) => h.close()));
  }
});

test('an invalid cluster (bad lb config, unknown lb_policy) or listener (unknown filter) is rejected; the previous one keeps serving', async () => {
  const [a, b] = await Promise.all(['a', 'b'].map(startTag));
  const proxy = await startProxy({ listeners: [] });
  const s = proxy.server;
  try {
    assert.deepEqual(s.setResources(TYPE.CLUSTER, [staticCluster('c', [a.port])], 'v1'), { ok: true });
    assert.deepEqual(s.setResources(TYPE.LISTENER, [tcpListener('l', 'c')], 'v1'), { ok: true });
    await s.listeners.listening();
    const port = s.listeners.active.get('l')!.boundPort;
    assert.equal(await roundTrip(port, ''), 'a');

    // MAGLEV itself is supported (maglev.ts); a table_size that is not prime is not.
    const badCluster = staticCluster('c', [b.port], { lb_policy: 'MAGLEV', maglev_lb_config: { table_size: 65536 } });
    const r1 = s.setResources(TYPE.CLUSTER, [badCluster], 'v2');
    assert.equal(r1.ok, false);
    assert.match((r1 as { error: string }).error, /cluster c\.maglev_lb_config: table_size 65536 must be a prime number/);
    const r2 = s.setResources(TYPE.CLUSTER, [{ ...staticCluster('c', [b.port]), lb_policy: 'NOPE' }], 'v2');
    assert.match((r2 as { error: string }).error, /lb_policy: invalid enum value "NOPE"/, 'schema errors name the field');

    const badListener = tcpListener('l', 'c');
    badListener.filter_chains[0].filters.push({ name: 'mystery', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.network.local_ratelimit.v3.LocalRateLimit', stat_prefix: 'x' } });
    badListener.filter_chains[0].filters.reverse();
    const r3 = s.setResources(TYPE.LISTENER, [badListener], 'v2');
    assert.match((r3 as { error: string }).error, /Listener l: .*filter_chains\[0\]\.filters\[0\]\.typed_config: unknown type .*network\.local_ratelimit\.v3\.LocalRateLimit/, 'a network filter tsmesh does not have is named in the refusal');

    assert.equal(await roundTrip(port, ''), 'a', 'previous config still serves');
    assert.equal(s.xds.versions.get(TYPE.CLUSTER), 'v1');
    assert.equal(s.store.counter('cluster_manager.cds.update_rejected').value(), 2);
    assert.equal(s.store.counter('listener_manager.lds.update_rejected').value(), 1);
  } finally {
    await proxy.close();
    await Promise.all([a, b].map((h) => h.close()));
  }
});

test('a cluster update keeps serving; removal makes new connections fail (NR) without touching others', async () => {
  const [a, b] = await Promise.all(['a', 'b'].map(startTag));
  const proxy = await startProxy({ listeners: [] });
  const s = proxy.server;
  try {
    s.setResources(TYPE.CLUSTER, [staticCluster('c', [a.port])], 'v1');
    s.setResources(TYPE.LISTENER, [tcpListener('l', 'c')], 'v1');
    await s.listeners.listening();
    const port = s.listeners.active.get('l')!.boundPort;
    s.setResources(TYPE.CLUSTER, [staticCluster('c', [b.port])], 'v2');
    assert.equal(await roundTrip(port, ''), 'b');
    s.setResources(TYPE.CLUSTER, [], 'v3');
    assert.equal(await roundTrip(port, ''), '');
    await until(() => s.store.counter('tcp.l.downstream_cx_no_route').value() === 1, 'NR counted');
  } finally {
    await proxy.close();
    await Promise.all([a, b].map((h) => h.close()));
  }
});

test('a cluster whose SDS secret never arrives stops holding up initialization after initial_fetch_timeout', async () => {
  const hosts = await Promise.all(['a'].map(startTag));
  const tlsCluster = {
    ...staticCluster('needs-secret', hosts.map((h) => h.port)),
    transport_socket: {
      name: 'envoy.transport_sockets.tls',
      typed_config: {
        '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext',
        common_tls_context: { tls_certificate_sds_secret_configs: [{ name: 'never', sds_config: { ads: {}, initial_fetch_timeout: '0.3s', resource_api_version: 'V3' } }] },
      },
    },
  };
  // startProxy resolves once initialization is done; it would hang if the secret held it forever.
  const proxy = await startProxy({ clusters: [tlsCluster, staticCluster('plain', hosts.map((h) => h.port))], listeners: [tcpListener('plain', 'plain')] });
  try {
    assert.equal(await roundTrip(proxy.port('plain'), ''), 'a');
    assert.equal(proxy.server.store.counter('cluster_manager.secret_initial_fetch_timeout').value(), 1);
  } finally {
    await proxy.close();
    await Promise.all(hosts.map((h) => h.close()));
  }
});

test("initial_fetch_timeout of a cluster's SDS secret: as set, Envoy's 15 s when unset, and 0 (Istio's for the workload certificate) waits without a limit", () => {
  const withTimeout = (t?: string) => ({
    transport_socket: {
      name: 'envoy.transport_sockets.tls',
      typed_config: {
        '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext',
        common_tls_context: { tls_certificate_sds_secret_configs: [{ name: 'default', sds_config: { ads: {}, ...(t ? { initial_fetch_timeout: t } : {}), resource_api_version: 'V3' } }] },
      },
    },
  });
  assert.equal(secretFetchTimeoutMs(withTimeout('0.3s')), 300);
  assert.equal(secretFetchTimeoutMs(withTimeout()), 15_000);
  assert.equal(secretFetchTimeoutMs(withTimeout('0s')), 0);
});

test('an EDS cluster updated to add health_checks keeps serving on the old cluster while the new one warms: its unchecked hosts are its own', async () => {
  const [a, b] = await Promise.all(['a', 'b'].map(startTag));
  const proxy = await startProxy({ listeners: [] });
  const s = proxy.server;
  try {
    // Panic off (Istio's minHealthPercent default): a host out of rotation takes no traffic at all.
    const base = { ...eds('svc'), common_lb_config: { healthy_panic_threshold: { value: 0 } } };
    s.setResources(TYPE.CLUSTER, [base], 'v1');
    s.setResources(TYPE.ENDPOINT, [cla('svc', [a.port, b.port])], 'v1');
    s.setResources(TYPE.LISTENER, [tcpListener('svc', 'svc')], 'v1');
    await s.listeners.listening();
    const port = s.listeners.active.get('svc')!.boundPort;
    assert.equal((await tags(port, 2)).size, 2);
    // The new cluster's TCP check expects a reply no tag server sends: its hosts never pass, it never warms.
    const checked = { ...base, health_checks: [{ timeout: '1s', interval: '1s', unhealthy_threshold: 1, healthy_threshold: 1, tcp_health_check: { send: { text: '70696e67' }, receive: [{ text: '706f6e67' }] } }] };
    assert.deepEqual(s.setResources(TYPE.CLUSTER, [checked], 'v2'), { ok: true });
    assert.ok(s.clusters.warming.has('svc'), 'the new cluster warms until its first checks');
    // An EDS push reaches both clusters: the serving one must still see healthy hosts.
    s.setResources(TYPE.ENDPOINT, [cla('svc', [a.port, b.port])], 'v2');
    const served = await tags(port, 6);
    assert.deepEqual([...served.keys()].sort(), ['a', 'b'], 'the old cluster keeps serving both hosts');
    assert.equal(s.clusters.get('svc')!.allHosts().filter((h) => !h.healthy).length, 0);
    // ...and the new cluster's hosts, never checked healthy, stay out of its rotation.
    const warming = s.clusters.warming.get('svc');
    assert.ok(warming, 'still warming');
    assert.deepEqual(warming.allHosts().map((h) => h.healthy), [false, false]);
  } finally {
    await proxy.close();
    await Promise.all([a, b].map((h) => h.close()));
  }
});
