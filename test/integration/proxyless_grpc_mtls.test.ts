/**
 * Acceptance (issue 9, point 6): proxyless gRPC with mesh mTLS. gRPC's own xDS library
 * (@grpc/grpc-js-xds, which nobody here wrote) runs a server (XdsServer + XdsServerCredentials)
 * and a client (XdsChannelCredentials), each with its own workload certificate from our CA
 * through a gRPC bootstrap with the `file_watcher` certificate provider. Under a STRICT
 * PeerAuthentication the mesh call is mTLS (the server sees the client's SPIFFE id), a plaintext
 * client to the server's port fails, and so does a TLS client without a certificate; a client that
 * expects another server identity refuses the server; under PERMISSIVE plaintext works too.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import * as grpc from '@grpc/grpc-js';
import { CertificateAuthority } from '../../src/ca/authority.ts';
import { privateKeyPem } from '../../src/ca/keys.ts';
import { makeCsr } from '../ca/helpers.ts';
import { until } from '../helpers/poll.ts';
import { REPO, freePort, startControlPlane } from '../helpers/processes.ts';
import { loadEchoPackage, type EchoResponse } from '../../samples/grpc-echo/main.ts';

const HOST = 'echo.default.svc.cluster.local';
const CLIENT_ID = 'spiffe://cluster.local/ns/default/sa/client-sa';
const SERVER_ID = 'spiffe://cluster.local/ns/default/sa/echo-sa';

function echoYaml(port: number): string {
  return `apiVersion: v1
kind: Service
metadata: { name: echo, namespace: default }
spec:
  selector: { app: echo }
  ports: [{ name: grpc, port: 7070 }]
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: { name: echo-1, namespace: default }
spec: { address: 127.0.0.1, labels: { app: echo }, serviceAccount: echo-sa, ports: { grpc: ${port} } }
`;
}

function destinationRule(tls: string): string {
  return `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: echo, namespace: default }
spec: { host: ${HOST}, trafficPolicy: { tls: ${tls} } }
`;
}

function peerAuthentication(mode: string): string {
  return `apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: { name: echo, namespace: default }
spec: { selector: { matchLabels: { app: echo } }, mtls: { mode: ${mode} } }
`;
}

/**
 * What the workload's agent provides a proxyless gRPC app: its certificate, key and the mesh root
 * in files, and a gRPC bootstrap naming them as the `default` file_watcher provider, with the node
 * pilot keys on (GENERATOR grpc, labels, service account, TSMESH_WORKLOAD_CERTIFICATES).
 */
async function grpcBootstrap(dir: string, stateDir: string, xdsPort: number, w: { name: string; serviceAccount: string; labels: Record<string, string> }): Promise<string> {
  const ca = await CertificateAuthority.load({ stateDir });
  const { csrPem, keyPair } = await makeCsr([`spiffe://cluster.local/ns/default/sa/${w.serviceAccount}`]);
  const chain = await ca.sign(csrPem, { namespace: 'default', serviceAccount: w.serviceAccount });
  const leafAndIntermediates = chain.filter((pem) => {
    const c = new X509Certificate(pem);
    return c.subject !== c.issuer;
  });
  const files = { certificate_file: join(dir, `${w.name}-cert-chain.pem`), private_key_file: join(dir, `${w.name}-key.pem`), ca_certificate_file: join(dir, `${w.name}-root-cert.pem`) };
  writeFileSync(files.certificate_file, leafAndIntermediates.join(''));
  writeFileSync(files.private_key_file, await privateKeyPem(keyPair.privateKey), { mode: 0o600 });
  writeFileSync(files.ca_certificate_file, ca.rootsPem());
  const bootstrap = {
    xds_servers: [{ server_uri: `127.0.0.1:${xdsPort}`, channel_creds: [{ type: 'insecure' }], server_features: ['xds_v3'] }],
    node: {
      id: `sidecar~127.0.0.1~${w.name}.default~default.svc.cluster.local`,
      metadata: { GENERATOR: 'grpc', NAMESPACE: 'default', LABELS: w.labels, SERVICE_ACCOUNT: w.serviceAccount, TSMESH_WORKLOAD_CERTIFICATES: 'true' },
      locality: {},
    },
    certificate_providers: { default: { plugin_name: 'file_watcher', config: { ...files, refresh_interval: '900s' } } },
    server_listener_resource_name_template: 'xds.istio.io/grpc/lds/inbound/%s',
  };
  const path = join(dir, `${w.name}-bootstrap.json`);
  writeFileSync(path, JSON.stringify(bootstrap, null, 2));
  return path;
}

type Answer = { ok: true; reply: EchoResponse } | { ok: false; code: number; details: string };

/** The sample client as its own process (gRPC's xDS client retries its control plane forever). */
function startClient(args: string[], env: NodeJS.ProcessEnv): { child: ChildProcess; call(message: string): Promise<Answer> } {
  const child = spawn(process.execPath, ['--import', 'tsx', 'samples/grpc-echo/client.ts', ...args], { cwd: REPO, env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  return {
    child,
    async call(message) {
      child.stdin!.write(message + '\n');
      const { value, done } = await lines.next();
      if (done) throw new Error('the gRPC client process exited');
      return JSON.parse(value) as Answer;
    },
  };
}

/** One call from a fresh in-process channel (no xDS): fresh, so no reconnect backoff carries over. */
async function directCall(port: number, creds: grpc.ChannelCredentials): Promise<Answer> {
  const Echo = loadEchoPackage().echo.EchoService;
  // A host name for TLS's SNI (an IP address is not a valid server name).
  const client = new Echo(`127.0.0.1:${port}`, creds, { 'grpc.ssl_target_name_override': HOST });
  try {
    return await new Promise<Answer>((resolve) =>
      client.Echo({ message: 'direct' }, { deadline: Date.now() + 3000 }, (err: grpc.ServiceError | null, reply: EchoResponse) => resolve(err ? { ok: false, code: err.code, details: err.details } : { ok: true, reply })),
    );
  } finally {
    client.close();
  }
}

test('proxyless gRPC mTLS: STRICT takes only mesh clients (mTLS, SPIFFE ids checked both ways), PERMISSIVE takes plaintext too', { timeout: 150_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tsmesh-grpc-mtls-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const port = await freePort();
  writeFileSync(join(dir, 'echo.yaml'), echoYaml(port));
  writeFileSync(join(dir, 'dr.yaml'), destinationRule('{ mode: ISTIO_MUTUAL }'));
  writeFileSync(join(dir, 'pa.yaml'), peerAuthentication('STRICT'));
  const cp = await startControlPlane(dir);
  t.after(() => cp.stop());

  const certs = mkdtempSync(join(tmpdir(), 'tsmesh-grpc-certs-'));
  t.after(() => rmSync(certs, { recursive: true, force: true }));
  const serverBootstrap = await grpcBootstrap(certs, cp.stateDir, cp.grpcPort, { name: 'echo-1', serviceAccount: 'echo-sa', labels: { app: 'echo' } });
  const clientBootstrap = await grpcBootstrap(certs, cp.stateDir, cp.grpcPort, { name: 'client-1', serviceAccount: 'client-sa', labels: { app: 'client' } });
  const rootPem = readFileSync(join(certs, 'client-1-root-cert.pem'));

  // The echo sample as an XdsServer: it starts serving once its listener arrived from xDS.
  const server = spawn(process.execPath, ['--import', 'tsx', 'samples/grpc-echo/main.ts'], {
    cwd: REPO,
    env: { ...process.env, PORT: String(port), HOST: '127.0.0.1', XDS_SERVER: 'true', GRPC_XDS_BOOTSTRAP: serverBootstrap, POD_NAME: 'echo-1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.after(() => server.kill('SIGKILL'));
  let serverOut = '';
  server.stdout!.on('data', (d) => (serverOut += d));
  server.stderr!.on('data', (d) => (serverOut += d));
  await until(() => /listening on port/.test(serverOut), `the xDS echo server to serve (output: ${serverOut})`, 30_000, 50);

  const mesh = startClient([`xds:///${HOST}:7070`, '--xds-credentials'], { GRPC_XDS_BOOTSTRAP: clientBootstrap });
  t.after(() => {
    mesh.child.stdin!.end();
    mesh.child.kill('SIGKILL');
  });

  // STRICT: the mesh client's call is mTLS and the server sees who called.
  const first = await until(async () => {
    const a = await mesh.call('hello');
    return a.ok ? a.reply : undefined;
  }, 'a mesh call to succeed', 30_000, 200);
  assert.equal(first.message, 'hello');
  assert.equal(first.transportSecurity, 'ssl');
  assert.equal(first.peerIdentity, CLIENT_ID);
  t.diagnostic(`STRICT, mesh client: ${first.transportSecurity} from ${first.peerIdentity}`);

  // A plaintext client straight to the server's port is refused.
  const plain = await directCall(port, grpc.credentials.createInsecure());
  assert.equal(plain.ok, false, 'plaintext to a STRICT gRPC server must fail');
  assert.equal((plain as { code: number }).code, grpc.status.UNAVAILABLE);
  t.diagnostic(`STRICT, plaintext client: ${(plain as { details: string }).details}`);
  // So is TLS that trusts the mesh root but presents no certificate.
  const noCert = await directCall(port, grpc.credentials.createSsl(rootPem, null, null, { checkServerIdentity: () => undefined }));
  assert.equal(noCert.ok, false, 'TLS without a client certificate to a STRICT gRPC server must fail');
  t.diagnostic(`STRICT, TLS client without a certificate: ${(noCert as { details: string }).details}`);

  // The client checks the server's SPIFFE id: expecting another identity, it refuses the server.
  writeFileSync(join(dir, 'dr.yaml'), destinationRule(`{ mode: ISTIO_MUTUAL, subjectAltNames: ['spiffe://cluster.local/ns/default/sa/someone-else'] }`));
  const refused = await until(async () => {
    const a = await mesh.call('who are you');
    return a.ok ? undefined : a;
  }, 'the mesh client to refuse a server with an unexpected identity', 20_000, 200);
  t.diagnostic(`server identity ${SERVER_ID} not the one expected: ${refused.details}`);
  writeFileSync(join(dir, 'dr.yaml'), destinationRule(`{ mode: ISTIO_MUTUAL, subjectAltNames: ['${SERVER_ID}'] }`));
  const back = await until(async () => {
    const a = await mesh.call('hello again');
    return a.ok ? a.reply : undefined;
  }, 'the mesh call with the right server identity', 20_000, 200);
  assert.equal(back.peerIdentity, CLIENT_ID);

  // PERMISSIVE (and no TLS in the DestinationRule): plaintext works, from both clients.
  writeFileSync(join(dir, 'pa.yaml'), peerAuthentication('PERMISSIVE'));
  writeFileSync(join(dir, 'dr.yaml'), destinationRule('{ mode: DISABLE }'));
  const plainOk = await until(async () => {
    const a = await directCall(port, grpc.credentials.createInsecure());
    return a.ok ? a.reply : undefined;
  }, 'a plaintext call to the PERMISSIVE server', 20_000, 200);
  assert.equal(plainOk.transportSecurity, 'insecure');
  assert.equal(plainOk.peerIdentity, '');
  const meshPlain = await until(async () => {
    const a = await mesh.call('plain');
    return a.ok && a.reply.transportSecurity === 'insecure' ? a.reply : undefined;
  }, 'the mesh client to follow to plaintext', 20_000, 200);
  assert.equal(meshPlain.message, 'plain');
  t.diagnostic('PERMISSIVE: plaintext and mesh clients both answered in plaintext');
});
