/**
 * Sidecar auto-registration through the control plane: a connecting sidecar that a Service
 * selects becomes its endpoint (batched into one registry rebuild with others); one that nothing
 * selects asks for no rebuild and no push; a disconnect removes the endpoint again.
 */
import { caStateDir } from '../helpers/processes.ts';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ControlPlane } from '../../src/controlplane/server.ts';
import { newAdsServiceClient } from '../../src/xds/grpc.ts';
import { TYPE } from '../../src/xds/types.ts';

const SERVICE = `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: web, namespace: default}
spec:
  hosts: [web.default.svc.cluster.local]
  location: MESH_INTERNAL
  ports: [{number: 8080, name: http, protocol: HTTP}]
  resolution: STATIC
  workloadSelector: {labels: {app: web}}
`;

function node(name: string, ip: string, app: string) {
  return {
    id: `sidecar~${ip}~${name}.default~default.svc.cluster.local`,
    metadata: { NAMESPACE: 'default', NAME: name, WORKLOAD_NAME: name, INSTANCE_IPS: ip, LABELS: { app } },
  };
}

async function until(cond: () => boolean, what: string, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('a selected sidecar becomes an endpoint; an unselected one triggers no registry rebuild or push', { timeout: 60_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tsmesh-autoreg-'));
  writeFileSync(join(dir, 'web.yaml'), SERVICE);
  const cp = new ControlPlane({ configDir: dir, grpcPort: 0, httpPort: 0, secureGrpcPort: 0, stateDir: caStateDir(t), log: () => {} });
  const clients: Array<ReturnType<typeof newAdsServiceClient>> = [];
  try {
    await cp.start();
    const open = (n: ReturnType<typeof node>) => {
      const c = newAdsServiceClient(`127.0.0.1:${cp.grpcPort}`);
      clients.push(c);
      const s = c.StreamAggregatedResources();
      s.on('error', () => {});
      s.on('data', () => {});
      s.write({ node: n, type_url: TYPE.CLUSTER, resource_names: [], version_info: '', response_nonce: '' } as never);
      return s;
    };
    const endpoints = () => cp.registry.endpoints('web.default.svc.cluster.local', 8080).map((e) => e.address);

    const other = open(node('other-1', '127.0.7.9', 'other'));
    await until(() => cp.discovery.connections().length === 1, 'the unselected sidecar to connect');
    await new Promise((r) => setTimeout(r, 300)); // longer than the batching delay
    assert.equal(cp.autoRegistration.flushes, 0, 'nothing selects it: no registry rebuild');
    assert.equal(cp.discovery.stats.requests, 0, 'and no push requested');

    const web = open(node('web-1', '127.0.7.1', 'web'));
    await until(() => endpoints().includes('127.0.7.1'), 'the selected sidecar to become an endpoint');
    assert.equal(cp.autoRegistration.flushes, 1);
    assert.deepEqual(endpoints(), ['127.0.7.1'], 'the unselected one is no endpoint');
    assert.ok(cp.registry.workloads().some((w) => w.name === 'other-1'), 'but it is a registered workload');

    web.cancel();
    await until(() => endpoints().length === 0, 'the endpoint to go with its stream');
    other.cancel();
  } finally {
    for (const c of clients) c.close();
    await cp.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

// Istio's EDSUpdate: an endpoint change that changes a service's service accounts is a full push,
// because clusters carry the SPIFFE ids as SANs. Without it a client's mTLS to the new workload
// would not check the server's identity until some unrelated full push.
test('a sidecar with a new service account reaches subscribed clients as a CDS update carrying its SPIFFE id', { timeout: 60_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tsmesh-autoreg-sa-'));
  writeFileSync(join(dir, 'web.yaml'), SERVICE);
  const cp = new ControlPlane({ configDir: dir, grpcPort: 0, httpPort: 0, secureGrpcPort: 0, stateDir: caStateDir(t), log: () => {} });
  const clients: Array<ReturnType<typeof newAdsServiceClient>> = [];
  const SAN = 'spiffe://cluster.local/ns/default/sa/web-sa';
  try {
    await cp.start();
    const open = (n: ReturnType<typeof node>, onCds: (names: string[], withSan: boolean) => void) => {
      const c = newAdsServiceClient(`127.0.0.1:${cp.grpcPort}`);
      clients.push(c);
      const s = c.StreamAggregatedResources();
      s.on('error', () => {});
      s.on('data', (r: { type_url: string; version_info: string; nonce: string; resources: Array<{ value: Buffer }> }) => {
        // ACK, as a proxy does, so the next push is not held back.
        s.write({ node: n, type_url: r.type_url, resource_names: [], version_info: r.version_info, response_nonce: r.nonce } as never);
        if (r.type_url === TYPE.CLUSTER) onCds(r.resources.map((x) => x.value.toString('latin1')), r.resources.some((x) => x.value.toString('latin1').includes(SAN)));
      });
      s.write({ node: n, type_url: TYPE.CLUSTER, resource_names: [], version_info: '', response_nonce: '' } as never);
      return s;
    };
    const withCerts = (n: ReturnType<typeof node>, sa?: string) => ({
      ...n,
      metadata: { ...n.metadata, TSMESH_WORKLOAD_CERTIFICATES: 'true', LABELS: { ...n.metadata.LABELS, 'security.istio.io/tlsMode': 'istio' }, ...(sa ? { SERVICE_ACCOUNT: sa } : {}) },
    });
    let cdsResponses = 0;
    let sawSan = false;
    open(withCerts(node('client-1', '127.0.7.20', 'client')), (names, withSan) => {
      if (names.some((n) => n.includes('outbound|8080||web.default.svc.cluster.local'))) cdsResponses++;
      sawSan ||= withSan;
    });
    await until(() => cdsResponses === 1, "the client's first CDS response");
    assert.equal(sawSan, false, 'no workload yet: no SAN to check');

    open(withCerts(node('web-1', '127.0.7.21', 'web'), 'web-sa'), () => {});
    await until(() => cp.registry.endpoints('web.default.svc.cluster.local', 8080).some((e) => e.address === '127.0.7.21'), 'the web sidecar to become an endpoint');
    await until(() => sawSan, `a CDS update to the client with ${SAN}`);
  } finally {
    for (const c of clients) c.close();
    await cp.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
