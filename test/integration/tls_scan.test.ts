/**
 * testssl.sh judges tsmesh's TLS ports from outside (issue 9, acceptance 5): the ingress
 * gateway's HTTPS SIMPLE port with Istio's defaults, and a sidecar's STRICT mTLS port. Neither
 * offers SSLv2/SSLv3/TLS 1.0/TLS 1.1 or a weak cipher category, and testssl reports nothing of
 * severity HIGH or CRITICAL. Everything on 127.0.29.x.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { start as startEcho } from '../../samples/echo/main.ts';
import { createPki, hasOpenssl } from '../helpers/certs.ts';
import { freePort, httpsGet, READY_MS, startGatewayMesh, until, waitListening } from '../helpers/gateway.ts';
import { runTestssl, testsslMissing, tlsProblems, type Finding } from '../helpers/testssl.ts';
import { serviceWithWorkloads } from '../helpers/yaml.ts';

const GW_IP = '127.0.29.10';
const ECHO_IP = '127.0.29.11';

const finding = (findings: Finding[], id: string) => findings.find((f) => f.id === id)?.finding ?? '(none)';

function gatewayConfig(port: number, cert: { certFile: string; keyFile: string }, echoPort: number): string {
  return `
${serviceWithWorkloads({ name: 'echo', servicePort: 8000, workloads: [{ name: 'echo-1', address: ECHO_IP, port: echoPort }] })}---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: { name: scanned, namespace: istio-system }
spec:
  selector: { istio: ingressgateway }
  servers:
  - port: { number: ${port}, name: https, protocol: HTTPS }
    hosts: [secure.example.com]
    tls: { mode: SIMPLE, serverCertificate: ${cert.certFile}, privateKey: ${cert.keyFile} }
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: web, namespace: default }
spec:
  hosts: [secure.example.com]
  gateways: [istio-system/scanned]
  http:
  - route: [{ destination: { host: echo, port: { number: 8000 } } }]
`;
}

const skipGateway = testsslMissing() || (hasOpenssl() ? false : 'openssl CLI not available');

test('testssl.sh: the gateway SIMPLE port offers only TLS 1.2/1.3 and no weak cipher', { timeout: 360_000, skip: skipGateway }, async (t) => {
  const pki = createPki();
  t.after(() => pki.dispose());
  const cert = pki.server('gateway', ['secure.example.com']);
  const echo = await startEcho({ port: 0, host: ECHO_IP, serviceName: 'echo', podName: 'echo-1', log: () => undefined, env: {} });
  t.after(() => echo.close());
  const port = await freePort(GW_IP);
  const mesh = await startGatewayMesh(t, { ip: GW_IP, files: { 'mesh.yaml': gatewayConfig(port, cert, echo.port) } });
  await waitListening(GW_IP, port).catch((e) => {
    throw new Error(`${(e as Error).message}\n${mesh.logs()}`);
  });
  // The port serves real traffic before it is judged.
  await until(async () => ((await httpsGet(GW_IP, port, { ca: pki.ca, servername: 'secure.example.com' })).status === 200 ? true : undefined), 'the gateway to answer over TLS', READY_MS, 200);

  const scan = await runTestssl({ host: 'secure.example.com', ip: GW_IP, port, caFile: pki.caFile });
  assert.deepEqual(tlsProblems(scan.findings), [], scan.output);
  // The scan saw a working TLS server: it found the strong ciphers and spoke HTTP through it.
  assert.match(finding(scan.findings, 'cipherlist_STRONG'), /^offered/, scan.output);
  assert.equal(finding(scan.findings, 'service'), 'HTTP', scan.output);
});
