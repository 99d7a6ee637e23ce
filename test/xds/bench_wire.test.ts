/**
 * The control-plane bench's simulated Envoys read responses and write ACKs with lean codecs
 * (bench/lib/ads_wire.ts). They must agree with the ADS method's own (de)serializers, or the
 * bench would time something other than what a proxy receives.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ADS_SERVICE, type DeltaDiscoveryResponse, type DiscoveryResponse } from '../../src/xds/grpc.ts';
import { toAny } from '../../src/xds/codec.ts';
import { TYPE } from '../../src/xds/types.ts';
import { claAddresses, decodeDeltaResponse, decodeSotwResponse, encodeDeltaAck, encodeSotwAck } from '../../bench/lib/ads_wire.ts';

const cla = (name: string, ip: string) => toAny({ cluster_name: name, endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: ip, port_value: 8080 } } } }] }] }, TYPE.ENDPOINT);
const hex = (a: { type_url: string; value: Uint8Array }) => [a.type_url, Buffer.from(a.value).toString('hex')];

test('a SotW response reads the same as through the ADS deserializer', () => {
  const msg: DiscoveryResponse = { version_info: 'v-ü1', resources: [cla('a', '10.0.0.1'), cla('b'.repeat(300), '10.0.0.2')], type_url: TYPE.ENDPOINT, nonce: 'n-7' };
  const bytes = ADS_SERVICE.StreamAggregatedResources.responseSerialize(msg);
  const lean = decodeSotwResponse(bytes);
  const full = ADS_SERVICE.StreamAggregatedResources.responseDeserialize(bytes);
  assert.deepEqual([lean.version_info, lean.type_url, lean.nonce], [full.version_info, full.type_url, full.nonce]);
  assert.deepEqual(lean.resources.map(hex), full.resources.map(hex));
  assert.equal(lean.resources.length, 2);
});

test('a delta response reads the same as through the ADS deserializer', () => {
  const msg: DeltaDiscoveryResponse = {
    system_version_info: 'sv',
    resources: [{ name: 'a', version: 'h1', resource: cla('a', '10.0.0.1') }],
    type_url: TYPE.ENDPOINT,
    removed_resources: ['gone-1', 'gone-2'],
    nonce: 'n-8',
  };
  const bytes = ADS_SERVICE.DeltaAggregatedResources.responseSerialize(msg);
  const lean = decodeDeltaResponse(bytes);
  const full = ADS_SERVICE.DeltaAggregatedResources.responseDeserialize(bytes);
  assert.deepEqual([lean.system_version_info, lean.type_url, lean.nonce, lean.removed_resources], [full.system_version_info, full.type_url, full.nonce, full.removed_resources]);
  assert.deepEqual(
    lean.resources.map((r) => [r.name, r.version, hex(r.resource!)]),
    full.resources.map((r) => [r.name, r.version, hex(r.resource!)]),
  );
});

test('an ACK with cached names decodes to the request it stands for; requests with a node are left to the full encoder', () => {
  const names = Array.from({ length: 200 }, (_, i) => `outbound|8080||svc-${i}.ns-0.svc.cluster.local`);
  for (const req of [
    { type_url: TYPE.ENDPOINT, resource_names: names, version_info: 'v3', response_nonce: 'n-3' },
    { type_url: TYPE.CLUSTER, resource_names: [], version_info: '', response_nonce: 'n-1' },
  ]) {
    const bytes = encodeSotwAck(req)!;
    assert.ok(bytes);
    const back = ADS_SERVICE.StreamAggregatedResources.requestDeserialize(bytes);
    assert.deepEqual([back.type_url, [...back.resource_names], back.version_info, back.response_nonce], [req.type_url, req.resource_names, req.version_info, req.response_nonce]);
    assert.equal(back.node, undefined);
  }
  assert.equal(encodeSotwAck({ type_url: TYPE.CLUSTER, resource_names: [], version_info: '', response_nonce: '', node: { id: 'sidecar~1~a~b' } as never }), undefined);
});

test("a ClusterLoadAssignment's endpoint addresses are its socket addresses, nothing else that looks like one", () => {
  const full = toAny(
    {
      cluster_name: 'outbound|8080|v1|svc-1.ns-0.svc.cluster.local',
      endpoints: [
        {
          locality: { region: 'r', zone: '10.9.9.9' },
          lb_endpoints: [
            { endpoint: { address: { socket_address: { address: '127.1.1.1', port_value: 8080 } }, hostname: '10.8.8.8' }, health_status: 'HEALTHY', metadata: { filter_metadata: { istio: { workload: 'w;ns;app;v1;Kubernetes' } } }, load_balancing_weight: 1 },
            { endpoint: { address: { pipe: { path: '/run/x.sock' } } } },
          ],
          load_balancing_weight: 2,
        },
        { lb_endpoints: [{ endpoint: { address: { socket_address: { address: '::1', port_value: 9 } } } }] },
      ],
    },
    TYPE.ENDPOINT,
  );
  // Strings that only look like addresses elsewhere (locality, hostname) are not taken.
  assert.deepEqual(claAddresses(full.value), ['127.1.1.1', '::1']);
  assert.deepEqual(claAddresses(cla('c', '10.0.0.7').value), ['10.0.0.7']);
  assert.deepEqual(claAddresses(toAny({ cluster_name: 'empty' }, TYPE.ENDPOINT).value), []);
});

test('a bare delta ACK decodes to the request it stands for; anything more is left to the full encoder', () => {
  const ack = { type_url: TYPE.ENDPOINT, resource_names_subscribe: [], resource_names_unsubscribe: [], initial_resource_versions: {}, response_nonce: 'n-ü9' };
  const back = ADS_SERVICE.DeltaAggregatedResources.requestDeserialize(encodeDeltaAck(ack)!);
  assert.deepEqual([back.type_url, back.response_nonce, [...back.resource_names_subscribe], [...back.resource_names_unsubscribe], back.node], [ack.type_url, ack.response_nonce, [], [], undefined]);
  assert.deepEqual({ ...back.initial_resource_versions }, {});
  for (const more of [{ resource_names_subscribe: ['a'] }, { resource_names_unsubscribe: ['a'] }, { initial_resource_versions: { a: 'v' } }, { node: { id: 'sidecar~1~a~b' } as never }, { error_detail: { code: 3, message: 'bad' } as never }]) {
    assert.equal(encodeDeltaAck({ ...ack, ...more }), undefined, Object.keys(more)[0]);
  }
});
