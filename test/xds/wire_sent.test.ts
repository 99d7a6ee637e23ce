/**
 * Responses built from pre-framed resources (src/xds/server/wire.ts) decode, through the ADS
 * method's own deserializer, to what was framed; SentSet versions depend only on the set's
 * content, however it was reached (the property SotW reconnects rely on).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ADS_SERVICE } from '../../src/xds/grpc.ts';
import { EncodedResources, deltaFrame, type Entry } from '../../src/xds/server/resources.ts';
import { SentSet, versionOf, versionOfGenerated } from '../../src/xds/server/sent.ts';
import { deltaDiscoveryResponseParts, discoveryResponseParts } from '../../src/xds/server/wire.ts';
import { joinParts } from '../../src/xds/server/grpc_parts.ts';
import { TYPE } from '../../src/xds/types.ts';

const enc = new EncodedResources();
const cluster = (name: string, ms: number): Entry => enc.entry(TYPE.CLUSTER, name, { name, type: 'EDS', connect_timeout: `${ms / 1000}s`, eds_cluster_config: { eds_config: { ads: {} } } });

test('a SotW response of framed resources decodes to the same resources, version and nonce', () => {
  const a = cluster('a', 1000);
  const b = cluster('b', 2500);
  // As a list (joined once) and as one shared body (left as its own part): the same message.
  for (const framed of [[a.framed, b.framed], Buffer.concat([a.framed, b.framed])]) {
    const parts = discoveryResponseParts('v1', TYPE.CLUSTER, 'n-1', framed);
    assert.equal(parts.length, Buffer.isBuffer(framed) ? 3 : 1);
    if (Buffer.isBuffer(framed)) assert.equal(parts[1], framed, 'a shared body is not copied');
    const r = ADS_SERVICE.StreamAggregatedResources.responseDeserialize(joinParts(parts));
    assert.equal(r.version_info, 'v1');
    assert.equal(r.type_url, TYPE.CLUSTER);
    assert.equal(r.nonce, 'n-1');
    assert.deepEqual(r.resources.map((x) => [x.type_url, Buffer.from(x.value).toString('hex')]), [a, b].map((e) => [e.any.type_url, Buffer.from(e.any.value).toString('hex')]));
  }
});

test('a delta response of framed resources decodes to names, versions, resources and removals', () => {
  const a = cluster('a', 1000);
  // As a list and as a shared body (kept as its own part): the same message.
  for (const framed of [[deltaFrame(a)], deltaFrame(a)]) {
    const parts = deltaDiscoveryResponseParts('sv', TYPE.CLUSTER, 'n-2', framed, ['gone-1', 'gone-2']);
    assert.equal(parts.length, Buffer.isBuffer(framed) ? 3 : 1);
    const r = ADS_SERVICE.DeltaAggregatedResources.responseDeserialize(joinParts(parts));
    assert.equal(r.system_version_info, 'sv');
    assert.equal(r.nonce, 'n-2');
    assert.deepEqual(r.removed_resources, ['gone-1', 'gone-2']);
    assert.equal(r.resources.length, 1);
    assert.equal(r.resources[0]!.name, 'a');
    assert.equal(r.resources[0]!.version, a.hash);
    assert.equal(Buffer.from(r.resources[0]!.resource!.value).toString('hex'), Buffer.from(a.any.value).toString('hex'));
  }
});

test('identical JSON is encoded once; different JSON gets a different hash', () => {
  const before = enc.encodings;
  assert.equal(cluster('c', 1000), cluster('c', 1000));
  assert.equal(enc.encodings, before + 1);
  assert.notEqual(cluster('c', 1000).hash, cluster('c', 2000).hash);
});

test('SentSet: the version is the content set, whatever the order and path to it', () => {
  const [a, b, c] = [cluster('a', 1000), cluster('b', 2500), cluster('c', 3000)];
  const gen = new Map([a, b, c].map((e) => [e.name, e]));
  const s1 = new SentSet();
  s1.reset(gen);
  const s2 = new SentSet();
  for (const e of [c, a, b]) s2.setEntry(e);
  assert.equal(s1.version, s2.version);
  assert.equal(s1.version, versionOfGenerated(gen));
  assert.equal(s1.version, versionOf([b, c, a]));
  // Change one, then change it back: back to the same version; a removal changes it.
  const c2 = cluster('c', 4000);
  s1.setEntry(c2);
  assert.notEqual(s1.version, s2.version);
  assert.equal(s1.get('c'), c2.hash);
  s1.set('c', c.hash);
  assert.equal(s1.version, s2.version);
  s1.delete('b');
  assert.deepEqual([...s1.keys()].sort(), ['a', 'c']);
  assert.equal(s1.size, 2);
  assert.equal(s1.version, versionOf([a, c]));
  assert.ok(!s1.is(gen));
});
