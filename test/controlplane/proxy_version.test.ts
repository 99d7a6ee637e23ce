/**
 * Which version the control plane reports for a proxy (/debug/version for tsmesh version,
 * /debug/syncz for proxy-status): a tsmesh proxy's own build from the node its bootstrap gives
 * it (user_agent_name "tsmesh", user_agent_build_version), a real Envoy's ISTIO_VERSION.
 */
import { caStateDir } from '../helpers/processes.ts';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ControlPlane } from '../../src/controlplane/server.ts';
import { buildBootstrap, ISTIO_VERSION } from '../../src/agent/bootstrap.ts';
import { TSMESH_VERSION } from '../../src/common/version.ts';
import { newAdsServiceClient } from '../../src/xds/grpc.ts';
import { TYPE } from '../../src/xds/types.ts';

test("a tsmesh proxy reports tsmesh's version, a real Envoy its ISTIO_VERSION", { timeout: 60_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tsmesh-proxy-version-'));
  const cp = new ControlPlane({ configDir: dir, grpcPort: 0, httpPort: 0, secureGrpcPort: 0, stateDir: caStateDir(t), log: () => {} });
  const clients: Array<ReturnType<typeof newAdsServiceClient>> = [];
  try {
    await cp.start();
    const tsmeshNode = buildBootstrap({ type: 'sidecar', ip: '127.0.8.1', pod: 'web-1', namespace: 'default', app: 'web', labels: { app: 'web' }, workloadName: 'web', admin: { host: '127.0.0.1', port: 0 }, xds: { host: '127.0.0.1', port: cp.grpcPort } }).node;
    assert.equal(tsmeshNode.user_agent_name, 'tsmesh');
    // istio-proxy's node: user_agent_name "envoy", its own build, Istio's version in metadata.
    const envoyNode = { id: 'sidecar~127.0.8.2~envoy-1.default~default.svc.cluster.local', user_agent_name: 'envoy', user_agent_build_version: { version: { major_number: 1, minor_number: 32, patch: 3 } }, metadata: { NAMESPACE: 'default', ISTIO_VERSION: '1.24.2' } };
    for (const node of [tsmeshNode, envoyNode]) {
      const c = newAdsServiceClient(`127.0.0.1:${cp.grpcPort}`);
      clients.push(c);
      const s = c.StreamAggregatedResources();
      s.on('error', () => {});
      s.on('data', () => {});
      s.write({ node, type_url: TYPE.CLUSTER, resource_names: [], version_info: '', response_nonce: '' } as never);
    }
    const end = Date.now() + 10_000;
    while (cp.discovery.connections().length < 2 && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
    const base = `http://127.0.0.1:${cp.httpPort}`;
    const version = (await (await fetch(`${base}/debug/version`)).json()) as { version: string; proxies: Array<{ ID: string; IstioVersion: string }> };
    assert.equal(version.version, TSMESH_VERSION);
    assert.deepEqual(version.proxies.map((p) => [p.ID.split('~')[2], p.IstioVersion]), [
      ['web-1.default', TSMESH_VERSION],
      ['envoy-1.default', '1.24.2'],
    ]);
    const syncz = (await (await fetch(`${base}/debug/syncz`)).json()) as Array<{ proxy: string; istio_version: string }>;
    assert.deepEqual(Object.fromEntries(syncz.map((r) => [r.proxy, r.istio_version])), { 'web-1.default': TSMESH_VERSION, 'envoy-1.default': '1.24.2' });
    assert.notEqual(TSMESH_VERSION, ISTIO_VERSION, 'the two versions are told apart');
  } finally {
    for (const c of clients) c.close();
    await cp.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
