/**
 * DestinationRule `tls.credentialName` on a sidecar (Istio's TLS origination with a client
 * certificate from a Kubernetes Secret): the control plane serves the Secret in the sidecar's
 * namespace over SDS, and the sidecar presents it to an external server that requires client
 * certificates, verifying that server with the Secret's ca.crt.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import https from 'node:https';
import type { TLSSocket } from 'node:tls';
import { createPki, hasOpenssl } from '../helpers/certs.ts';
import { startMesh } from '../helpers/mesh.ts';
import { freePort } from '../helpers/processes.ts';

const SERVER_IP = '127.0.33.1';
const b64 = (s: string) => Buffer.from(s).toString('base64');

test('DestinationRule MUTUAL with credentialName: the sidecar presents the Secret\'s certificate and trusts its ca.crt', { skip: !hasOpenssl() && 'openssl CLI not available', timeout: 120_000 }, async (t) => {
  const pki = createPki();
  const rogue = createPki('tsmesh-rogue-origination-');
  t.after(() => (pki.dispose(), rogue.dispose()));
  const serverCert = pki.server('secure', ['secure.example.com']);
  const client = pki.client('client', 'mesh-client');
  const port = await freePort(SERVER_IP);
  const server = https.createServer({ cert: serverCert.cert, key: serverCert.key, ca: pki.ca, requestCert: true, rejectUnauthorized: true }, (req, res) => {
    res.end(`hello ${(req.socket as TLSSocket).getPeerCertificate().subject?.CN}`);
  });
  server.on('tlsClientError', () => undefined);
  await new Promise<void>((r) => server.listen(port, SERVER_IP, () => r()));
  t.after(() => new Promise<void>((r) => (server.close(() => r()), server.closeAllConnections())));

  const secret = (ca: string) => `apiVersion: v1
kind: Secret
metadata: { name: client-credential, namespace: default }
type: Opaque
data: { tls.crt: ${b64(client.cert)}, tls.key: ${b64(client.key)}, ca.crt: ${b64(ca)} }
`;
  const mesh = await startMesh(t, {
    config: {
      'secure.yaml': `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: secure, namespace: default }
spec:
  hosts: [secure.example.com]
  location: MESH_EXTERNAL
  ports: [{ number: 80, name: http, protocol: HTTP, targetPort: ${port} }]
  resolution: STATIC
  endpoints: [{ address: ${SERVER_IP} }]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: secure, namespace: default }
spec:
  host: secure.example.com
  trafficPolicy:
    tls: { mode: MUTUAL, credentialName: client-credential, sni: secure.example.com }
`,
      'secret.yaml': secret(pki.ca),
    },
  });
  const pod = await mesh.startPod({ name: 'app', labels: { app: 'app' } });
  const ok = await pod.waitFor('secure.example.com', '/', (r) => r.status === 200);
  assert.equal(ok.body, 'hello mesh-client', 'the server saw the Secret\'s client certificate');

  // A ca.crt that does not sign the server: the sidecar refuses the server (fails closed).
  mesh.writeConfig('secret.yaml', secret(rogue.ca));
  const refused = await pod.waitFor('secure.example.com', '/', (r) => r.status === 503);
  assert.match(refused.body, /upstream connect error|reset/);
});
