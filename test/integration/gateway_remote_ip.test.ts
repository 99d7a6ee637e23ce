/**
 * remoteIpBlocks behind a load balancer (issue 10): with meshConfig
 * defaultConfig.gatewayTopology.numTrustedProxies 1, the ingress gateway takes the client address
 * from the last X-Forwarded-For entry its load balancer appended, so a DENY on that client's block
 * holds whatever address the connection comes from, while ipBlocks (the direct peer) still sees
 * the load balancer. Without the setting the same header is not trusted.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { start as startHttpbin } from '../../samples/httpbin/main.ts';
import { freePort, httpGet, READY_MS, startGatewayMesh, until, waitListening } from '../helpers/gateway.ts';
import { httpGatewayTo, serviceWithWorkloads } from '../helpers/yaml.ts';

const GW_IP = '127.0.21.80';
const HTTPBIN_IP = '127.0.21.81';

function files(gwPort: number, httpbinPort: number): Record<string, string> {
  return {
    'httpbin.yaml': serviceWithWorkloads({ name: 'httpbin', servicePort: 8000, workloads: [{ name: 'httpbin-1', address: HTTPBIN_IP, port: httpbinPort }] }),
    'gateway.yaml': httpGatewayTo({ name: 'gw', port: gwPort, service: 'httpbin', servicePort: 8000 }),
    'deny.yaml': `
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: deny-blocked-clients, namespace: istio-system }
spec:
  selector: { matchLabels: { istio: ingressgateway } }
  action: DENY
  rules:
  - from:
    - source: { remoteIpBlocks: ["203.0.113.0/24"] }
`,
  };
}

for (const trusted of [1, 0]) {
  test(`gateway remoteIpBlocks with numTrustedProxies ${trusted}`, { timeout: 180_000 }, async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'tsmesh-remote-ip-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const meshFile = join(dir, 'mesh.yaml');
    writeFileSync(meshFile, `defaultConfig:\n  gatewayTopology:\n    numTrustedProxies: ${trusted}\n`);
    const httpbin = await startHttpbin({ port: 0, host: HTTPBIN_IP, log: () => undefined, env: {} });
    t.after(() => httpbin.close());
    const gwPort = await freePort();
    const mesh = await startGatewayMesh(t, { ip: GW_IP, files: files(gwPort, httpbin.port), controlplaneArgs: ['--mesh', meshFile] });
    await waitListening(GW_IP, gwPort);
    const get = (xff?: string) => httpGet(GW_IP, gwPort, 'httpbin.example.com', '/get', xff ? { 'x-forwarded-for': xff } : {});
    await until(async () => ((await get()).status === 200 ? true : undefined), 'the gateway to route', READY_MS, 200).catch((e) => {
      throw new Error(`${(e as Error).message}\n${mesh.logs()}`);
    });
    // The load balancer in front appended the client it saw: a blocked one, then an allowed one.
    const blocked = await until(async () => {
      const r = await get('203.0.113.7');
      return trusted ? (r.status === 403 ? r : undefined) : r;
    }, 'the DENY to reach the gateway', READY_MS, 200);
    if (trusted) {
      assert.equal(blocked.status, 403);
      assert.equal(blocked.body, 'RBAC: access denied');
      assert.equal((await get('198.51.100.7')).status, 200, 'another client passes');
      assert.equal((await get('203.0.113.7, 198.51.100.7')).status, 200, 'only the hop the load balancer added is trusted');
      assert.equal((await get('198.51.100.7, 203.0.113.7')).status, 403);
    } else {
      // Nothing is trusted: the client is the direct peer (loopback), never the header's.
      assert.equal(blocked.status, 200);
      assert.equal((await get('198.51.100.7, 203.0.113.7')).status, 200);
    }
  });
}
