/**
 * SotW requests' long name lists are decoded once per distinct list (src/xds/server/request_names.ts):
 * what the server reads must be what protobuf decoding reads, and an ACK that changes one name
 * in the middle of a long list (same length, same ending) must still change the subscription.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ADS_SERVICE, type DiscoveryRequest } from '../../src/xds/grpc.ts';
import { messageType } from '../../src/xds/protos.ts';
import { TYPE } from '../../src/xds/types.ts';
import { NODE, names, newWorld, openSotw, sotwBarrier, sreq, startServer } from './fixtures.ts';

const method = ADS_SERVICE.StreamAggregatedResources;
const cluster = (i: number) => `outbound|8080||svc-${String(i).padStart(4, '0')}.ns-${i % 5}.svc.cluster.local`;
const many = (n: number, swap?: [number, number]) => Array.from({ length: n }, (_, i) => cluster(swap && i === swap[0] ? swap[1] : i));

/** Field 3 (resource_names) as protobuf encodes one entry. */
function nameField(name: string): Buffer {
  const b = Buffer.from(name);
  return Buffer.concat([Buffer.from([0x1a, b.length]), b]);
}

test('decoded requests equal plain protobuf decoding: long and short lists, node, NACK, unicode, names split by other fields', () => {
  const plain = (bytes: Buffer) => messageType('envoy.service.discovery.v3.DiscoveryRequest').decode(bytes).toJSON();
  const requests: Partial<DiscoveryRequest>[] = [
    sreq(TYPE.ENDPOINT, many(2000), 'v1', 'n1'),
    sreq(TYPE.ENDPOINT, many(2000), 'v1', 'n2'), // the same list again (shared)
    sreq(TYPE.ENDPOINT, many(2000, [1000, 9999]), 'v1', 'n3'), // same length and ending, one name differs
    sreq(TYPE.ENDPOINT, many(2000), 'v1', 'n4', { node: NODE }),
    // Recent lists are found by one comparison: one that starts like a recent one and goes on,
    // one cut short, and lists taking turns must still read as protobuf reads them.
    sreq(TYPE.ENDPOINT, many(2001), 'v1', 'n4a'),
    sreq(TYPE.ENDPOINT, many(1999), 'v1', 'n4b'),
    sreq(TYPE.ENDPOINT, many(2000), 'v1', 'n4c'),
    sreq(TYPE.ENDPOINT, many(2001), 'v1', 'n4d'),
    sreq(TYPE.ENDPOINT, [...many(100), 'ünïcode-é-名前'.repeat(20)], 'v0', 'n5', { error_detail: { code: 3, message: 'bad cluster' } }),
    sreq(TYPE.ROUTE, ['80'], 'v1', 'n6'),
    sreq(TYPE.CLUSTER, [], '', ''),
  ];
  for (const req of requests) {
    const bytes = method.requestSerialize(req as DiscoveryRequest);
    const got = method.requestDeserialize(bytes);
    const want = plain(bytes);
    assert.deepEqual([...got.resource_names], want.resource_names ?? []);
    assert.equal(got.version_info, want.version_info ?? '');
    assert.equal(got.response_nonce, want.response_nonce ?? '');
    assert.equal(got.type_url, want.type_url);
    assert.deepEqual(got.error_detail?.message, want.error_detail?.message);
    assert.equal(got.node?.id, req.node?.id);
  }
  // Names in two runs with type_url between them (legal protobuf): all of them, in order.
  const head = Buffer.concat(many(40).map(nameField));
  const tail = Buffer.concat(many(40).slice(0, 5).map((n) => nameField(n + '-b')));
  const typeUrl = Buffer.from(TYPE.ENDPOINT);
  const split = Buffer.concat([head, Buffer.from([0x22, typeUrl.length]), typeUrl, tail]);
  const got = method.requestDeserialize(split);
  assert.deepEqual([...got.resource_names], plain(split).resource_names);
  assert.equal(got.resource_names.length, 45);
  assert.equal(got.type_url, TYPE.ENDPOINT);
});

test('sotw: unchanged ACKs of a long EDS list are quiet; one name changed mid-list (same length) is served', async () => {
  const world = newWorld();
  world.clusters.clear();
  for (let i = 0; i < 400; i++) world.clusters.set(cluster(i), [`10.0.${i >> 8}.${i & 255}`]);
  world.clusters.set(cluster(9999), ['10.9.9.9']);
  const { server, address } = await startServer(world);
  const s = openSotw(address);
  try {
    const list = many(400);
    s.send(sreq(TYPE.ENDPOINT, list, '', '', { node: NODE }));
    const first = await s.next(TYPE.ENDPOINT);
    assert.equal(first.resources.length, 400);
    s.send(sreq(TYPE.ENDPOINT, list, first.version_info, first.nonce));
    s.send(sreq(TYPE.ENDPOINT, [...list], first.version_info, first.nonce));
    assert.deepEqual(await sotwBarrier(s), [], 'an unchanged ACK gets nothing');
    let st = server.connections()[0]!.types[TYPE.ENDPOINT]!;
    assert.equal(st.ackedVersion, first.version_info);

    const swapped = many(400, [200, 9999]);
    s.send(sreq(TYPE.ENDPOINT, swapped, first.version_info, first.nonce));
    const second = await s.next(TYPE.ENDPOINT);
    assert.ok(names(second).includes(cluster(9999)), names(second).slice(0, 5).join());
    st = server.connections()[0]!.types[TYPE.ENDPOINT]!;
    assert.deepEqual(new Set(st.names), new Set(swapped));

    // And back: the first list again (decoded before, shared) is a change for this stream.
    s.send(sreq(TYPE.ENDPOINT, list, second.version_info, second.nonce));
    const third = await s.next(TYPE.ENDPOINT);
    assert.ok(names(third).includes(cluster(200)));
    st = server.connections()[0]!.types[TYPE.ENDPOINT]!;
    assert.deepEqual(new Set(st.names), new Set(list));
  } finally {
    s.close();
    await server.close();
  }
});
