import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildListeners } from '../../src/pilot/listener/index.ts';
import type { NamedResource } from '../../src/xds/types.ts';
import { hcmOf, ownHttpFilterNames, tcpProxyOf } from './filters.ts';
import { MESH, bookinfoPush, bookinfoProxy, proxyFor, pushFromYaml, workload } from './fixtures.ts';

const get = (rs: NamedResource[], name: string) => {
  const r = rs.find((x) => x.name === name);
  assert.ok(r, `no ${name} in ${rs.map((x) => x.name).join(', ')}`);
  return r.resource;
};

test('bookinfo sidecar: 0.0.0.0_9080 with HCM + RDS "9080", virtualOutbound and virtualInbound', () => {
  const { push, workloads } = bookinfoPush();
  const ls = buildListeners(push, bookinfoProxy(workloads));
  assert.deepEqual(ls.map((l) => l.name), ['0.0.0.0_9080', 'virtualInbound', 'virtualOutbound']);
  const l = get(ls, '0.0.0.0_9080');
  assert.equal(l.bind_to_port, false);
  assert.deepEqual(l.address, { socket_address: { address: '0.0.0.0', port_value: 9080 } });
  const hcm = hcmOf(l.filter_chains[0]);
  assert.equal(hcm.rds.route_config_name, '9080');
  assert.deepEqual(hcm.rds.config_source.ads, {});
  assert.equal(hcm.stat_prefix, 'outbound_0.0.0.0_9080');
  assert.equal(hcm.use_remote_address, false);
  assert.deepEqual(ownHttpFilterNames(hcm), ['envoy.filters.http.fault', 'envoy.filters.http.cors', 'envoy.filters.http.router']);
  // Envoy's own filters carry Envoy's types; Istio's (peer_metadata, istio.stats) travel as TypedStructs.
  for (const f of hcm.http_filters) {
    const istio = f.name === 'envoy.filters.http.peer_metadata' || f.name === 'istio.stats';
    assert.ok(f.typed_config['@type'].startsWith(istio ? 'type.googleapis.com/xds.type.v3.TypedStruct' : 'type.googleapis.com/envoy.extensions.filters.http.'), f.name);
  }

  const vo = get(ls, 'virtualOutbound');
  assert.equal(vo.use_original_dst, true);
  assert.equal(vo.address.socket_address.port_value, 15001);
  assert.equal(tcpProxyOf(vo.filter_chains[0]).cluster, 'PassthroughCluster');

  const vi = get(ls, 'virtualInbound');
  assert.equal(vi.address.socket_address.port_value, 15006);
  const byMatch = vi.filter_chains.map((c: any) => [c.filter_chain_match?.destination_port, c.filter_chain_match?.transport_protocol]);
  assert.deepEqual(byMatch, [[9080, 'tls'], [9080, 'raw_buffer'], [undefined, undefined]]);
  const plain = hcmOf(vi.filter_chains[1]);
  assert.equal(plain.route_config.virtual_hosts[0].routes[0].route.cluster, 'inbound|9080||');
  assert.equal(vi.filter_chains[0].transport_socket.typed_config.require_client_certificate, true);
  assert.equal(tcpProxyOf(vi.filter_chains[2]).cluster, 'InboundPassthroughCluster');
});

test('REGISTRY_ONLY sends unknown destinations to BlackHoleCluster (mesh-wide or per Sidecar)', () => {
  const { push, workloads } = bookinfoPush([], { ...MESH, outboundTrafficPolicy: { mode: 'REGISTRY_ONLY' } });
  const vo = get(buildListeners(push, bookinfoProxy(workloads)), 'virtualOutbound');
  assert.equal(tcpProxyOf(vo.filter_chains[0]).cluster, 'BlackHoleCluster');
  const scoped = pushFromYaml(`
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: default, namespace: locked}
spec: {outboundTrafficPolicy: {mode: REGISTRY_ONLY}}
`);
  assert.equal(tcpProxyOf(get(buildListeners(scoped, proxyFor({ namespace: 'locked' })), 'virtualOutbound').filter_chains[0]).cluster, 'BlackHoleCluster');
  assert.equal(tcpProxyOf(get(buildListeners(scoped, proxyFor({ namespace: 'open' })), 'virtualOutbound').filter_chains[0]).cluster, 'PassthroughCluster');
});

test('PeerAuthentication STRICT keeps only the mTLS chain; DISABLE only plaintext', () => {
  const yaml = (mode: string) => `
apiVersion: v1
kind: Service
metadata: {name: db}
spec: {selector: {app: db}, ports: [{name: tcp, port: 5432}]}
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: default}
spec: {mtls: {mode: ${mode}}}
`;
  const pod = workload('db-0', '127.0.4.1', { app: 'db' });
  const chains = (mode: string) => get(buildListeners(pushFromYaml(yaml(mode), [pod]), proxyFor(pod)), 'virtualInbound').filter_chains.map((c: any) => c.filter_chain_match?.transport_protocol ?? 'passthrough');
  assert.deepEqual(chains('STRICT'), ['tls', 'passthrough']);
  assert.deepEqual(chains('DISABLE'), ['raw_buffer', 'passthrough']);
  const inbound = get(buildListeners(pushFromYaml(yaml('STRICT'), [pod]), proxyFor(pod)), 'virtualInbound').filter_chains[0];
  assert.equal(tcpProxyOf(inbound).cluster, 'inbound|5432||');
});

const tcpServices = `
apiVersion: v1
kind: Service
metadata: {name: mongo}
spec: {selector: {app: mongo}, ports: [{name: mongo, port: 27017}]}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: mongo}
spec:
  host: mongo
  subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: tls-ext}
spec:
  hosts: [a.example.com, b.example.com]
  ports: [{number: 443, name: tls, protocol: TLS}]
  resolution: DNS
---
`;

test('TCP VirtualService routes: destinationSubnets chains and weighted clusters on <vip>_<port>', () => {
  const vs = `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: mongo}
spec:
  hosts: [mongo]
  tcp:
  - match: [{port: 27017, destinationSubnets: [10.1.0.0/16]}]
    route: [{destination: {host: mongo, subset: v2}}]
  - route:
    - {destination: {host: mongo, subset: v1}, weight: 70}
    - {destination: {host: mongo, subset: v2}, weight: 30}
`;
  const push = pushFromYaml(tcpServices + vs, [], MESH, { 'mongo.default.svc.cluster.local': '10.96.0.10' });
  const l = get(buildListeners(push, proxyFor({ namespace: 'default' })), '10.96.0.10_27017');
  assert.equal(l.bind_to_port, false);
  assert.deepEqual(l.filter_chains[0].filter_chain_match, { prefix_ranges: [{ address_prefix: '10.1.0.0', prefix_len: 16 }] });
  assert.equal(tcpProxyOf(l.filter_chains[0]).cluster, 'outbound|27017|v2|mongo.default.svc.cluster.local');
  assert.deepEqual(tcpProxyOf(l.filter_chains[1]).weighted_clusters.clusters, [
    { name: 'outbound|27017|v1|mongo.default.svc.cluster.local', weight: 70 },
    { name: 'outbound|27017|v2|mongo.default.svc.cluster.local', weight: 30 },
  ]);
});

test('TLS services without VIP share 0.0.0.0_<port>, told apart by SNI; TLS routes match sniHosts', () => {
  const push = pushFromYaml(tcpServices);
  const l = get(buildListeners(push, proxyFor({ namespace: 'default' })), '0.0.0.0_443');
  assert.equal(l.listener_filters[0].name, 'envoy.filters.listener.tls_inspector');
  assert.deepEqual(l.filter_chains.map((c: any) => [c.filter_chain_match.server_names, tcpProxyOf(c).cluster]), [
    [['a.example.com'], 'outbound|443||a.example.com'],
    [['b.example.com'], 'outbound|443||b.example.com'],
  ]);
  const routed = pushFromYaml(tcpServices + `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: tls}
spec:
  hosts: [a.example.com]
  tls:
  - match: [{port: 443, sniHosts: [a.example.com]}]
    route: [{destination: {host: b.example.com}}]
`);
  const l2 = get(buildListeners(routed, proxyFor({ namespace: 'default' })), '0.0.0.0_443');
  assert.deepEqual(l2.filter_chains.map((c: any) => [c.filter_chain_match.server_names, tcpProxyOf(c).cluster]), [
    [['a.example.com'], 'outbound|443||b.example.com'],
    [['b.example.com'], 'outbound|443||b.example.com'],
  ]);
});

test('router proxies get no listeners yet (Gateway translation is separate work)', () => {
  const { push } = bookinfoPush(['bookinfo-gateway.yaml']);
  const router = { ...proxyFor({ namespace: 'istio-system' }), type: 'router' as const };
  assert.deepEqual(buildListeners(push, router), []);
});
