import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { BOOTSTRAP_TYPE, ISTIO_VERSION, buildSidecarBootstrap, gatewayBootstrap, SIDECAR_DEFAULTS, sidecarBootstrap, writeBootstrap } from '../../src/agent/bootstrap.ts';
import { decodeResource, encodeResource } from '../../src/xds/codec.ts';

const xds = { host: '127.0.0.1', port: 15010 };

function reviewsV2() {
  return sidecarBootstrap({
    pod: 'reviews-v2',
    namespace: 'default',
    podIP: '127.0.1.5',
    appIP: '127.0.2.5',
    app: 'reviews',
    labels: { app: 'reviews', version: 'v2' },
    serviceAccount: 'bookinfo-reviews',
    workloadName: 'reviews-v2',
    ports: { http: 9080 },
    containerPorts: [9080],
    adminPort: 15000,
    outboundPort: 15080,
    xds,
  });
}

test("the sidecar bootstrap is a valid Envoy v3 Bootstrap (encodes with Envoy's protos)", () => {
  const json = reviewsV2();
  const bytes = encodeResource(BOOTSTRAP_TYPE, json);
  assert.ok(bytes.length > 100);
  const back = decodeResource(BOOTSTRAP_TYPE, bytes);
  assert.equal(back.node.id, 'sidecar~127.0.1.5~reviews-v2.default~default.svc.cluster.local');
  assert.equal(back.node.cluster, 'reviews.default');
  assert.deepEqual(back.node.metadata, {
    NAMESPACE: 'default',
    LABELS: { app: 'reviews', version: 'v2' },
    SERVICE_ACCOUNT: 'bookinfo-reviews',
    INSTANCE_IPS: '127.0.1.5',
    WORKLOAD_NAME: 'reviews-v2',
    NAME: 'reviews-v2',
    ISTIO_VERSION,
    CLUSTER_ID: 'Kubernetes',
    MESH_ID: 'cluster.local',
    INTERCEPTION_MODE: 'NONE',
    PROXY_CONFIG: { proxyAdminPort: 15000 },
    HTTP_PROXY_PORT: '15080',
    TSMESH_APP_ADDRESS: '127.0.2.5',
    POD_PORTS: '[{"name":"http","containerPort":9080,"protocol":"TCP"}]',
  });
  assert.deepEqual(back.admin.address.socket_address, { address: '127.0.2.5', port_value: 15000 });
  assert.equal(back.dynamic_resources.ads_config.api_type, 'GRPC');
  assert.equal(back.dynamic_resources.ads_config.transport_api_version, 'V3');
  assert.equal(back.dynamic_resources.ads_config.grpc_services[0].envoy_grpc.cluster_name, 'xds-grpc');
  assert.equal(back.dynamic_resources.lds_config.resource_api_version, 'V3');
  assert.ok(back.dynamic_resources.lds_config.ads);
  assert.ok(back.dynamic_resources.cds_config.ads);
  const [cluster] = back.static_resources.clusters;
  assert.equal(cluster.name, 'xds-grpc');
  assert.equal(cluster.type, 'STATIC');
  assert.deepEqual(cluster.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address, { address: '127.0.0.1', port_value: 15010 });
  const opts = cluster.typed_extension_protocol_options['envoy.extensions.upstreams.http.v3.HttpProtocolOptions'];
  assert.equal(opts['@type'], 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions');
  assert.ok(opts.explicit_http_config.http2_protocol_options);
});

test('the ingress gateway bootstrap is a router node in istio-system that binds 127.0.0.1', () => {
  const json = gatewayBootstrap({ adminPort: 15000, xds: { host: '127.0.0.1', port: 41000 } });
  const back = decodeResource(BOOTSTRAP_TYPE, encodeResource(BOOTSTRAP_TYPE, json));
  assert.equal(back.node.id, 'router~127.0.0.1~istio-ingressgateway-1.istio-system~istio-system.svc.cluster.local');
  assert.equal(back.node.cluster, 'istio-ingressgateway.istio-system');
  assert.equal(back.node.metadata.NAMESPACE, 'istio-system');
  assert.deepEqual(back.node.metadata.LABELS, { istio: 'ingressgateway', app: 'istio-ingressgateway' });
  assert.equal(back.node.metadata.GATEWAY_BIND_ADDRESS, '127.0.0.1');
  assert.equal(back.node.metadata.INTERCEPTION_MODE, undefined);
  assert.equal(back.static_resources.clusters[0].load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address.port_value, 41000);
});

test('writeBootstrap writes JSON that parses back to the same object', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsmesh-bs-'));
  try {
    const file = join(dir, 'nested', 'reviews-v2.json');
    writeBootstrap(file, reviewsV2());
    assert.deepEqual(JSON.parse(readFileSync(file, 'utf8')), reviewsV2());
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("one builder: tsmesh proxy's sidecar flags and the demo's sidecar differ only where their pods differ", () => {
  const demo = reviewsV2();
  const flags = buildSidecarBootstrap({ ...SIDECAR_DEFAULTS, workloadName: 'reviews-v2', namespace: 'default', labels: { app: 'reviews', version: 'v2' }, serviceAccount: 'bookinfo-reviews', ip: '127.0.1.5', ports: [9080] });
  assert.equal(flags.node.id, demo.node.id);
  assert.equal(flags.node.cluster, demo.node.cluster);
  assert.deepEqual(flags.dynamic_resources, demo.dynamic_resources);
  // The prometheus_stats cluster (15090) points at the admin API, which the demo binds on the app's address.
  const adminless = (sr: any) => JSON.parse(JSON.stringify(sr).replaceAll(JSON.stringify(demo.admin.address.socket_address), JSON.stringify(flags.admin.address.socket_address)));
  assert.deepEqual(flags.static_resources, adminless(demo.static_resources));
  const differing = Object.keys({ ...demo.node.metadata, ...flags.node.metadata }).filter((k) => JSON.stringify(demo.node.metadata[k]) !== JSON.stringify(flags.node.metadata[k])).sort();
  // No iptables in the demo: NONE, the app's address and its outbound proxy port; POD_PORTS names the port.
  assert.deepEqual(differing, ['HTTP_PROXY_PORT', 'INTERCEPTION_MODE', 'POD_PORTS', 'TSMESH_APP_ADDRESS']);
  // A discovery address by name is resolved by DNS; delta ADS on request.
  const byName = buildSidecarBootstrap({ ...SIDECAR_DEFAULTS, discoveryAddress: 'istiod.istio-system.svc:15012', delta: true });
  assert.equal(byName.static_resources.clusters[0].type, 'STRICT_DNS');
  assert.equal(byName.dynamic_resources.ads_config.api_type, 'DELTA_GRPC');
});
