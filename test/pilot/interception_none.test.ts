/**
 * INTERCEPTION_MODE NONE (no iptables, the demo's loopback mode) and the HTTP proxy listener:
 * bound inbound listeners per workload port, the `http_proxy` route over every HTTP service,
 * bound TCP listeners that stay clear of the workload's own ports.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generate } from '../../src/pilot/generator.ts';
import { checkConsistency } from '../../src/pilot/consistency.ts';
import { buildPushContext } from '../../src/pilot/push_context.ts';
import { InvalidProxyError, parseProxy } from '../../src/pilot/proxy.ts';
import type { Proxy, PushContext } from '../../src/pilot/types.ts';
import type { MeshConfig } from '../../src/api/types.ts';
import { decodeResource, encodeResource } from '../../src/xds/codec.ts';
import { stableStringify } from '../../src/pilot/util.ts';
import { TYPE, type NamedResource } from '../../src/xds/types.ts';
import { hcmOf, ownHttpFilterNames, ownHttpFilters, tcpProxyOf } from './filters.ts';
import { BOOKINFO, BOOKINFO_NETWORKING, MESH, bookinfoWorkloads, loadYaml, parseYamlText, proxyFor, pushFromYaml, realRegistry, sidecarNode, workload } from './fixtures.ts';

const DFP_CLUSTER = 'DynamicForwardProxyCluster';
const NONE_MD = { INTERCEPTION_MODE: 'NONE', HTTP_PROXY_PORT: '15080', TSMESH_APP_ADDRESS: '127.0.2.4', INSTANCE_IPS: '127.0.1.4' };

/** Bookinfo with reviews-v2's pod at 127.0.1.4 (the demo's numbering), plus the named samples. */
function bookinfo(samples: string[] = [], mesh: MeshConfig = MESH): { push: PushContext; proxy: (md?: Record<string, unknown>) => Proxy } {
  const base = loadYaml(BOOKINFO);
  const configs = [...base, ...samples.flatMap((f) => loadYaml(`${BOOKINFO_NETWORKING}/${f}`))];
  const workloads = bookinfoWorkloads(base).map((w) =>
    w.name.startsWith('reviews-v2') ? { ...w, address: '127.0.1.4' } : w.name.startsWith('reviews-v1') ? { ...w, address: '127.0.1.5' } : w,
  );
  const push = buildPushContext({ mesh, configs, registry: realRegistry(configs, workloads) });
  const w = workloads.find((x) => x.name.startsWith('reviews-v2'))!;
  return { push, proxy: (md = NONE_MD) => parseProxy(sidecarNode(w, md)) };
}

/** proto3 drops empty repeated fields; that is the only difference a round trip may make. */
function dropEmptyArrays(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(dropEmptyArrays);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).filter(([, x]) => !(Array.isArray(x) && x.length === 0)).map(([k, x]) => [k, dropEmptyArrays(x)]));
  return v;
}

const get = (rs: NamedResource[], name: string) => {
  const r = rs.find((x) => x.name === name);
  assert.ok(r, `no ${name} in ${rs.map((x) => x.name).join(', ')}`);
  return r.resource;
};

test('parseProxy reads INTERCEPTION_MODE, HTTP_PROXY_PORT, TSMESH_APP_ADDRESS and INSTANCE_IPS', () => {
  const node = (md: Record<string, unknown>) => ({ id: 'sidecar~127.0.1.4~reviews-v2-0.default~default.svc.cluster.local', metadata: { NAMESPACE: 'default', ...md } });
  const p = parseProxy(node(NONE_MD));
  assert.equal(p.interceptionMode, 'NONE');
  assert.equal(p.httpProxyPort, 15080);
  assert.equal(p.appAddress, '127.0.2.4');
  assert.deepEqual(p.ipAddresses, ['127.0.1.4']);

  const d = parseProxy(node({}));
  assert.equal(d.interceptionMode, 'REDIRECT');
  assert.equal(d.httpProxyPort, undefined);
  assert.equal(d.appAddress, undefined); // builders fall back to 127.0.0.1
  assert.equal(parseProxy(node({ INTERCEPTION_MODE: 'tproxy' })).interceptionMode, 'TPROXY');
  assert.equal(parseProxy(node({ INTERCEPTION_MODE: 'SOMETHING' })).interceptionMode, 'REDIRECT'); // Istio's default
  assert.equal(parseProxy(node({ HTTP_PROXY_PORT: 15081 })).httpProxyPort, 15081);
  assert.throws(() => parseProxy(node({ HTTP_PROXY_PORT: '99999' })), (e: unknown) => e instanceof InvalidProxyError && /HTTP_PROXY_PORT "99999"/.test(e.message));
  assert.throws(() => parseProxy(node({ HTTP_PROXY_PORT: 'abc' })), /HTTP_PROXY_PORT/);
  assert.throws(() => parseProxy(node({ TSMESH_APP_ADDRESS: 'localhost' })), /TSMESH_APP_ADDRESS "localhost" is not an IP address/);
});

test('NONE: bound inbound listener <podIP>_9080, HTTP proxy listener <app>_15080, no 15001/15006', () => {
  const { push, proxy } = bookinfo();
  const ls = generate(push, proxy(), TYPE.LISTENER);
  assert.deepEqual(ls.map((l) => l.name), ['127.0.1.4_9080', '127.0.2.4_15080']);
  assert.ok(ls.every((l) => l.resource.address.socket_address.port_value !== 15001 && l.resource.address.socket_address.port_value !== 15006));
  assert.ok(ls.every((l) => l.resource.bind_to_port === true && !l.resource.use_original_dst));

  const inbound = get(ls, '127.0.1.4_9080');
  assert.deepEqual(inbound.address, { socket_address: { address: '127.0.1.4', port_value: 9080 } });
  assert.equal(inbound.traffic_direction, 'INBOUND');
  // PERMISSIVE by default: mTLS and plaintext chains, matched by transport only (the listener is the port).
  assert.deepEqual(inbound.filter_chains.map((c: any) => c.filter_chain_match), [
    { transport_protocol: 'tls', application_protocols: ['istio-peer-exchange', 'istio'] },
    { transport_protocol: 'raw_buffer' },
  ]);
  for (const chain of inbound.filter_chains) {
    const route = hcmOf(chain).route_config.virtual_hosts[0].routes[0].route;
    assert.equal(route.cluster, 'inbound|9080||');
  }
  assert.ok(inbound.listener_filters.some((f: any) => f.name === 'envoy.filters.listener.tls_inspector'));

  const hp = get(ls, '127.0.2.4_15080');
  assert.deepEqual(hp.address, { socket_address: { address: '127.0.2.4', port_value: 15080 } });
  const hcm = hcmOf(hp.filter_chains[0]);
  assert.equal(hcm.rds.route_config_name, 'http_proxy');
  assert.deepEqual(hcm.http_protocol_options, { allow_absolute_url: true });
});

test('NONE: inbound cluster delivers to TSMESH_APP_ADDRESS (127.0.0.1 without it)', () => {
  const { push, proxy } = bookinfo();
  const endpointOf = (p: Proxy) => get(generate(push, p, TYPE.CLUSTER), 'inbound|9080||').load_assignment.endpoints[0].lb_endpoints[0].endpoint.address;
  assert.deepEqual(endpointOf(proxy()), { socket_address: { address: '127.0.2.4', port_value: 9080 } });
  const { TSMESH_APP_ADDRESS: _drop, ...noApp } = NONE_MD;
  assert.deepEqual(endpointOf(proxy(noApp)), { socket_address: { address: '127.0.0.1', port_value: 9080 } });
  // Without TSMESH_APP_ADDRESS the HTTP proxy binds 127.0.0.1, as Istio does.
  assert.ok(generate(push, proxy(noApp), TYPE.LISTENER).some((l) => l.name === '127.0.0.1_15080'));
});

test('http_proxy route: every Bookinfo service with host:port domains; VirtualService applies (jason → v2)', () => {
  const { push, proxy } = bookinfo(['destination-rule-all.yaml', 'virtual-service-reviews-test-v2.yaml']);
  const [rc] = generate(push, proxy(), TYPE.ROUTE, ['http_proxy']);
  assert.ok(rc);
  const vhosts = rc.resource.virtual_hosts as any[];
  assert.deepEqual(vhosts.map((v) => v.name), [
    'details.default.svc.cluster.local:9080',
    'productpage.default.svc.cluster.local:9080',
    'ratings.default.svc.cluster.local:9080',
    'reviews.default.svc.cluster.local:9080',
    'allow_any',
  ]);
  const ratings = vhosts.find((v) => v.name.startsWith('ratings'));
  for (const d of ['ratings:9080', 'ratings.default:9080', 'ratings.default.svc.cluster.local:9080']) assert.ok(ratings.domains.includes(d), d);
  assert.ok(!ratings.domains.includes('ratings'), 'bare name only on port 80');
  // ALLOW_ANY: the last vhost is the catch-all to the dynamic forward proxy (see the test below),
  // never PassthroughCluster, which would loop back into this listener.
  assert.deepEqual(vhosts.filter((v) => v.domains.includes('*')).map((v) => v.name), ['allow_any']);
  assert.equal(vhosts.at(-1).name, 'allow_any');

  const reviews = vhosts.find((v) => v.name.startsWith('reviews'));
  const jason = reviews.routes.find((r: any) => r.match.headers?.some((h: any) => h.name === 'end-user'));
  assert.ok(jason, JSON.stringify(reviews.routes));
  assert.equal(jason.route.cluster, 'outbound|9080|v2|reviews.default.svc.cluster.local');
  assert.equal(reviews.routes.at(-1).route.cluster, 'outbound|9080|v1|reviews.default.svc.cluster.local');

  // Identical routes to the per-port route configuration that REDIRECT sidecars get.
  const [perPort] = generate(push, proxy({}), TYPE.ROUTE, ['9080']);
  assert.deepEqual(perPort!.resource.virtual_hosts.find((v: any) => v.name === reviews.name).routes, reviews.routes);
});

test('NONE: the full resource set round-trips through the codec and is consistent (go-control-plane snapshot check)', () => {
  for (const samples of [[], ['destination-rule-all.yaml', 'virtual-service-reviews-test-v2.yaml'], ['destination-rule-all-mtls.yaml', 'virtual-service-all-v1.yaml']]) {
    const { push, proxy } = bookinfo(samples, { ...MESH, accessLogFile: '/dev/stdout' });
    const p = proxy();
    const set = {
      clusters: generate(push, p, TYPE.CLUSTER),
      endpoints: generate(push, p, TYPE.ENDPOINT),
      listeners: generate(push, p, TYPE.LISTENER),
      routes: generate(push, p, TYPE.ROUTE),
    };
    assert.deepEqual(set.routes.map((r) => r.name), ['http_proxy']);
    assert.deepEqual(checkConsistency(set), [], samples.join(','));
    const byType: Array<[string, NamedResource[]]> = [[TYPE.CLUSTER, set.clusters], [TYPE.ENDPOINT, set.endpoints], [TYPE.LISTENER, set.listeners], [TYPE.ROUTE, set.routes]];
    for (const [t, rs] of byType) {
      for (const r of rs) {
        const back = decodeResource(t, encodeResource(t, r.resource));
        assert.equal(stableStringify(back), stableStringify(dropEmptyArrays(r.resource)), `${t} ${r.name}`);
      }
    }
  }
});

test('http_proxy under REGISTRY_ONLY: one block_all vhost answering 502; no dynamic forward proxy anywhere', () => {
  const { push, proxy } = bookinfo([], { ...MESH, outboundTrafficPolicy: { mode: 'REGISTRY_ONLY' } });
  const [rc] = generate(push, proxy(), TYPE.ROUTE, ['http_proxy']);
  const catchAll = (rc!.resource.virtual_hosts as any[]).filter((v) => v.domains.includes('*'));
  assert.equal(catchAll.length, 1);
  assert.equal(catchAll[0].name, 'block_all');
  assert.deepEqual(catchAll[0].routes[0].direct_response, { status: 502 });
  assert.ok(!generate(push, proxy(), TYPE.CLUSTER).some((c) => c.name === DFP_CLUSTER));
  const hp = get(generate(push, proxy(), TYPE.LISTENER), '127.0.2.4_15080');
  assert.deepEqual(ownHttpFilterNames(hcmOf(hp.filter_chains[0])), ['envoy.filters.http.fault', 'envoy.filters.http.cors', 'envoy.filters.http.router']);
});

test('NONE + ALLOW_ANY: the http_proxy listener forwards unknown hosts by name (dynamic forward proxy), and every resource encodes', () => {
  const { push, proxy } = bookinfo();
  const p = proxy();
  const clusters = generate(push, p, TYPE.CLUSTER);
  const listeners = generate(push, p, TYPE.LISTENER);
  const routes = generate(push, p, TYPE.ROUTE, ['http_proxy']);

  // The route: Bookinfo's vhosts, then allow_any → DynamicForwardProxyCluster without a timeout.
  const vhosts = routes[0]!.resource.virtual_hosts as any[];
  const allowAny = vhosts.at(-1);
  assert.equal(allowAny.name, 'allow_any');
  assert.deepEqual(allowAny.domains, ['*']);
  assert.deepEqual(allowAny.routes[0].route, { cluster: DFP_CLUSTER, timeout: '0s', max_grpc_timeout: '0s' });

  // The cluster: Envoy's dynamic forward proxy, its DNS cache named like the filter's.
  const dfp = get(clusters, DFP_CLUSTER);
  assert.equal(dfp.lb_policy, 'CLUSTER_PROVIDED');
  assert.equal(dfp.type, undefined, 'a custom cluster type, not a DiscoveryType');
  assert.equal(dfp.cluster_type.name, 'envoy.clusters.dynamic_forward_proxy');
  assert.equal(dfp.cluster_type.typed_config['@type'], 'type.googleapis.com/envoy.extensions.clusters.dynamic_forward_proxy.v3.ClusterConfig');
  // PassthroughCluster stays Istio's ORIGINAL_DST cluster.
  assert.equal(get(clusters, 'PassthroughCluster').type, 'ORIGINAL_DST');

  // The listener: the filter is the last of the pilot's own before the router (istio.stats sits between), on the same cache.
  const hcm = hcmOf(get(listeners, '127.0.2.4_15080').filter_chains[0]);
  const own = ownHttpFilters(hcm);
  assert.deepEqual(own.map((f) => f.name), ['envoy.filters.http.fault', 'envoy.filters.http.cors', 'envoy.filters.http.dynamic_forward_proxy', 'envoy.filters.http.router']);
  const filter = own[2]!.typed_config;
  assert.equal(filter['@type'], 'type.googleapis.com/envoy.extensions.filters.http.dynamic_forward_proxy.v3.FilterConfig');
  assert.deepEqual(filter.dns_cache_config, dfp.cluster_type.typed_config.dns_cache_config);
  assert.equal(filter.dns_cache_config.name, 'dynamic_forward_proxy_cache_config');
  // Inbound listeners are untouched.
  const inbound = hcmOf(get(listeners, '127.0.1.4_9080').filter_chains[1]);
  assert.ok(!inbound.http_filters.some((f: any) => f.name === 'envoy.filters.http.dynamic_forward_proxy'));

  // Every resource survives Envoy's protobuf encoding (the new Any types are loaded).
  const byType: Array<[string, NamedResource[]]> = [[TYPE.CLUSTER, clusters], [TYPE.LISTENER, listeners], [TYPE.ROUTE, routes]];
  for (const [t, rs] of byType) {
    for (const r of rs) {
      const back = decodeResource(t, encodeResource(t, r.resource));
      assert.equal(stableStringify(back), stableStringify(dropEmptyArrays(r.resource)), `${t} ${r.name}`);
    }
  }
  assert.deepEqual(checkConsistency({ clusters, endpoints: generate(push, p, TYPE.ENDPOINT), listeners, routes }), []);
});

test('dynamic forward proxy only for NONE mode with HTTP_PROXY_PORT; a Sidecar can switch it off (REGISTRY_ONLY)', () => {
  const { push, proxy } = bookinfo();
  const hasDfp = (p: Proxy) => generate(push, p, TYPE.CLUSTER).some((c) => c.name === DFP_CLUSTER);
  assert.ok(hasDfp(proxy()));
  // Capture modes keep PassthroughCluster, and their http_proxy route no catch-all.
  for (const md of [{ HTTP_PROXY_PORT: '15080' }, { INTERCEPTION_MODE: 'TPROXY', HTTP_PROXY_PORT: '15080' }, {}]) {
    assert.ok(!hasDfp(proxy(md)), JSON.stringify(md));
  }
  const [rc] = generate(push, proxy({ HTTP_PROXY_PORT: '15080' }), TYPE.ROUTE, ['http_proxy']);
  assert.ok((rc!.resource.virtual_hosts as any[]).every((v) => !v.domains.includes('*')));
  const { HTTP_PROXY_PORT: _drop, ...noPort } = NONE_MD;
  assert.ok(!hasDfp(proxy(noPort)));

  const sidecar = `apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: default, namespace: default}
spec:
  outboundTrafficPolicy: {mode: REGISTRY_ONLY}
`;
  const base = loadYaml(BOOKINFO);
  const configs = [...base, ...parseYamlText(sidecar)];
  const workloads = bookinfoWorkloads(base).map((w) => (w.name.startsWith('reviews-v2') ? { ...w, address: '127.0.1.4' } : w));
  const push2 = buildPushContext({ mesh: MESH, configs, registry: realRegistry(configs, workloads) });
  const p2 = parseProxy(sidecarNode(workloads.find((x) => x.name.startsWith('reviews-v2'))!, NONE_MD));
  assert.ok(!generate(push2, p2, TYPE.CLUSTER).some((c) => c.name === DFP_CLUSTER));
  const [rc2] = generate(push2, p2, TYPE.ROUTE, ['http_proxy']);
  assert.equal((rc2!.resource.virtual_hosts as any[]).at(-1).name, 'block_all');
});

const mixed = `
apiVersion: v1
kind: Service
metadata: {name: db}
spec: {selector: {app: db}, ports: [{name: tcp, port: 5432}]}
---
apiVersion: v1
kind: Service
metadata: {name: cache}
spec: {selector: {app: cache}, ports: [{name: tcp-redis, port: 6379}, {name: tcp-db, port: 5432}]}
---
apiVersion: v1
kind: Service
metadata: {name: legacy}
spec: {selector: {app: legacy}, ports: [{name: custom, port: 7000}, {name: http, port: 9090}]}
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec: {selector: {app: web}, ports: [{name: http, port: 80}]}
`;

test('NONE: TCP ports bound on the app address unless the workload serves that port; UNSUPPORTED is TCP', () => {
  const pods = [workload('db-0', '127.0.3.1', { app: 'db' }), workload('cache-0', '127.0.3.2', { app: 'cache' }), workload('legacy-0', '127.0.3.3', { app: 'legacy' }), workload('web-0', '127.0.3.4', { app: 'web' })];
  const push = pushFromYaml(mixed, pods);
  const p = proxyFor(pods[0]!, { INTERCEPTION_MODE: 'NONE', HTTP_PROXY_PORT: '15080', TSMESH_APP_ADDRESS: '127.0.2.1' });
  const ls = generate(push, p, TYPE.LISTENER);
  // 5432 is db's own port (the app listens on 127.0.2.1:5432): no outbound listener there.
  assert.deepEqual(ls.map((l) => l.name), ['127.0.2.1_15080', '127.0.2.1_6379', '127.0.2.1_7000', '127.0.3.1_5432']);
  assert.equal(tcpProxyOf(get(ls, '127.0.3.1_5432').filter_chains[1]).cluster, 'inbound|5432||');
  const redis = get(ls, '127.0.2.1_6379');
  assert.equal(redis.bind_to_port, true);
  assert.deepEqual(redis.address, { socket_address: { address: '127.0.2.1', port_value: 6379 } });
  assert.equal(tcpProxyOf(redis.filter_chains[0]).cluster, 'outbound|6379||cache.default.svc.cluster.local');
  // The unnamed (UNSUPPORTED) port is plain TCP, and gets no HTTP route.
  assert.equal(tcpProxyOf(get(ls, '127.0.2.1_7000').filter_chains[0]).cluster, 'outbound|7000||legacy.default.svc.cluster.local');

  const [rc] = generate(push, p, TYPE.ROUTE);
  assert.equal(rc!.name, 'http_proxy');
  const vhosts = rc!.resource.virtual_hosts as any[];
  // ALLOW_ANY (the default): the dynamic forward proxy's allow_any comes last.
  assert.deepEqual(vhosts.map((v) => v.name), ['web.default.svc.cluster.local:80', 'legacy.default.svc.cluster.local:9090', 'allow_any']);
  // Port 80 keeps the names without a port too: HTTP clients leave `:80` out of Host.
  assert.ok(vhosts[0].domains.includes('web') && vhosts[0].domains.includes('web:80'));
  assert.ok(vhosts[1].domains.includes('legacy:9090') && !vhosts[1].domains.includes('legacy'));
  assert.ok(!vhosts.some((v) => v.domains.includes('legacy:7000')));
  const set = { clusters: generate(push, p, TYPE.CLUSTER), endpoints: generate(push, p, TYPE.ENDPOINT), listeners: ls, routes: generate(push, p, TYPE.ROUTE) };
  assert.deepEqual(checkConsistency(set), []);
});

test('REDIRECT with HTTP_PROXY_PORT adds the proxy listener beside the capture listeners; TPROXY is transparent', () => {
  const { push, proxy } = bookinfo();
  const redirect = generate(push, proxy({ HTTP_PROXY_PORT: '15080' }), TYPE.LISTENER).map((l) => l.name);
  assert.deepEqual(redirect, ['0.0.0.0_9080', '127.0.0.1_15080', 'virtualInbound', 'virtualOutbound']);
  assert.deepEqual(generate(push, proxy({ HTTP_PROXY_PORT: '15080' }), TYPE.ROUTE).map((r) => r.name), ['9080', 'http_proxy']);
  const plain = generate(push, proxy({}), TYPE.LISTENER);
  assert.ok(plain.every((l) => l.resource.transparent === undefined));
  const tproxy = generate(push, proxy({ INTERCEPTION_MODE: 'TPROXY' }), TYPE.LISTENER);
  assert.equal(get(tproxy, 'virtualInbound').transparent, true);
  assert.equal(get(tproxy, 'virtualOutbound').transparent, true);
  // Without HTTP_PROXY_PORT nobody gets an `http_proxy` route, even by asking.
  assert.deepEqual(generate(push, proxy({}), TYPE.ROUTE, ['http_proxy']), []);
});
