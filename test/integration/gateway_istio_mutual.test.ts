/**
 * A Gateway server with `tls.mode: ISTIO_MUTUAL`: the gateway terminates mesh mTLS with its own
 * workload certificate (from its agent, over SDS) and admits only clients whose certificate the
 * mesh CA signed. A mesh client gets the page and sees the gateway's SPIFFE identity; a client
 * without a certificate, or with one from another CA, is refused.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';
import tls from 'node:tls';
import { CertificateAuthority } from '../../src/ca/authority.ts';
import { createWorkloadCsr } from '../../src/agent/csr.ts';
import { createPki, hasOpenssl } from '../helpers/certs.ts';
import { startMesh } from '../helpers/mesh.ts';
import { freePort } from '../helpers/processes.ts';
import { until } from '../helpers/poll.ts';

const CONFIG = (port: number) => `apiVersion: v1
kind: Service
metadata: { name: web, namespace: default }
spec:
  selector: { app: web }
  ports: [{ name: http, port: 80, targetPort: 8080 }]
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: { name: mesh-gateway, namespace: istio-system }
spec:
  selector: { istio: ingressgateway }
  servers:
  - port: { number: ${port}, name: https-mesh, protocol: HTTPS }
    hosts: ["*"]
    tls: { mode: ISTIO_MUTUAL }
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: web, namespace: default }
spec:
  hosts: ["*"]
  gateways: [istio-system/mesh-gateway]
  http:
  - route: [{ destination: { host: web, port: { number: 80 } } }]
`;

/** One GET over TLS; resolves with the status line and the server's URI SAN, or the handshake error. */
function get(ip: string, port: number, o: tls.ConnectionOptions): Promise<{ status: string; serverSan?: string } | { error: string }> {
  return new Promise((resolve) => {
    // A workload certificate names a SPIFFE identity, not a host: check that instead of a name.
    const s = tls.connect({ host: ip, port, checkServerIdentity: () => undefined, ALPNProtocols: ['http/1.1'], ...o });
    let data = '';
    let serverSan: string | undefined;
    s.setTimeout(10_000, () => s.destroy(new Error('timeout')));
    s.once('secureConnect', () => {
      serverSan = s.getPeerCertificate().subjectaltname;
      s.write('GET / HTTP/1.1\r\nhost: web\r\nconnection: close\r\n\r\n');
    });
    s.on('data', (d) => (data += d));
    s.once('error', (e) => resolve({ error: e.message }));
    s.once('close', () => resolve(data ? { status: data.split('\r\n')[0]!, serverSan } : { error: 'closed without a response' }));
  });
}

test('Gateway ISTIO_MUTUAL: mesh clients get in over mTLS with the gateway\'s SPIFFE identity; others are refused', { skip: !hasOpenssl() && 'openssl CLI not available', timeout: 120_000 }, async (t) => {
  const port = await freePort('127.0.0.1');
  const mesh = await startMesh(t, { config: { 'mesh.yaml': CONFIG(port) } });
  await mesh.startPod({
    name: 'web',
    labels: { app: 'web' },
    ports: { http: 8080 },
    app: (ip) => {
      const s = createServer((_req, res) => res.end('web'));
      return new Promise((r) => s.listen(8080, ip, () => r({ close: () => new Promise<void>((c) => (s.close(() => c()), s.closeAllConnections())) })));
    },
  });
  const gw = await mesh.startGateway({ ports: [port], identity: {} });

  const root = readFileSync(join(mesh.stateDir, 'ca', 'root-cert.pem'), 'utf8');
  const ca = await CertificateAuthority.load({ stateDir: mesh.stateDir });
  const { csrPem, keyPem } = await createWorkloadCsr('spiffe://cluster.local/ns/default/sa/curl');
  const chain = await ca.sign(csrPem, { namespace: 'default', serviceAccount: 'curl' });
  const meshClient = { ca: root, cert: chain.join(''), key: keyPem };

  const ok = await until(async () => {
    const r = await get(gw.ip, port, meshClient);
    return 'status' in r && r.status.startsWith('HTTP/1.1 200') ? r : undefined;
  }, 'the ISTIO_MUTUAL server to answer a mesh client', 60_000, 250);
  assert.equal(ok.serverSan, 'URI:spiffe://cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account');

  const noCert = await get(gw.ip, port, { ca: root });
  assert.ok(!('status' in noCert && noCert.status.includes('200')), `no client certificate: ${JSON.stringify(noCert)}`);
  const rogue = createPki('tsmesh-rogue-gw-');
  t.after(() => rogue.dispose());
  const other = rogue.client('rogue', 'rogue');
  const refused = await get(gw.ip, port, { ca: root, cert: other.cert, key: other.key });
  assert.ok(!('status' in refused && refused.status.includes('200')), `another CA: ${JSON.stringify(refused)}`);
  const again = await get(gw.ip, port, meshClient);
  assert.ok('status' in again && again.status.startsWith('HTTP/1.1 200'), 'the gateway keeps serving mesh clients');
});
