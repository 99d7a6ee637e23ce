/** AdsClient against the real DiscoveryServer, in both SotW and delta modes. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AdsClient } from '../../src/xds/client/ads_client.ts';
import { fetchResources } from '../../src/xds/client/fetch.ts';
import type { ResourceUpdate, Watch } from '../../src/xds/client/types.ts';
import { TYPE } from '../../src/xds/types.ts';
import { A, B, C, LISTENER, NODE, ROUTE, newWorld, startServer, until } from './fixtures.ts';

/** A client that chains watches as the proxy will: CDS names EDS, LDS names RDS. */
function chainedClient(address: string, mode: 'sotw' | 'delta', rejectTimeout?: string) {
  const client = new AdsClient({ address, node: NODE, mode, backoff: { initialMs: 5, maxMs: 20 } });
  const updates: ResourceUpdate[] = [];
  const nacks: string[] = [];
  let eds: Watch | undefined;
  let rds: Watch | undefined;
  client.watch(TYPE.CLUSTER, '*', {
    validate: (u) => {
      const bad = [...u.added, ...u.changed].filter(([, r]) => r.resource.connect_timeout === rejectTimeout).map(([n]) => n);
      return bad.length === 0 ? { ok: true } : { ok: false, error: `clusters ${bad.join(', ')}: connect_timeout ${rejectTimeout} not allowed` };
    },
    onUpdate: (u) => {
      updates.push(u);
      eds!.setNames([...u.resources.keys()]);
    },
    onNack: (e) => nacks.push(e),
  });
  eds = client.watch(TYPE.ENDPOINT, [], { onUpdate: (u) => updates.push(u) });
  client.watch(TYPE.LISTENER, '*', {
    onUpdate: (u) => {
      updates.push(u);
      const routes = [...u.resources.values()].flatMap((l) => l.resource.filter_chains.flatMap((fc: any) => fc.filters.map((f: any) => f.typed_config?.rds?.route_config_name)));
      rds!.setNames(routes.filter(Boolean));
    },
  });
  rds = client.watch(TYPE.ROUTE, [], { onUpdate: (u) => updates.push(u) });
  return { client, updates, nacks };
}

const keys = (m: ReadonlyMap<string, unknown>) => [...m.keys()].sort();

for (const mode of ['sotw', 'delta'] as const) {
  test(`client ${mode}: fetches CDS -> EDS -> LDS -> RDS and ACKs every response`, async () => {
    const world = newWorld();
    const { server, address } = await startServer(world);
    const { client } = chainedClient(address, mode);
    try {
      client.start();
      await until(() => client.resources(TYPE.ROUTE).size === 1 && client.resources(TYPE.ENDPOINT).size === 2, 'all four types');
      assert.deepEqual(keys(client.resources(TYPE.CLUSTER)), [A, B]);
      assert.deepEqual(keys(client.resources(TYPE.ENDPOINT)), [A, B]);
      assert.deepEqual(keys(client.resources(TYPE.LISTENER)), [LISTENER]);
      assert.deepEqual(keys(client.resources(TYPE.ROUTE)), [ROUTE]);
      assert.equal(client.resources(TYPE.ENDPOINT).get(A)!.resource.endpoints[0].lb_endpoints[0].endpoint.address.socket_address.address, '10.1.0.1');
      await until(() => Object.values(server.connections()[0]?.types ?? {}).filter((t) => t.synced && t.ackedNonce).length === 4, 'server sees 4 ACKs');
    } finally {
      client.close();
      await server.close();
    }
  });

  test(`client ${mode}: a rejected update is NACKed, the previous state kept, the next good one ACKed`, async () => {
    const world = newWorld();
    const { server, address } = await startServer(world);
    const { client, nacks } = chainedClient(address, mode, '9s');
    try {
      client.start();
      await until(() => client.resources(TYPE.CLUSTER).size === 2, 'clusters');
      world.connectTimeout = '9s';
      server.configUpdate({ full: true, reason: 'bad timeout' });
      await until(() => nacks.length === 1, 'NACK');
      assert.match(nacks[0]!, /connect_timeout 9s not allowed/);
      assert.equal(client.resources(TYPE.CLUSTER).get(A)!.resource.connect_timeout, '1s', 'previous config kept');
      await until(() => server.connections()[0]!.types[TYPE.CLUSTER]!.lastNack !== undefined, 'server records NACK');
      const st = server.connections()[0]!.types[TYPE.CLUSTER]!;
      assert.match(st.lastNack!.message, /connect_timeout 9s/);
      assert.notEqual(st.ackedVersion, st.sentVersion);

      world.connectTimeout = '3s';
      server.configUpdate({ full: true, reason: 'fixed' });
      await until(() => client.resources(TYPE.CLUSTER).get(A)!.resource.connect_timeout === '3s', 'good update applied');
      await until(() => server.connections()[0]!.types[TYPE.CLUSTER]!.lastNack === undefined, 'server sees ACK');
      const after = server.connections()[0]!.types[TYPE.CLUSTER]!;
      assert.equal(after.ackedVersion, after.sentVersion);
      assert.equal(nacks.length, 1);
    } finally {
      client.close();
      await server.close();
    }
  });

  test(`client ${mode}: an async validator's verdict is awaited; responses behind it wait their turn, in order`, async () => {
    const world = newWorld();
    const { server, address } = await startServer(world);
    const client = new AdsClient({ address, node: NODE, mode, backoff: { initialMs: 5, maxMs: 20 } });
    const judged: string[] = [];
    const nacks: string[] = [];
    let active = 0;
    let maxActive = 0;
    let gate: (() => void) | undefined;
    client.watch(TYPE.CLUSTER, '*', {
      validate: async (u) => {
        active++;
        maxActive = Math.max(maxActive, active);
        const timeout = [...u.added, ...u.changed][0]?.[1].resource.connect_timeout;
        judged.push(timeout);
        if (timeout === '9s') await new Promise<void>((r) => (gate = r));
        active--;
        return timeout === '9s' ? { ok: false, error: 'connect_timeout 9s not allowed' } : { ok: true };
      },
      onUpdate: () => {},
      onNack: (e) => nacks.push(e),
    });
    try {
      client.start();
      await until(() => client.resources(TYPE.CLUSTER).size === 2, 'clusters');
      world.connectTimeout = '9s';
      server.configUpdate({ full: true, reason: 'bad timeout' });
      await until(() => gate !== undefined, 'the bad update is being validated');
      const sent = server.connections()[0]!.types[TYPE.CLUSTER]!.sentVersion;
      world.connectTimeout = '3s';
      server.configUpdate({ full: true, reason: 'fixed' });
      await until(() => server.connections()[0]!.types[TYPE.CLUSTER]!.sentVersion !== sent, 'the next response sent while the first is still judged');
      assert.deepEqual(judged, ['1s', '9s'], 'the second response waits for the first verdict');
      gate!();
      await until(() => client.resources(TYPE.CLUSTER).get(A)?.resource.connect_timeout === '3s', 'second update applied');
      assert.deepEqual(nacks, ['connect_timeout 9s not allowed']);
      assert.deepEqual(judged, ['1s', '9s', '3s']);
      assert.equal(maxActive, 1);
      await until(() => server.connections()[0]!.types[TYPE.CLUSTER]!.lastNack === undefined && server.connections()[0]!.types[TYPE.CLUSTER]!.synced, 'server sees the ACK');
    } finally {
      client.close();
      await server.close();
    }
  });

  test(`client ${mode}: a deleted cluster is reported removed, and its EDS dropped`, async () => {
    const world = newWorld();
    const { server, address } = await startServer(world);
    const { client, updates } = chainedClient(address, mode);
    try {
      client.start();
      await until(() => client.resources(TYPE.ENDPOINT).size === 2, 'endpoints');
      world.clusters.delete(B);
      world.clusters.set(C, ['10.3.0.1']);
      server.configUpdate({ full: true, reason: 'replace b by c' });
      await until(() => client.resources(TYPE.ENDPOINT).has(C), 'EDS for c');
      const cds = updates.filter((u) => u.typeUrl === TYPE.CLUSTER).at(-1)!;
      assert.deepEqual(cds.removed, [B]);
      assert.deepEqual(keys(cds.added), [C]);
      assert.deepEqual(keys(cds.changed), []);
      assert.deepEqual(keys(client.resources(TYPE.CLUSTER)), [A, C]);
      assert.deepEqual(keys(client.resources(TYPE.ENDPOINT)), [A, C]);
      assert.ok(updates.some((u) => u.typeUrl === TYPE.ENDPOINT && u.removed.includes(B)));
    } finally {
      client.close();
      await server.close();
    }
  });

  test(`client ${mode}: keeps its state while disconnected and resumes without a resend`, async () => {
    const world = newWorld();
    let { server, address, port } = await startServer(world);
    const { client } = chainedClient(address, mode);
    const responses: string[] = [];
    let connects = 0;
    let disconnects = 0;
    client.on('response', (t) => responses.push(t));
    client.on('connected', () => connects++);
    // Read when the event fires: the retry (a random delay of up to 500 ms) may open the next
    // stream before a poll would look.
    let connectedAtDisconnect: boolean | undefined;
    client.on('disconnected', () => {
      disconnects++;
      connectedAtDisconnect ??= client.connected;
    });
    try {
      client.start();
      await until(() => client.resources(TYPE.ROUTE).size === 1 && client.resources(TYPE.ENDPOINT).size === 2, 'synced');
      await until(() => Object.values(server.connections()[0]?.types ?? {}).filter((t) => t.synced && t.ackedNonce).length === 4, 'acked');
      await server.close();
      await until(() => disconnects >= 1, 'disconnect');
      assert.equal(connectedAtDisconnect, false);
      assert.deepEqual(keys(client.resources(TYPE.CLUSTER)), [A, B], 'state kept while down');

      ({ server } = await startServer(world, { port }));
      await until(() => server.connections().length === 1 && connects >= 2, 'reconnected');
      responses.length = 0;
      // Barrier: a new wildcard type always gets an answer, after anything queued before it.
      let secrets = 0;
      client.watch(TYPE.SECRET, '*', { onUpdate: () => secrets++ });
      await until(() => secrets === 1, 'secret answer');
      assert.deepEqual(responses, [TYPE.SECRET], 'CDS/EDS/LDS/RDS not resent');
      assert.deepEqual(keys(client.resources(TYPE.ENDPOINT)), [A, B]);
    } finally {
      client.close();
      await server.close();
    }
  });
}

test('fetchResources: one-shot CDS fetch, and a clear error for a missing names list', async () => {
  const { server, address } = await startServer(newWorld());
  try {
    const u = await fetchResources({ address, node: NODE, typeUrl: TYPE.CLUSTER });
    assert.deepEqual(keys(u.resources), [A, B]);
    const e = await fetchResources({ address, node: NODE, typeUrl: TYPE.ENDPOINT, names: [B], mode: 'delta' });
    assert.deepEqual(keys(e.resources), [B]);
    await assert.rejects(fetchResources({ address, node: NODE, typeUrl: TYPE.ROUTE }), /names are required/);
    await until(() => server.connections().length === 0, 'fetch clients gone');
  } finally {
    await server.close();
  }
});
