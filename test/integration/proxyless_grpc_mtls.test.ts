/**
 * Acceptance (issue 9, point 6): proxyless gRPC with mesh mTLS. gRPC's own xDS library
 * (@grpc/grpc-js-xds, which nobody here wrote) runs a server (XdsServer + XdsServerCredentials)
 * and a client (XdsChannelCredentials), each beside its own `tsmesh agent --grpc-bootstrap`, which
 * gets the workload certificate from our CA and writes the gRPC bootstrap with the `file_watcher`
 * certificate provider. Under a STRICT
 * PeerAuthentication the mesh call is mTLS (the server sees the client's SPIFFE id), a plaintext
 * client to the server's port fails, and so does a TLS client without a certificate; a client that
 * expects another server identity refuses the server; under PERMISSIVE plaintext works too.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import * as grpc from '@grpc/grpc-js';
import { issueWorkloadToken } from '../../src/ca/token.ts';
import { until } from '../helpers/poll.ts';
import { REPO, freePort, spawnTsmesh, startControlPlane, type ControlPlaneProc } from '../helpers/processes.ts';
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
 * `tsmesh agent --grpc-bootstrap` for one workload, as Istio's agent beside a proxyless gRPC app:
 * it gets the workload's certificate from the control plane's CA with a workload token, keeps
 * cert-chain.pem / key.pem / root-cert.pem in its cert dir, and writes the gRPC bootstrap (the
 * `default` file_watcher provider over those files, the node pilot keys on).
 */
async function startAgent(t: TestContext, dir: string, cp: ControlPlaneProc, w: { name: string; serviceAccount: string; labels: string }): Promise<{ bootstrap: string; certDir: string }> {
  const tokenFile = join(dir, `${w.name}.token`);
  writeFileSync(tokenFile, await issueWorkloadToken(cp.stateDir, { namespace: 'default', serviceAccount: w.serviceAccount }));
  const bootstrap = join(dir, `${w.name}-bootstrap.json`);
  const certDir = join(dir, `${w.name}-certs`);
  const agent = await spawnTsmesh(
    [
      'agent', '--grpc-bootstrap', bootstrap, '--cert-dir', certDir,
      '--discovery-address', `127.0.0.1:${cp.grpcPort}`, '--ca-address', `127.0.0.1:${cp.secureGrpcPort}`,
      '--ca-root-cert', join(cp.stateDir, 'ca', 'root-cert.pem'), '--token-file', tokenFile,
      '--namespace', 'default', '--service-account', w.serviceAccount, '--workload-name', w.name, '--labels', w.labels, '--ip', '127.0.0.1',
    ],
    /tsmesh agent ready/,
  );
  t.after(() => agent.stop());
  return { bootstrap, certDir };
}

/** The echo sample as an XdsServer on `port`; resolves once its listener arrived from xDS and it serves. */
async function startXdsEchoServer(t: TestContext, port: number, bootstrap: string, env: NodeJS.ProcessEnv = {}): Promise<void> {
  const server = spawn(process.execPath, ['--import', 'tsx', 'samples/grpc-echo/main.ts'], {
    cwd: REPO,
    env: { ...process.env, PORT: String(port), HOST: '127.0.0.1', XDS_SERVER: 'true', GRPC_XDS_BOOTSTRAP: bootstrap, POD_NAME: 'echo-1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.after(() => server.kill('SIGKILL'));
  let out = '';
  server.stdout!.on('data', (d) => (out += d));
  server.stderr!.on('data', (d) => (out += d));
  await until(() => /listening on port/.test(out), 'the xDS echo server to serve', 30_000, 50).catch((e) => {
    throw new Error(`${(e as Error).message}; its output: ${out}`);
  });
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

  const agents = mkdtempSync(join(tmpdir(), 'tsmesh-grpc-agents-'));
  t.after(() => rmSync(agents, { recursive: true, force: true }));
  const [serverAgent, clientAgent] = await Promise.all([
    startAgent(t, agents, cp, { name: 'echo-1', serviceAccount: 'echo-sa', labels: 'app=echo' }),
    startAgent(t, agents, cp, { name: 'client-1', serviceAccount: 'client-sa', labels: 'app=client' }),
  ]);
  const serverBootstrap = serverAgent.bootstrap;
  const clientBootstrap = clientAgent.bootstrap;
  const rootPem = readFileSync(join(clientAgent.certDir, 'root-cert.pem'));

  // The echo sample as an XdsServer: it starts serving once its listener arrived from xDS.
  await startXdsEchoServer(t, port, serverBootstrap);

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

test('proxyless gRPC authorization (issue 10): an ALLOW for one client identity admits it and refuses another (PERMISSION_DENIED); changing the policy swaps them', { timeout: 150_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tsmesh-grpc-authz-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const port = await freePort();
  writeFileSync(join(dir, 'echo.yaml'), echoYaml(port));
  writeFileSync(join(dir, 'dr.yaml'), destinationRule('{ mode: ISTIO_MUTUAL }'));
  writeFileSync(join(dir, 'pa.yaml'), peerAuthentication('STRICT'));
  const allow = (principal: string) => `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: echo-allow, namespace: default }
spec:
  selector: { matchLabels: { app: echo } }
  rules:
  - from:
    - source: { principals: ["${principal}"] }
`;
  writeFileSync(join(dir, 'authz.yaml'), allow('cluster.local/ns/default/sa/client-sa'));
  // grpc-js-xds enforces RBAC only with this switch; without it the server refuses the listener
  // and never serves (fail closed), so a policy cannot be silently ignored.
  const cp = await startControlPlane(dir);
  t.after(() => cp.stop());

  const agents = mkdtempSync(join(tmpdir(), 'tsmesh-grpc-agents-'));
  t.after(() => rmSync(agents, { recursive: true, force: true }));
  const [serverAgent, goodAgent, otherAgent] = await Promise.all([
    startAgent(t, agents, cp, { name: 'echo-1', serviceAccount: 'echo-sa', labels: 'app=echo' }),
    startAgent(t, agents, cp, { name: 'client-1', serviceAccount: 'client-sa', labels: 'app=client' }),
    startAgent(t, agents, cp, { name: 'other-1', serviceAccount: 'other-sa', labels: 'app=other' }),
  ]);
  await startXdsEchoServer(t, port, serverAgent.bootstrap, { GRPC_XDS_EXPERIMENTAL_RBAC: 'true' });

  const clients = [goodAgent, otherAgent].map((a) => startClient([`xds:///${HOST}:7070`, '--xds-credentials'], { GRPC_XDS_BOOTSTRAP: a.bootstrap }));
  t.after(() => {
    for (const c of clients) {
      c.child.stdin!.end();
      c.child.kill('SIGKILL');
    }
  });
  const [good, other] = clients as [ReturnType<typeof startClient>, ReturnType<typeof startClient>];

  const ok = await until(async () => {
    const a = await good.call('hello');
    return a.ok ? a.reply : undefined;
  }, 'the admitted client to be answered', 30_000, 200);
  assert.equal(ok.peerIdentity, CLIENT_ID);
  const denied = await until(async () => {
    const a = await other.call('hello');
    return !a.ok && a.code === grpc.status.PERMISSION_DENIED ? a : undefined;
  }, 'the other identity to be refused with PERMISSION_DENIED', 30_000, 200);
  t.diagnostic(`other-sa refused: ${denied.details}`);
  // Still refused on every call, while the admitted client keeps being answered.
  for (let i = 0; i < 3; i++) {
    assert.equal((await other.call(`again ${i}`)).ok, false);
    assert.equal((await good.call(`again ${i}`)).ok, true);
  }

  // Admit other-sa instead: the roles swap once the server has the new listener.
  writeFileSync(join(dir, 'authz.yaml'), allow('cluster.local/ns/default/sa/other-sa'));
  await until(async () => {
    const a = await other.call('now');
    return a.ok ? a : undefined;
  }, 'other-sa to be admitted after the policy change', 30_000, 200);
  const goodNow = await good.call('now');
  assert.equal(goodNow.ok ? 'answered' : (goodNow as { code: number }).code, grpc.status.PERMISSION_DENIED);
});
