/** The ADS server over state-of-the-world streams, driven by raw gRPC requests. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { normalize, unpackAny } from '../../src/xds/codec.ts';
import { TYPE } from '../../src/xds/types.ts';
import { A, B, C, LISTENER, NODE, ROUTE, cluster, names, newWorld, openSotw, sotwBarrier, sreq, startServer, until, loadAssignment, type Sotw } from './fixtures.ts';

/** Subscribes CDS, EDS (both clusters), LDS, RDS and ACKs each; returns the responses. */
async function syncAll(s: Sotw) {
  s.send(sreq(TYPE.CLUSTER, [], '', '', { node: NODE }));
  const cds = await s.next(TYPE.CLUSTER);
  s.send(sreq(TYPE.CLUSTER, [], cds.version_info, cds.nonce));
  s.send(sreq(TYPE.ENDPOINT, names(cds)));
  const eds = await s.next(TYPE.ENDPOINT);
  s.send(sreq(TYPE.ENDPOINT, names(cds), eds.version_info, eds.nonce));
  s.send(sreq(TYPE.LISTENER));
  const lds = await s.next(TYPE.LISTENER);
  s.send(sreq(TYPE.LISTENER, [], lds.version_info, lds.nonce));
  s.send(sreq(TYPE.ROUTE, [ROUTE]));
  const rds = await s.next(TYPE.ROUTE);
  s.send(sreq(TYPE.ROUTE, [ROUTE], rds.version_info, rds.nonce));
  return { cds, eds, lds, rds };
}

test('sotw: initial fetch CDS -> EDS -> LDS -> RDS, each ACK recorded', async () => {
  const world = newWorld();
  const { server, address } = await startServer(world);
  const s = openSotw(address);
  try {
    const { cds, eds, lds, rds } = await syncAll(s);
    assert.deepEqual(names(cds), [A, B]);
    assert.deepEqual(unpackAny(cds.resources[0]!), { '@type': TYPE.CLUSTER, ...normalize(TYPE.CLUSTER, cluster(A, world)) });
    assert.deepEqual(names(eds), [A, B]);
    assert.deepEqual(unpackAny(eds.resources[1]!), { '@type': TYPE.ENDPOINT, ...normalize(TYPE.ENDPOINT, loadAssignment(B, ['10.2.0.1', '10.2.0.2'])) });
    assert.deepEqual(names(lds), [LISTENER]);
    assert.deepEqual(names(rds), [ROUTE]);
    assert.equal(new Set([cds.nonce, eds.nonce, lds.nonce, rds.nonce]).size, 4, 'a nonce per response');
    await sotwBarrier(s);
    const [conn] = server.connections();
    assert.equal(conn!.proxyId, NODE.id);
    for (const r of [cds, eds, lds, rds]) {
      const st = conn!.types[r.type_url]!;
      assert.equal(st.ackedVersion, r.version_info);
      assert.equal(st.ackedNonce, r.nonce);
      assert.equal(st.synced, true);
    }
    assert.equal(conn!.types[TYPE.CLUSTER]!.wildcard, true);
    assert.deepEqual(conn!.types[TYPE.ENDPOINT]!.names, [A, B]);
  } finally {
    s.close();
    await server.close();
  }
});

test('sotw: NACK is recorded with its error, the ACKed version stays, the next good push is ACKed', async () => {
  const world = newWorld();
  const { server, address } = await startServer(world);
  const s = openSotw(address);
  try {
    const { cds } = await syncAll(s);
    world.connectTimeout = '2s';
    server.configUpdate({ full: true, reason: 'timeout change' });
    const bad = await s.next(TYPE.CLUSTER);
    assert.notEqual(bad.version_info, cds.version_info);
    s.send(sreq(TYPE.CLUSTER, [], cds.version_info, bad.nonce, { error_detail: { code: 3, message: 'cluster A: connect_timeout too long' } }));
    await sotwBarrier(s);
    let st = server.connections()[0]!.types[TYPE.CLUSTER]!;
    assert.equal(st.ackedVersion, cds.version_info, 'still at the last good version');
    assert.equal(st.sentVersion, bad.version_info);
    assert.equal(st.lastNack?.message, 'cluster A: connect_timeout too long');
    assert.equal(st.lastNack?.nonce, bad.nonce);
    assert.equal(st.synced, false);

    world.connectTimeout = '3s';
    server.configUpdate({ full: true, reason: 'fix' });
    const good = await s.next(TYPE.CLUSTER);
    s.send(sreq(TYPE.CLUSTER, [], good.version_info, good.nonce));
    await sotwBarrier(s);
    st = server.connections()[0]!.types[TYPE.CLUSTER]!;
    assert.equal(st.ackedVersion, good.version_info);
    assert.equal(st.lastNack, undefined);
  } finally {
    s.close();
    await server.close();
  }
});

test('sotw: a deleted cluster is absent from the next CDS response; unchanged types are not pushed', async () => {
  const world = newWorld();
  const { server, address } = await startServer(world);
  const s = openSotw(address);
  try {
    const { cds } = await syncAll(s);
    world.clusters.delete(B);
    world.clusters.set(C, ['10.3.0.1']);
    server.configUpdate({ full: true, reason: 'delete b, add c' });
    const next = await s.next(TYPE.CLUSTER);
    assert.deepEqual(names(next), [A, C]);
    assert.notEqual(next.version_info, cds.version_info);
    s.send(sreq(TYPE.CLUSTER, [], next.version_info, next.nonce));
    // EDS (named A, B) also changed: B's assignment is gone, which SotW EDS does not signal,
    // and A is unchanged, so nothing is sent for EDS. LDS is unchanged; RDS still routes to A.
    const rest = await sotwBarrier(s);
    assert.deepEqual(rest.map((r) => r.type_url), []);
  } finally {
    s.close();
    await server.close();
  }
});

test('sotw: reconnect with the current version_info gets no resend; a stale one gets the new state', async () => {
  const world = newWorld();
  const { server, address } = await startServer(world);
  const s1 = openSotw(address);
  let s2: Sotw | undefined;
  let s3: Sotw | undefined;
  try {
    const { cds, eds } = await syncAll(s1);
    s1.close();
    await until(() => server.connections().length === 0, 'disconnect');

    s2 = openSotw(address);
    s2.send(sreq(TYPE.CLUSTER, [], cds.version_info, '', { node: NODE }));
    s2.send(sreq(TYPE.ENDPOINT, [A, B], eds.version_info));
    assert.deepEqual(await sotwBarrier(s2), [], 'nothing resent');
    const st = server.connections()[0]!.types[TYPE.CLUSTER]!;
    assert.equal(st.ackedVersion, cds.version_info);

    // While s2 is in sync, a change reaches it as usual.
    world.clusters.get(A)!.push('10.1.0.2');
    server.configUpdate({ full: false, reason: 'endpoint' });
    const edsPush = await s2.next(TYPE.ENDPOINT);
    assert.deepEqual(names(edsPush), [A]);
    s2.close();

    s3 = openSotw(address);
    s3.send(sreq(TYPE.ENDPOINT, [A, B], eds.version_info, '', { node: NODE }));
    const resent = await s3.next(TYPE.ENDPOINT);
    assert.deepEqual(names(resent), [A, B], 'an old version gets everything it asked for');
  } finally {
    s1.close();
    s2?.close();
    s3?.close();
    await server.close();
  }
});

test('sotw: an endpoint-only push sends EDS only, and only the changed service', async () => {
  const world = newWorld();
  const { server, address } = await startServer(world);
  const s = openSotw(address);
  try {
    await syncAll(s);
    world.clusters.set(A, ['10.1.0.9']);
    world.clusters.set(B, ['10.2.0.9']); // changed too, but not named in the request
    server.configUpdate({ full: false, services: ['a.default.svc.cluster.local'], reason: 'endpoints of a' });
    const eds = await s.next(TYPE.ENDPOINT);
    assert.deepEqual(names(eds), [A]);
    assert.deepEqual(unpackAny(eds.resources[0]!).endpoints[0].lb_endpoints[0].endpoint.address.socket_address.address, '10.1.0.9');
    s.send(sreq(TYPE.ENDPOINT, [A, B], eds.version_info, eds.nonce));
    assert.deepEqual(await sotwBarrier(s), [], 'no CDS, LDS or RDS response');

    // A full push with no content change sends nothing at all.
    const before = server.stats.pushResponses;
    world.clusters.set(B, ['10.2.0.1', '10.2.0.2']); // back to what the client has
    server.configUpdate({ full: true, reason: 'no-op' });
    await until(() => server.stats.pushes === 2, 'second push');
    await server.idle();
    assert.equal(server.stats.pushResponses, before);
    assert.deepEqual(await sotwBarrier(s), []);
  } finally {
    s.close();
    await server.close();
  }
});

test('sotw: a burst of 20 updates is debounced into one push', async () => {
  const world = newWorld();
  const { server, address } = await startServer(world, { afterMs: 30, maxMs: 5000 });
  const s = openSotw(address);
  try {
    await syncAll(s);
    for (let i = 0; i < 20; i++) {
      world.connectTimeout = `${i + 2}s`;
      server.configUpdate({ full: true, reason: `change ${i}` });
    }
    await until(() => server.stats.pushes >= 1, 'push');
    await server.idle();
    assert.equal(server.stats.requests, 20);
    assert.equal(server.stats.pushes, 1);
    const pushed = await sotwBarrier(s);
    assert.deepEqual(pushed.map((r) => r.type_url), [TYPE.CLUSTER]);
    assert.equal(unpackAny(pushed[0]!.resources[0]!).connect_timeout, '21s', 'the last state wins');
  } finally {
    s.close();
    await server.close();
  }
});

test('sotw: a request with a stale nonce is ignored; the latest nonce is honoured', async () => {
  const world = newWorld();
  const { server, address } = await startServer(world);
  const s = openSotw(address);
  try {
    s.send(sreq(TYPE.ENDPOINT, [A], '', '', { node: NODE }));
    const first = await s.next(TYPE.ENDPOINT);
    world.clusters.set(A, ['10.1.0.7']);
    server.configUpdate({ full: false, reason: 'endpoints' });
    const second = await s.next(TYPE.ENDPOINT);
    assert.notEqual(first.nonce, second.nonce);
    // The client "ACKs" the old response and asks for B too: stale, so ignored.
    s.send(sreq(TYPE.ENDPOINT, [A, B], first.version_info, first.nonce));
    assert.deepEqual(await sotwBarrier(s), []);
    let st = server.connections()[0]!.types[TYPE.ENDPOINT]!;
    assert.equal(st.staleNonces, 1);
    assert.equal(st.ackedVersion, '');
    assert.deepEqual(st.names, [A]);
    // With the latest nonce the same request is an ACK plus a new name.
    s.send(sreq(TYPE.ENDPOINT, [A, B], second.version_info, second.nonce));
    const third = await s.next(TYPE.ENDPOINT);
    assert.deepEqual(names(third), [B]);
    st = server.connections()[0]!.types[TYPE.ENDPOINT]!;
    assert.equal(st.ackedVersion, second.version_info);
  } finally {
    s.close();
    await server.close();
  }
});

test('sotw: a stream without a node, or with an invalid one, is rejected with INVALID_ARGUMENT', async () => {
  const { server, address } = await startServer(newWorld());
  const s = openSotw(address);
  const s2 = openSotw(address);
  try {
    s.send(sreq(TYPE.CLUSTER));
    await assert.rejects(s.next(), /stream ended: 3 .*node/);
    s2.send(sreq(TYPE.CLUSTER, [], '', '', { node: { id: 'not-an-istio-id' } }));
    await assert.rejects(s2.next(), /stream ended: 3 .*node id/);
    assert.equal(server.connections().length, 0);
  } finally {
    s.close();
    s2.close();
    await server.close();
  }
});

test('sotw: server.close() ends streams with status OK', async () => {
  const { server, address } = await startServer(newWorld());
  const s = openSotw(address);
  try {
    s.send(sreq(TYPE.CLUSTER, [], '', '', { node: NODE }));
    await s.next(TYPE.CLUSTER);
    await server.close();
    await until(() => s.status !== undefined, 'status');
    assert.equal(s.status!.code, 0);
  } finally {
    s.close();
    await server.close();
  }
});


test('sotw: proxies of one shape share one generation per type; only changed proxies are pushed', async () => {
  const world = newWorld();
  const { server, address } = await startServer(world);
  const streams: Sotw[] = [];
  try {
    for (let i = 0; i < 40; i++) {
      const s = openSotw(address);
      streams.push(s);
      const node = { id: `sidecar~10.0.1.${i}~app-${i}.default~default.svc.cluster.local`, metadata: { LABELS: { app: 'app' } } };
      s.send(sreq(TYPE.ENDPOINT, [A, B], '', '', { node }));
    }
    for (const s of streams) {
      const eds = await s.next(TYPE.ENDPOINT);
      s.send(sreq(TYPE.ENDPOINT, [A, B], eds.version_info, eds.nonce));
    }
    assert.equal(server.stats.generations, 1, 'one EDS generation for 40 same-shape proxies');
    world.clusters.set(B, ['10.2.0.3']);
    server.configUpdate({ full: false, reason: 'endpoints' });
    for (const s of streams) assert.deepEqual(names(await s.next(TYPE.ENDPOINT)), [B]);
    assert.equal(server.stats.generations, 2);
    assert.equal(server.stats.pushResponses, 40);
  } finally {
    for (const s of streams) s.close();
    await server.close();
  }
});
