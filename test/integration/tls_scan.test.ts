/**
 * testssl.sh judges tsmesh's TLS ports from outside (issue 9, acceptance 5): the ingress
 * gateway's HTTPS SIMPLE port with Istio's defaults, and a sidecar's STRICT mTLS port. Neither
 * offers SSLv2/SSLv3/TLS 1.0/TLS 1.1 or a weak cipher category, and testssl reports nothing of
 * severity HIGH or CRITICAL. Everything on 127.0.29.x.
 */
import { test, type TestContext } from 'node:test';
import https from 'node:https';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { start as startEcho } from '../../samples/echo/main.ts';
import { CertificateAuthority } from '../../src/ca/authority.ts';
import { spiffeId } from '../../src/ca/spiffe.ts';
import { issueWorkloadToken } from '../../src/ca/token.ts';
import { createWorkloadCsr } from '../../src/agent/csr.ts';
import { sidecarBootstrap, writeBootstrap } from '../../src/agent/bootstrap.ts';
import { ISTIO_ALPN } from '../../src/pilot/cluster/tls.ts';
import { createPki, hasOpenssl } from '../helpers/certs.ts';
import { freePort, httpGet, httpsGet, READY_MS, startGatewayMesh, until, waitListening } from '../helpers/gateway.ts';
import { spawnTsmesh, startControlPlane, type Proc } from '../helpers/processes.ts';
import { runTestssl, testsslMissing, tlsProblems, type Finding } from '../helpers/testssl.ts';
import { serviceWithWorkloads } from '../helpers/yaml.ts';

const GW_IP = '127.0.29.10';
const ECHO_IP = '127.0.29.11';
const POD_IP = '127.0.29.20';
const APP_IP = '127.0.29.21';

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

function strictConfig(appPort: number): string {
  return `
apiVersion: v1
kind: Namespace
metadata: { name: scan, labels: { istio-injection: enabled } }
---
apiVersion: v1
kind: Service
metadata: { name: scanned, namespace: scan }
spec:
  selector: { app: scanned }
  ports: [{ name: http, port: 8000, targetPort: ${appPort} }]
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: { name: default, namespace: scan }
spec: { mtls: { mode: STRICT } }
`;
}

/**
 * One request as a client sidecar makes it: its workload certificate, Istio's SNI and ALPN, the
 * server's chain checked against the mesh root and its identity by SPIFFE URI (not host name).
 */
function meshPeerGet(ip: string, port: number, c: { cert?: string; key?: string; ca: string }): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    // https.request hands ALPNProtocols on to tls.connect; its own option type leaves it out.
    const options: https.RequestOptions & { ALPNProtocols: string[] } = {
      host: ip,
      port,
      path: '/',
      headers: { host: 'scanned.scan.svc.cluster.local' },
      cert: c.cert,
      key: c.key,
      ca: c.ca,
      servername: 'outbound_.8000_._.scanned.scan.svc.cluster.local',
      ALPNProtocols: ISTIO_ALPN,
      checkServerIdentity: (_host, cert) => (cert.subjectaltname === 'URI:spiffe://cluster.local/ns/scan/sa/scanned' ? undefined : new Error(`unexpected server identity ${cert.subjectaltname}`)),
      agent: false,
      timeout: 10_000,
    };
    const req = https.request(
      options,
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('timeout', () => req.destroy(new Error('request timed out')));
    req.on('error', reject);
    req.end();
  });
}

/**
 * A control plane with its CA, and a pod as the demo runs one (Istio's NONE interception: the
 * sidecar's inbound listener on the pod address, the echo app on its own address) whose
 * `tsmesh proxy` runs the workload agent with a token, as pilot-agent does.
 */
async function startStrictSidecar(t: TestContext) {
  const dir = mkdtempSync(join(tmpdir(), 'tsmesh-tls-scan-'));
  const procs: Proc[] = [];
  t.after(async () => {
    for (const p of procs.reverse()) await p.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  const echo = await startEcho({ port: 0, host: APP_IP, serviceName: 'scanned', podName: 'scanned-1', log: () => undefined, env: {} });
  t.after(() => echo.close());
  const configDir = join(dir, 'config');
  mkdirSync(configDir);
  writeFileSync(join(configDir, 'scan.yaml'), strictConfig(echo.port));
  const cp = await startControlPlane(configDir);
  procs.push(cp);
  const tokenFile = join(dir, 'token');
  writeFileSync(tokenFile, await issueWorkloadToken(cp.stateDir, { namespace: 'scan', serviceAccount: 'scanned', ttlSeconds: 3600 }));
  const rootFile = join(cp.stateDir, 'ca', 'root-cert.pem');
  const bootstrapFile = join(dir, 'bootstrap.json');
  writeBootstrap(
    bootstrapFile,
    sidecarBootstrap({
      pod: 'scanned-1',
      namespace: 'scan',
      podIP: POD_IP,
      appIP: APP_IP,
      app: 'scanned',
      labels: { app: 'scanned' },
      serviceAccount: 'scanned',
      workloadName: 'scanned',
      ports: { http: echo.port },
      containerPorts: [echo.port],
      adminPort: 0,
      outboundPort: 15080,
      xds: { host: '127.0.0.1', port: cp.grpcPort },
      sdsSocket: join(dir, 'sds.sock'),
    }),
  );
  const agentFlags = ['--ca-address', `127.0.0.1:${cp.secureGrpcPort}`, '--token-file', tokenFile, '--ca-root-cert', rootFile];
  const sidecar = await spawnTsmesh(['proxy', '--bootstrap', bootstrapFile, '--admin-port', '0', '--drain-time-s', '0', ...agentFlags], /tsmesh proxy ready/);
  procs.push(sidecar);
  const logs = () => `--- controlplane ---\n${cp.output().slice(-3000)}\n--- sidecar ---\n${sidecar.output().slice(-3000)}`;
  await waitListening(POD_IP, echo.port).catch((e) => {
    throw new Error(`${(e as Error).message}\n${logs()}`);
  });

  // The scanner's own workload certificate, signed by the mesh CA as the agent's would be.
  const ca = await CertificateAuthority.load({ stateDir: cp.stateDir });
  const scanner = { namespace: 'scan', serviceAccount: 'testssl' };
  const { csrPem, keyPem } = await createWorkloadCsr(spiffeId(ca.trustDomain, scanner));
  const chain = await ca.sign(csrPem, scanner);
  const client = { cert: chain[0]!, key: keyPem, ca: ca.rootsPem() };
  const clientFile = join(dir, 'scanner.pem');
  writeFileSync(clientFile, client.cert + client.key, { mode: 0o600 });
  return { port: echo.port, rootFile, client, clientFile, logs };
}

test('testssl.sh: a STRICT sidecar port offers only TLS 1.2/1.3, no weak cipher, and requires a client certificate', { timeout: 360_000, skip: testsslMissing() }, async (t) => {
  const s = await startStrictSidecar(t);
  // The port is a working STRICT mTLS port before it is judged: a mesh peer (workload
  // certificate, Istio's ALPN) gets the app's answer; a plaintext client gets nothing.
  const r = await until(async () => {
    const x = await meshPeerGet(POD_IP, s.port, s.client).catch(() => undefined);
    return x?.status === 200 ? x : undefined;
  }, 'the STRICT port to answer a mesh peer over mTLS', READY_MS, 200).catch((e) => {
    throw new Error(`${(e as Error).message}\n${s.logs()}`);
  });
  assert.equal(JSON.parse(r.body).service, 'scanned');
  await assert.rejects(httpGet(POD_IP, s.port, 'scanned.scan.svc.cluster.local'), 'plaintext is refused under STRICT');
  await assert.rejects(meshPeerGet(POD_IP, s.port, { ca: s.client.ca }), 'TLS without a client certificate is refused under STRICT');

  const scan = await runTestssl({ host: 'scanned.scan.svc.cluster.local', ip: POD_IP, port: s.port, caFile: s.rootFile, clientCertFile: s.clientFile });
  assert.deepEqual(tlsProblems(scan.findings), [], `${scan.output}\n${s.logs()}`);
  assert.match(finding(scan.findings, 'cipherlist_STRONG'), /^offered/, scan.output);
  // Istio's mesh suites are AEAD only: not even the CBC ones the gateway's defaults allow.
  assert.match(finding(scan.findings, 'cipherlist_AVERAGE'), /^not offered/, scan.output);
  // The port still answers mesh peers after the scan's hundreds of odd handshakes.
  assert.equal((await meshPeerGet(POD_IP, s.port, s.client)).status, 200);
});
