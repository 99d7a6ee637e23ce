/** The ADS server over incremental (delta) streams, driven by raw gRPC requests. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { normalize, unpackAny } from '../../src/xds/codec.ts';
import type { DeltaDiscoveryResponse } from '../../src/xds/grpc.ts';
import { TYPE } from '../../src/xds/types.ts';
import { A, B, C, LISTENER, NODE, ROUTE, cluster, deltaBarrier, dreq, newWorld, openDelta, startServer, until, type Delta } from './fixtures.ts';

const dnames = (r: DeltaDiscoveryResponse) => r.resources.map((x) => x.name);
const ack = (r: DeltaDiscoveryResponse) => dreq(r.type_url, { response_nonce: r.nonce });

async function syncAll(s: Delta) {
  s.send(dreq(TYPE.CLUSTER, { node: NODE, resource_names_subscribe: ['*'] }));
  const cds = await s.next(TYPE.CLUSTER);
  s.send(ack(cds));
  s.send(dreq(TYPE.ENDPOINT, { resource_names_subscribe: dnames(cds) }));
  const eds = await s.next(TYPE.ENDPOINT);
  s.send(ack(eds));
  s.send(dreq(TYPE.LISTENER, { resource_names_subscribe: ['*'] }));
  const lds = await s.next(TYPE.LISTENER);
  s.send(ack(lds));
  s.send(dreq(TYPE.ROUTE, { resource_names_subscribe: [ROUTE] }));
  const rds = await s.next(TYPE.ROUTE);
  s.send(ack(rds));
  return { cds, eds, lds, rds };
}

test('delta: initial fetch CDS -> EDS -> LDS -> RDS with per-resource versions, ACKs recorded', async () => {
  const world = newWorld();
  const { server, address } = await startServer(world);
  const s = openDelta(address);
  try {
    const { cds, eds, lds, rds } = await syncAll(s);
    assert.deepEqual(dnames(cds), [A, B]);
    assert.deepEqual(unpackAny(cds.resources[0]!.resource!), { '@type': TYPE.CLUSTER, ...normalize(TYPE.CLUSTER, cluster(A, world)) });
    assert.ok(cds.resources.every((r) => r.version.length > 0));
    assert.notEqual(cds.resources[0]!.version, cds.resources[1]!.version);
    assert.deepEqual(cds.removed_resources, []);
    assert.deepEqual(dnames(eds), [A, B]);
    assert.deepEqual(dnames(lds), [LISTENER]);
    assert.deepEqual(dnames(rds), [ROUTE]);
    await deltaBarrier(s);
    const conn = server.connections()[0]!;
    assert.equal(conn.mode, 'delta');
    for (const r of [cds, eds, lds, rds]) {
      assert.equal(conn.types[r.type_url]!.ackedVersion, r.system_version_info);
      assert.equal(conn.types[r.type_url]!.ackedNonce, r.nonce);
    }
  } finally {
    s.close();
    await server.close();
  }
});

test('delta: only changed resources are sent; a deleted cluster arrives in removed_resources', async () => {
  const world = newWorld();
  const { server, address } = await startServer(world);
  const s = openDelta(address);
  try {
    await syncAll(s);
    world.clusters.delete(B);
    world.clusters.set(C, ['10.3.0.1']);
    server.configUpdate({ full: true, reason: 'delete b, add c' });
    const cds = await s.next(TYPE.CLUSTER);
    assert.deepEqual(dnames(cds), [C], 'A is unchanged and not resent');
    assert.deepEqual(cds.removed_resources, [B]);
    s.send(ack(cds));
    const eds = await s.next(TYPE.ENDPOINT);
    assert.deepEqual(dnames(eds), []);
    assert.deepEqual(eds.removed_resources, [B], 'a subscribed assignment that no longer exists is removed');
    s.send(ack(eds));
    assert.deepEqual(await deltaBarrier(s), [], 'LDS and RDS unchanged');
  } finally {
    s.close();
    await server.close();
  }
});

test('delta: NACK recorded, previous version kept as ACKed, next good push ACKed', async () => {
  const world = newWorld();
  const { server, address } = await startServer(world);
  const s = openDelta(address);
  try {
    const { rds } = await syncAll(s);
    world.routeTimeout = '0.5s';
    server.configUpdate({ full: true, reason: 'route timeout' });
    const bad = await s.next(TYPE.ROUTE);
    s.send(dreq(TYPE.ROUTE, { response_nonce: bad.nonce, error_detail: { code: 3, message: 'route 80: timeout below 1s' } }));
    await deltaBarrier(s);
    let st = server.connections()[0]!.types[TYPE.ROUTE]!;
    assert.equal(st.lastNack?.message, 'route 80: timeout below 1s');
    assert.equal(st.ackedVersion, rds.system_version_info);
    world.routeTimeout = '5s';
    server.configUpdate({ full: true, reason: 'fix' });
    const good = await s.next(TYPE.ROUTE);
    s.send(ack(good));
    await deltaBarrier(s);
    st = server.connections()[0]!.types[TYPE.ROUTE]!;
    assert.equal(st.ackedVersion, good.system_version_info);
    assert.equal(st.lastNack, undefined);
  } finally {
    s.close();
    await server.close();
  }
});

test('delta: reconnect honours initial_resource_versions (no resend of what the client has)', async () => {
  const world = newWorld();
  const { server, address } = await startServer(world);
  const s1 = openDelta(address);
  let s2: Delta | undefined;
  let s3: Delta | undefined;
  try {
    const { cds, eds } = await syncAll(s1);
    s1.close();
    const versions = Object.fromEntries(cds.resources.map((r) => [r.name, r.version]));
    const edsVersions = Object.fromEntries(eds.resources.map((r) => [r.name, r.version]));

    s2 = openDelta(address);
    s2.send(dreq(TYPE.CLUSTER, { node: NODE, resource_names_subscribe: ['*'], initial_resource_versions: versions }));
    s2.send(dreq(TYPE.ENDPOINT, { resource_names_subscribe: [A, B], initial_resource_versions: edsVersions }));
    assert.deepEqual(await deltaBarrier(s2), []);
    s2.close();

    // Meanwhile A changed and B was deleted; the client also claims a cluster we never had.
    world.clusters.set(A, ['10.1.0.5']);
    world.connectTimeout = '4s';
    world.clusters.delete(B);
    server.configUpdate({ full: true, reason: 'while away' });
    await until(() => server.stats.pushes === 1, 'push');
    s3 = openDelta(address);
    s3.send(dreq(TYPE.CLUSTER, { node: NODE, resource_names_subscribe: ['*'], initial_resource_versions: { ...versions, ghost: 'x' } }));
    const cds3 = await s3.next(TYPE.CLUSTER);
    assert.deepEqual(dnames(cds3), [A]);
    assert.deepEqual(cds3.removed_resources, ['ghost', B]);
  } finally {
    s1.close();
    s2?.close();
    s3?.close();
    await server.close();
  }
});

test('delta: endpoint-only push sends EDS for the named service only', async () => {
  const world = newWorld();
  const { server, address } = await startServer(world);
  const s = openDelta(address);
  try {
    await syncAll(s);
    world.clusters.set(A, ['10.1.0.9']);
    world.clusters.set(B, ['10.2.0.9']);
    server.configUpdate({ full: false, services: ['b.default.svc.cluster.local'], reason: 'endpoints of b' });
    const eds = await s.next(TYPE.ENDPOINT);
    assert.deepEqual(dnames(eds), [B]);
    assert.deepEqual(eds.removed_resources, []);
    s.send(ack(eds));
    assert.deepEqual(await deltaBarrier(s), []);
  } finally {
    s.close();
    await server.close();
  }
});

test('delta: subscribe and unsubscribe by name; re-subscribing resends; stale ACK ignored', async () => {
  const world = newWorld();
  const { server, address } = await startServer(world);
  const s = openDelta(address);
  try {
    s.send(dreq(TYPE.ENDPOINT, { node: NODE, resource_names_subscribe: [A] }));
    const first = await s.next(TYPE.ENDPOINT);
    assert.deepEqual(dnames(first), [A]);
    s.send(dreq(TYPE.ENDPOINT, { resource_names_subscribe: [B], response_nonce: first.nonce }));
    const second = await s.next(TYPE.ENDPOINT);
    assert.deepEqual(dnames(second), [B]);
    // An ACK of `first` now is stale; the subscription change in it still applies.
    s.send(dreq(TYPE.ENDPOINT, { resource_names_unsubscribe: [A], response_nonce: first.nonce }));
    await deltaBarrier(s);
    let st = server.connections()[0]!.types[TYPE.ENDPOINT]!;
    assert.equal(st.staleNonces, 1);
    assert.equal(st.ackedNonce, first.nonce, 'the in-time ACK of first counted');
    assert.deepEqual(st.names, [B]);
    world.clusters.set(A, ['10.1.0.3']);
    server.configUpdate({ full: false, reason: 'a changed, nobody watches it' });
    await until(() => server.stats.pushes === 1, 'push');
    assert.deepEqual(await deltaBarrier(s), []);
    s.send(dreq(TYPE.ENDPOINT, { resource_names_subscribe: [A] }));
    const third = await s.next(TYPE.ENDPOINT);
    assert.deepEqual(dnames(third), [A]);
    st = server.connections()[0]!.types[TYPE.ENDPOINT]!;
    assert.deepEqual(st.names, [A, B]);
  } finally {
    s.close();
    await server.close();
  }
});
