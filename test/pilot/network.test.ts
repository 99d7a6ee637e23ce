/**
 * Multi-network meshes: split-horizon EDS (a proxy gets other networks' endpoints as their
 * east-west gateway, weighted by the endpoints behind it), gateways from meshNetworks and from
 * Services labelled topology.istio.io/network, the network view, and the east-west gateway's own
 * sni-dnat clusters holding only its network's endpoints. Pushes over the real registry.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseMeshConfig } from '../../src/api/mesh.ts';
import type { MeshConfig } from '../../src/api/types.ts';
import { buildLoadAssignment } from '../../src/pilot/endpoint.ts';
import { networkGateways } from '../../src/pilot/network/gateways.ts';
import { proxyShapeKey } from '../../src/pilot/shape_key.ts';
import { TYPE } from '../../src/xds/types.ts';
import { buildPushContext } from '../../src/pilot/push_context.ts';
import { parseProxy } from '../../src/pilot/proxy.ts';
import type { Proxy, PushContext } from '../../src/pilot/types.ts';
import { MESH, parseYamlText, realRegistry } from './fixtures.ts';
import { find, generateAll, routerProxy } from './gateway/helpers.ts';

const HOST = 'echo.apps.svc.cluster.local';
const CLUSTER = `outbound|80||${HOST}`;

/** `echo` with one endpoint on network1 and three on network2 (all mTLS-capable sidecars). */
function echo(extra = ''): string {
  const we = (name: string, address: string, network: string, labels = 'security.istio.io/tlsMode: istio') => `
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: { name: ${name}, namespace: apps }
spec:
  address: ${address}
  network: ${network}
  serviceAccount: echo
  labels: { app: echo, ${labels} }
`;
  return `
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: echo, namespace: apps }
spec:
  hosts: [${HOST}]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{ number: 80, name: http, protocol: HTTP, targetPort: 8080 }]
  workloadSelector: { labels: { app: echo } }
${we('echo-1a', '10.1.0.5', 'network1')}${we('echo-2a', '10.2.0.5', 'network2')}${we('echo-2b', '10.2.0.6', 'network2')}${we('echo-2c', '10.2.0.7', 'network2')}${extra}`;
}

function meshWith(networksYaml: string): MeshConfig {
  const { mesh, errors } = parseMeshConfig(`trustDomain: cluster.local\nmeshNetworks:\n${networksYaml}`);
  assert.deepEqual(errors, []);
  return { ...MESH, meshNetworks: mesh.meshNetworks };
}

function push(yaml: string, mesh: MeshConfig = MESH): PushContext {
  const configs = parseYamlText(yaml);
  return buildPushContext({ mesh, configs, registry: realRegistry(configs, []), workloadCertificates: true });
}

function sidecar(network: string | undefined, extra: Record<string, unknown> = {}): Proxy {
  return parseProxy({
    id: 'sidecar~10.1.0.9~client-0.apps~apps.svc.cluster.local',
    metadata: { NAMESPACE: 'apps', LABELS: { app: 'client' }, ISTIO_VERSION: '1.24.0', TSMESH_WORKLOAD_CERTIFICATES: 'true', ...(network ? { NETWORK: network } : {}), ...extra },
  });
}

/** [address:port, weight, tlsMode metadata?] of every lb endpoint, in CLA order. */
function lbEndpoints(cla: any): Array<[string, number, boolean]> {
  return cla.endpoints.flatMap((l: any) =>
    l.lb_endpoints.map((e: any) => [
      `${e.endpoint.address.socket_address.address}:${e.endpoint.address.socket_address.port_value}`,
      e.load_balancing_weight,
      e.metadata?.filter_metadata?.['envoy.transport_socket_match']?.tlsMode === 'istio',
    ]),
  );
}

const MESH_NETWORKS = `
  networks:
    network1: { endpoints: [{ fromCidr: 10.1.0.0/16 }] }
    network2: { gateways: [{ address: 192.168.0.2, port: 15443 }] }
`;

test('a proxy on network1 gets network2 as its gateway (weight 3: three endpoints behind it) and its own endpoint directly', () => {
  const p = push(echo(), meshWith(MESH_NETWORKS));
  const cla = buildLoadAssignment(p, sidecar('network1'), CLUSTER)!;
  assert.deepEqual(lbEndpoints(cla), [
    ['10.1.0.5:8080', 1, true],
    ['192.168.0.2:15443', 3, true],
  ]);
  assert.equal(cla.endpoints[0].load_balancing_weight, 4, 'the locality weighs what its endpoints do');
  // The cluster sends mesh mTLS with Istio's SNI, which the gateway routes on, and checks the
  // server's own identity (the gateway passes the TLS session through).
  const c = find(generateAll(p, sidecar('network1')).clusters, CLUSTER);
  const mtls = c.transport_socket_matches.find((m: any) => m.name === 'tlsMode-istio').transport_socket.typed_config;
  assert.equal(mtls.sni, `outbound_.80_._.${HOST}`);
  assert.deepEqual(mtls.common_tls_context.combined_validation_context.default_validation_context.match_typed_subject_alt_names, [
    { san_type: 'URI', matcher: { exact: 'spiffe://cluster.local/ns/apps/sa/echo' } },
  ]);
});

test('a proxy on network2 reaches network2 directly; network1 has no gateway, so (as Istio) its endpoint is taken as reachable', () => {
  const cla = buildLoadAssignment(push(echo(), meshWith(MESH_NETWORKS)), sidecar('network2'), CLUSTER)!;
  assert.deepEqual(lbEndpoints(cla).map(([a]) => a), ['10.1.0.5:8080', '10.2.0.5:8080', '10.2.0.6:8080', '10.2.0.7:8080']);
});

test('REQUESTED_NETWORK_VIEW: endpoints on networks outside the view are dropped', () => {
  const cla = buildLoadAssignment(push(echo(), meshWith(MESH_NETWORKS)), sidecar('network2', { REQUESTED_NETWORK_VIEW: 'network2' }), CLUSTER)!;
  assert.deepEqual(lbEndpoints(cla).map(([a]) => a), ['10.2.0.5:8080', '10.2.0.6:8080', '10.2.0.7:8080']);
  const none = buildLoadAssignment(push(echo(), meshWith(MESH_NETWORKS)), sidecar('network1', { REQUESTED_NETWORK_VIEW: 'network1' }), CLUSTER)!;
  assert.deepEqual(lbEndpoints(none), [['10.1.0.5:8080', 1, true]], 'network2 is not in the view: not even its gateway');
});

test('without any known gateway EDS is unchanged (multi-network off), whatever the networks', () => {
  const cla = buildLoadAssignment(push(echo()), sidecar('network1'), CLUSTER)!;
  assert.deepEqual(lbEndpoints(cla), [
    ['10.1.0.5:8080', 1, true],
    ['10.2.0.5:8080', 1, true],
    ['10.2.0.6:8080', 1, true],
    ['10.2.0.7:8080', 1, true],
  ]);
});

/**
 * An east-west gateway as Istio installs it: a Kubernetes Service (labelled with its network)
 * whose external addresses other networks reach, in front of gateway pods (here a WorkloadEntry
 * at 10.2.0.100, on network2 itself) that must never be what other networks are sent to.
 */
const EASTWEST_SERVICE = (network: string, externalIPs: string[], port = '', labelled = true) => `
---
apiVersion: v1
kind: Service
metadata:
  name: istio-eastwestgateway
  namespace: istio-system
  labels: { istio: eastwestgateway${labelled ? `, topology.istio.io/network: ${network}` : ''}${port ? `, networking.istio.io/gatewayPort: "${port}"` : ''} }
spec:
  type: LoadBalancer
  selector: { istio: eastwestgateway }
  ports: [{ name: tls, port: ${port || 15443}, targetPort: 15443 }, { name: status-port, port: 15021 }]
${externalIPs.length ? `  externalIPs: [${externalIPs.join(', ')}]\n` : ''}---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: { name: eastwest-pod, namespace: istio-system }
spec: { address: 10.2.0.100, network: ${network}, labels: { istio: eastwestgateway } }
`;
const EASTWEST_HOST = 'istio-eastwestgateway.istio-system.svc.cluster.local';

test('gateways from a Service labelled topology.istio.io/network: its external addresses on the service port (not its pods); two gateways split the weight (scaled by their lcm, as Istio)', () => {
  const p = push(echo(EASTWEST_SERVICE('network2', ['172.16.0.2', '172.16.0.3'])));
  const cla = buildLoadAssignment(p, sidecar('network1'), CLUSTER)!;
  assert.deepEqual(lbEndpoints(cla), [
    ['10.1.0.5:8080', 2, true],
    ['172.16.0.2:15443', 3, true],
    ['172.16.0.3:15443', 3, true],
  ]);
  assert.deepEqual(networkGateways(p).problems, []);
  // networking.istio.io/gatewayPort picks another service port (the pods still listen on 15443).
  const other = buildLoadAssignment(push(echo(EASTWEST_SERVICE('network2', ['172.16.0.2'], '16443'))), sidecar('network1'), CLUSTER)!;
  assert.deepEqual(lbEndpoints(other).map(([a]) => a), ['10.1.0.5:8080', '172.16.0.2:16443']);
});

test('a gateway Service without an external address gives its network no gateway, and says so', () => {
  const p = push(echo(EASTWEST_SERVICE('network2', [])));
  assert.deepEqual(networkGateways(p).byNetwork.size, 0);
  assert.deepEqual(networkGateways(p).problems, [
    'Service istio-system/istio-eastwestgateway (label topology.istio.io/network=network2): gateway Service istio-system/istio-eastwestgateway has no external address (spec.externalIPs): network network2 has no gateway from it',
  ]);
  // No gateway known at all: EDS is as without multi-network (never the gateway pod's IP).
  const cla = buildLoadAssignment(p, sidecar('network1'), CLUSTER)!;
  assert.deepEqual(lbEndpoints(cla).map(([a]) => a), ['10.1.0.5:8080', '10.2.0.5:8080', '10.2.0.6:8080', '10.2.0.7:8080']);
});

test('meshNetworks registryServiceName: the named service\'s external addresses on the gateway port; an unknown name or no external address is reported', () => {
  const mesh = meshWith(`
  networks:
    network2: { gateways: [{ registryServiceName: ${EASTWEST_HOST}, port: 15443 }] }
`);
  const p = push(echo(EASTWEST_SERVICE('network2', ['172.16.0.9'], '', false)), mesh);
  const cla = buildLoadAssignment(p, sidecar('network1'), CLUSTER)!;
  assert.deepEqual(lbEndpoints(cla).map(([a, w]) => [a, w]), [['10.1.0.5:8080', 1], ['172.16.0.9:15443', 3]]);
  assert.deepEqual(networkGateways(p).problems, []);

  const bare = push(echo(EASTWEST_SERVICE('network2', [], '', false)), mesh);
  assert.deepEqual(networkGateways(bare).problems, [
    `meshNetworks.networks.network2.gateways[0].registryServiceName: gateway Service istio-system/istio-eastwestgateway has no external address (spec.externalIPs): network network2 has no gateway from it`,
  ]);
  const unknown = push(echo(), meshWith(`
  networks:
    network2: { gateways: [{ registryServiceName: nowhere.istio-system.svc.cluster.local, port: 15443 }] }
`));
  assert.deepEqual(networkGateways(unknown).problems, [
    'meshNetworks.networks.network2.gateways[0].registryServiceName: no service nowhere.istio-system.svc.cluster.local: network network2 has no gateway from it',
  ]);
  assert.equal(networkGateways(unknown).byNetwork.size, 0);
});

test('only mTLS endpoints cross networks: plaintext ones (no tlsMode=istio) and a DestinationRule DISABLE are not sent through the gateway', () => {
  const plain = `
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: { name: echo-2-plain, namespace: apps }
spec: { address: 10.2.0.8, network: network2, labels: { app: echo } }
`;
  const cla = buildLoadAssignment(push(echo(plain), meshWith(MESH_NETWORKS)), sidecar('network1'), CLUSTER)!;
  assert.deepEqual(lbEndpoints(cla).map(([a, w]) => [a, w]), [['10.1.0.5:8080', 1], ['192.168.0.2:15443', 3]], 'the plaintext endpoint adds no weight');
  const disable = `
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: echo, namespace: apps }
spec: { host: ${HOST}, trafficPolicy: { tls: { mode: DISABLE } } }
`;
  const off = buildLoadAssignment(push(echo(disable), meshWith(MESH_NETWORKS)), sidecar('network1'), CLUSTER)!;
  assert.deepEqual(lbEndpoints(off).map(([a]) => a), ['10.1.0.5:8080']);
});

test('endpoint networks: WorkloadEntry.network, else the topology.istio.io/network label, else meshNetworks fromCidr; proxy network from NETWORK, else its label', () => {
  const labelled = `
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: { name: echo-3, namespace: apps }
spec: { address: 10.3.0.5, labels: { app: echo, security.istio.io/tlsMode: istio, topology.istio.io/network: network3 } }
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: { name: echo-cidr, namespace: apps }
spec: { address: 10.4.0.5, labels: { app: echo, security.istio.io/tlsMode: istio } }
`;
  const mesh = meshWith(`
  networks:
    network3: { gateways: [{ address: 192.168.0.3, port: 15443 }] }
    network4: { endpoints: [{ fromCidr: 10.4.0.0/16 }], gateways: [{ address: 192.168.0.4, port: 15443 }] }
`);
  const p = push(echo(labelled), mesh);
  // network2 has no gateway here: its endpoints stay direct. network3 and network4 go through theirs.
  assert.deepEqual(lbEndpoints(buildLoadAssignment(p, sidecar('network1'), CLUSTER)!).map(([a, w]) => [a, w]), [
    ['10.1.0.5:8080', 1],
    ['10.2.0.5:8080', 1],
    ['10.2.0.6:8080', 1],
    ['10.2.0.7:8080', 1],
    ['192.168.0.3:15443', 1],
    ['192.168.0.4:15443', 1],
  ]);
  const byLabel = parseProxy({
    id: 'sidecar~10.3.0.9~c.apps~apps.svc.cluster.local',
    metadata: { NAMESPACE: 'apps', LABELS: { app: 'c', 'topology.istio.io/network': 'network3' } },
  });
  assert.equal(byLabel.network, 'network3');
  assert.deepEqual(lbEndpoints(buildLoadAssignment(p, byLabel, CLUSTER)!).map(([a]) => a).filter((a) => a.startsWith('10.3') || a.startsWith('192.168.0.3')), ['10.3.0.5:8080']);
});

const AUTO_PASSTHROUGH = `
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: { name: cross-network-gateway, namespace: istio-system }
spec:
  selector: { istio: eastwestgateway }
  servers:
  - port: { number: 15443, name: tls, protocol: TLS }
    hosts: ["*.local"]
    tls: { mode: AUTO_PASSTHROUGH }
`;

test("the east-west gateway's sni-dnat clusters hold only endpoints on its own network (never another gateway), mTLS ones only", () => {
  const plain = `
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: { name: echo-2-plain, namespace: apps }
spec: { address: 10.2.0.8, network: network2, labels: { app: echo } }
`;
  const mesh = meshWith(`
  networks:
    network1: { gateways: [{ address: 192.168.0.1, port: 15443 }] }
    network2: { gateways: [{ address: 192.168.0.2, port: 15443 }] }
`);
  const p = push(echo(AUTO_PASSTHROUGH + plain), mesh);
  const gw = routerProxy({ istio: 'eastwestgateway', 'topology.istio.io/network': 'network2' }, { NETWORK: 'network2' });
  const r = generateAll(p, gw);
  const sni = `outbound_.80_._.${HOST}`;
  const dnat = find(r.clusters, sni);
  assert.equal(dnat.eds_cluster_config.service_name, sni);
  assert.equal(dnat.transport_socket_matches, undefined);
  assert.deepEqual(lbEndpoints(find(r.endpoints, sni)).map(([a]) => a), ['10.2.0.5:8080', '10.2.0.6:8080', '10.2.0.7:8080']);
  // Its ordinary outbound cluster is split-horizon like any proxy's: network1 through its gateway.
  assert.deepEqual(lbEndpoints(find(r.endpoints, CLUSTER)).map(([a]) => a), ['10.2.0.5:8080', '10.2.0.6:8080', '10.2.0.7:8080', '10.2.0.8:8080', '192.168.0.1:15443']);
});

test('meshNetworks is read from a plain file, the istio ConfigMap and an IstioOperator; what tsmesh cannot honour is an error', () => {
  const cm = parseMeshConfig(`apiVersion: v1
kind: ConfigMap
metadata: { name: istio, namespace: istio-system }
data:
  mesh: |
    trustDomain: cluster.local
  meshNetworks: |
    networks:
      network2: { gateways: [{ address: 192.168.0.2, port: 15443 }] }
`);
  assert.deepEqual(cm.errors, []);
  assert.deepEqual(cm.mesh.meshNetworks, { networks: { network2: { gateways: [{ address: '192.168.0.2', port: 15443 }] } } });
  const iop = parseMeshConfig(`apiVersion: install.istio.io/v1alpha1
kind: IstioOperator
spec:
  values: { global: { meshNetworks: { network1: { endpoints: [{ fromCidr: 10.1.0.0/16 }] } } } }
`);
  assert.deepEqual(iop.errors, []);
  assert.deepEqual(iop.mesh.meshNetworks, { networks: { network1: { endpoints: [{ fromCidr: '10.1.0.0/16' }] } } });
  const bad = parseMeshConfig(`meshNetworks:
  networks:
    network1:
      endpoints: [{ fromRegistry: cluster1 }, { fromCidr: 10.1.0.0/99 }]
      gateways: [{ address: gw.example.com, port: 15443 }, { address: 10.0.0.1 }, { address: 10.0.0.1, registryServiceName: x.svc, port: 1 }, { address: 10.0.0.2, port: 15443, locality: us/a }]
`);
  assert.deepEqual(bad.errors.map((e) => e.path), [
    'meshNetworks.networks.network1.endpoints[0].fromRegistry',
    'meshNetworks.networks.network1.endpoints[1].fromCidr',
    'meshNetworks.networks.network1.gateways[0].address',
    'meshNetworks.networks.network1.gateways[1].port',
    'meshNetworks.networks.network1.gateways[2]',
    'meshNetworks.networks.network1.gateways[3].locality',
  ]);
  assert.equal(bad.mesh.meshNetworks, undefined, 'a meshNetworks with errors is not half-applied');
});

test('shape keys: a sidecar without certificates gets other EDS than one with them, so they never share a cached CLA; the network keys EDS (and router CDS) only', () => {
  const p = push(echo(), meshWith(MESH_NETWORKS));
  const withCerts = sidecar('network1');
  const without = sidecar('network1', { TSMESH_WORKLOAD_CERTIFICATES: 'false' });
  // Output really differs: the remote endpoints cross only with the client's mTLS.
  assert.deepEqual(lbEndpoints(buildLoadAssignment(p, withCerts, CLUSTER)!).map(([a]) => a), ['10.1.0.5:8080', '192.168.0.2:15443']);
  assert.deepEqual(lbEndpoints(buildLoadAssignment(p, without, CLUSTER)!).map(([a]) => a), ['10.1.0.5:8080']);
  for (const t of [TYPE.ENDPOINT, TYPE.CLUSTER, TYPE.LISTENER]) assert.notEqual(proxyShapeKey(withCerts, t, p), proxyShapeKey(without, t, p), t);
  // Sidecars on two networks share LDS, RDS, CDS and NDS; only EDS is per network.
  const other = sidecar('network2');
  for (const t of [TYPE.LISTENER, TYPE.ROUTE, TYPE.CLUSTER, TYPE.NAME_TABLE]) assert.equal(proxyShapeKey(withCerts, t, p), proxyShapeKey(other, t, p), t);
  assert.notEqual(proxyShapeKey(withCerts, TYPE.ENDPOINT, p), proxyShapeKey(other, TYPE.ENDPOINT, p));
});
