/**
 * An endpoint change on disk reaches a connected sidecar through the control plane's incremental
 * path: the file store reads the one file, the registry recomputes the one service, and the
 * PushContext is the previous one with that service's endpoints read again. After each change
 * the PushContext served equals one built from scratch, and a config change still rebuilds it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ControlPlane } from '../../src/controlplane/server.ts';
import type { PushContext } from '../../src/pilot/types.ts';
import { AdsClient } from '../../src/xds/client/ads_client.ts';
import type { Watch } from '../../src/xds/client/types.ts';
import { TYPE } from '../../src/xds/types.ts';
import { caStateDir } from '../helpers/processes.ts';
import { until } from '../helpers/poll.ts';

const WEB = 'outbound|8080||web.default.svc.cluster.local';
const WEB_V1 = 'outbound|8080|v1|web.default.svc.cluster.local';

function serviceFile(name: string, addresses: string[]): string {
  const docs = [
    `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ${name}, namespace: default}
spec:
  hosts: [${name}.default.svc.cluster.local]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{number: 8080, name: http, protocol: HTTP}]
  workloadSelector: {labels: {app: ${name}}}
`,
    ...addresses.map(
      (a, i) => `apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: ${name}-${i}, namespace: default}
spec:
  address: ${a}
  labels: {app: ${name}, version: v${1 + (i % 2)}}
`,
    ),
  ];
  return docs.join('---\n');
}

function destinationRule(subsets: string[]): string {
  return `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: web, namespace: default}
spec:
  host: web.default.svc.cluster.local
  subsets: [${subsets.map((s) => `{name: ${s}, labels: {version: ${s}}}`).join(', ')}]
`;
}

test('endpoint changes push from the previous PushContext, equal to a full build; a config change rebuilds it', { timeout: 60_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tsmesh-incpush-'));
  writeFileSync(join(dir, 'web.yaml'), serviceFile('web', ['127.0.8.1', '127.0.8.2', '127.0.8.3']));
  writeFileSync(join(dir, 'api.yaml'), serviceFile('api', ['127.0.9.1', '127.0.9.2']));
  writeFileSync(join(dir, 'dr.yaml'), destinationRule(['v1', 'v2']));
  const cp = new ControlPlane({ configDir: dir, grpcPort: 0, httpPort: 0, secureGrpcPort: 0, stateDir: caStateDir(t), debounce: { afterMs: 10, maxMs: 100 }, log: () => {} });
  let client: AdsClient | undefined;
  try {
    await cp.start();
    const node = {
      id: 'sidecar~127.0.8.50~client-1.default~default.svc.cluster.local',
      metadata: { NAMESPACE: 'default', LABELS: { app: 'client' }, ISTIO_VERSION: '1.24.0', TSMESH_WORKLOAD_CERTIFICATES: 'true' },
    };
    client = new AdsClient({ address: `127.0.0.1:${cp.grpcPort}`, node, mode: 'sotw', backoff: { initialMs: 5, maxMs: 20 } });
    let eds: Watch | undefined;
    client.watch(TYPE.CLUSTER, '*', {
      onUpdate: (u) => eds!.setNames([...u.resources.values()].filter((r) => r.resource.type === 'EDS').map((r) => r.resource.eds_cluster_config?.service_name ?? r.resource.name)),
    });
    eds = client.watch(TYPE.ENDPOINT, [], { onUpdate: () => {} });
    client.start();
    const c = client;
    const addresses = (cluster: string) =>
      (c.resources(TYPE.ENDPOINT).get(cluster)?.resource.endpoints ?? [])
        .flatMap((e: any) => e.lb_endpoints)
        .map((e: any) => e.endpoint.address.socket_address.address)
        .sort();
    const full = (): PushContext => cp.fullPushContext();
    /** Writes a file, waits for the sidecar to see `expect` on `cluster`, and compares the PushContext with a full build. */
    const change = async (file: string, text: string, cluster: string, expect: string[]) => {
      const before = cp.discovery.pushContext!;
      writeFileSync(join(dir, file), text);
      cp.store.rescan();
      await until(() => JSON.stringify(addresses(cluster)) === JSON.stringify(expect), `${cluster} to be ${expect.join(', ')}`, 10_000);
      await cp.discovery.idle();
      const served = cp.discovery.pushContext!;
      assert.deepStrictEqual(served, full(), 'the PushContext served is what a full build gives');
      return { before, served };
    };

    await until(() => addresses(WEB).length === 3 && addresses(WEB_V1).length === 2, 'web endpoints', 10_000);

    // A WorkloadEntry moves: EDS only, from the previous PushContext (its configs are the same list).
    let r = await change('web.yaml', serviceFile('web', ['127.0.8.1', '127.0.8.12', '127.0.8.3']), WEB, ['127.0.8.1', '127.0.8.12', '127.0.8.3']);
    assert.equal(r.served.configs, r.before.configs, 'an endpoint change does not rebuild the config side');
    assert.deepEqual(addresses(WEB_V1), ['127.0.8.1', '127.0.8.3']);

    // A WorkloadEntry is added (a v2 one, so the subset cluster changes too).
    r = await change('web.yaml', serviceFile('web', ['127.0.8.1', '127.0.8.12', '127.0.8.3', '127.0.8.4']), WEB, ['127.0.8.1', '127.0.8.12', '127.0.8.3', '127.0.8.4']);
    assert.equal(r.served.configs, r.before.configs);
    assert.deepEqual(addresses('outbound|8080|v2|web.default.svc.cluster.local'), ['127.0.8.12', '127.0.8.4']);

    // A config change (the DestinationRule loses v2) is a full build.
    const before = cp.discovery.pushContext!;
    writeFileSync(join(dir, 'dr.yaml'), destinationRule(['v1']));
    cp.store.rescan();
    await until(() => !c.resources(TYPE.CLUSTER).has('outbound|8080|v2|web.default.svc.cluster.local'), 'the v2 subset cluster to go', 10_000);
    await cp.discovery.idle();
    assert.notEqual(cp.discovery.pushContext!.configs, before.configs);
    assert.deepStrictEqual(cp.discovery.pushContext!, full());

    // Endpoint changes after it are incremental again, in another service too.
    r = await change('api.yaml', serviceFile('api', ['127.0.9.1']), 'outbound|8080||api.default.svc.cluster.local', ['127.0.9.1']);
    assert.equal(r.served.configs, r.before.configs);
  } finally {
    client?.close();
    await cp.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
