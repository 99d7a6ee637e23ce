import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseBootstrap, validateBootstrap, BootstrapError } from '../../src/proxy/bootstrap.ts';
import { buildSidecarBootstrap, parseLabels, SIDECAR_DEFAULTS } from '../../src/agent/bootstrap.ts';

const ADS_YAML = `
node: { id: n1, cluster: c1, locality: { region: r1, zone: z1 } }
admin: { address: { socket_address: { address: 127.0.0.1, port_value: 15000 } } }
dynamic_resources:
  ads_config: { api_type: DELTA_GRPC, transport_api_version: V3, grpc_services: [{ envoy_grpc: { cluster_name: xds-grpc } }] }
  lds_config: { ads: {}, resource_api_version: V3 }
  cds_config: { ads: {}, resource_api_version: V3 }
static_resources:
  clusters:
  - name: xds-grpc
    type: STATIC
    connect_timeout: 1s
    load_assignment: { cluster_name: xds-grpc, endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: 15010 } } } }] }] }
`;

test('a YAML bootstrap with ADS resolves the control plane address from its static cluster', () => {
  const b = parseBootstrap(ADS_YAML);
  assert.equal(b.node.id, 'n1');
  assert.deepEqual(b.node.locality, { region: 'r1', zone: 'z1' });
  assert.deepEqual(b.admin, { ip: '127.0.0.1', port: 15000 });
  assert.deepEqual(b.ads, { mode: 'delta', cluster: 'xds-grpc', address: '127.0.0.1:15010' });
  assert.equal(b.ldsAds && b.cdsAds, true);
  assert.equal(b.clusters.length, 1);
});

test('an xDS cluster with several endpoints (control-plane replicas) is one gRPC address list, as Envoy fails over between them', () => {
  const two = ADS_YAML.replace(
    '[{ endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: 15010 } } } }]',
    '[{ endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: 15010 } } } }, { endpoint: { address: { socket_address: { address: 127.0.0.2, port_value: 15011 } } } }]',
  );
  assert.notEqual(two, ADS_YAML);
  assert.equal(parseBootstrap(two).ads?.address, 'ipv4:127.0.0.1:15010,127.0.0.2:15011');
  const v6 = two.replace('address: 127.0.0.1, port_value: 15010', 'address: "::1", port_value: 15010').replace('address: 127.0.0.2, port_value: 15011', 'address: "::2", port_value: 15011');
  assert.equal(parseBootstrap(v6).ads?.address, 'ipv6:[::1]:15010,[::2]:15011');
});

test('JSON bootstraps parse too', () => {
  const b = parseBootstrap(JSON.stringify({ node: { id: 'j' }, static_resources: { clusters: [] } }));
  assert.equal(b.node.id, 'j');
});

test('errors name the field', () => {
  const bad = (raw: object, re: RegExp) => assert.throws(() => validateBootstrap(raw), (e: unknown) => e instanceof BootstrapError && re.test(e.message));
  bad({ node: { id: 'x' }, static_resources: { clusters: [{ name: 'a', no_such: 1 }] } }, /static_resources\.clusters\[0\]\.no_such: unknown field/);
  bad({ node: { id: 'x' }, static_resources: { clusters: [{ name: 'a', connect_timeout: '5' }] } }, /clusters\[0\]\.connect_timeout: invalid duration/);
  bad({ node: { id: 'x' }, static_resources: { clusters: [{ name: 'a', lb_policy: 'BANANA' }] } }, /clusters\[0\]\.lb_policy: invalid enum value "BANANA"/);
  bad({ dynamic_resources: { ads_config: { api_type: 'GRPC', grpc_services: [{ envoy_grpc: { cluster_name: 'x' } }] } } }, /node\.id: required/);
  bad({ node: { id: 'x' }, static_resources: { clusters: [{ name: 'a' }, { name: 'a' }] } }, /clusters\[1\]\.name: duplicate cluster a/);
  bad({ node: { id: 'x' }, static_resources: { listeners: [{ name: 'l' }] } }, /listeners\[0\]\.address\.socket_address\.address: required/);
  bad({ node: { id: 'x' }, dynamic_resources: { ads_config: { api_type: 'GRPC', grpc_services: [{ envoy_grpc: { cluster_name: 'nope' } }] } } }, /ads_config\.grpc_services\[0\]\.envoy_grpc\.cluster_name: no static cluster named nope/);
  bad({ node: { id: 'x' }, dynamic_resources: { ads_config: { api_type: 'REST' } } }, /ads_config\.api_type: want GRPC or DELTA_GRPC/);
  bad({ node: { id: 'x' }, dynamic_resources: { lds_config: { ads: {} } } }, /ads_config: required/);
  assert.throws(() => parseBootstrap('node: [unclosed'), /not valid YAML/);
});

test('sidecar bootstrap: node id and metadata as pilot-agent builds them', () => {
  const raw = buildSidecarBootstrap({ ...SIDECAR_DEFAULTS, workloadName: 'reviews-v1', namespace: 'bookinfo', labels: parseLabels('app=reviews,version=v1'), serviceAccount: 'bookinfo-reviews', ip: '10.0.0.7', adminPort: 15100, ports: [9080] });
  const b = validateBootstrap(raw);
  assert.equal(b.node.id, 'sidecar~10.0.0.7~reviews-v1.bookinfo~bookinfo.svc.cluster.local');
  const md = b.node.metadata as Record<string, any>;
  assert.equal(md.NAMESPACE, 'bookinfo');
  assert.deepEqual(md.LABELS, { app: 'reviews', version: 'v1' });
  assert.equal(md.SERVICE_ACCOUNT, 'bookinfo-reviews');
  assert.equal(md.INSTANCE_IPS, '10.0.0.7');
  assert.equal(md.WORKLOAD_NAME, 'reviews-v1');
  assert.ok(md.ISTIO_VERSION);
  assert.deepEqual(JSON.parse(md.POD_PORTS), [{ containerPort: 9080, protocol: 'TCP' }]);
  assert.deepEqual(b.admin, { ip: '127.0.0.1', port: 15100 });
  assert.deepEqual(b.ads, { mode: 'sotw', cluster: 'xds-grpc', address: '127.0.0.1:15010' });
  const router = validateBootstrap(buildSidecarBootstrap({ ...SIDECAR_DEFAULTS, type: 'router', workloadName: 'ingress', namespace: 'istio-system', discoveryAddress: 'localhost:15010', delta: true }));
  assert.match(router.node.id, /^router~127\.0\.0\.1~ingress\.istio-system~/);
  assert.equal(router.clusters[0].type, 'STRICT_DNS');
  assert.equal(router.ads?.mode, 'delta');
  assert.throws(() => parseLabels('app'), /--labels: expected k=v/);
});
