/**
 * The workload agent against the real CA server (src/ca, over TLS on loopback): the certificate
 * it gets carries its SPIFFE ID and is what its SDS socket serves; with a lifetime of a few
 * seconds it renews again and again (new key, new serial, pushed over SDS); with the CA stopped
 * it keeps serving the current certificate and retries, and recovers once the CA is back.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import { CertificateAuthority } from '../../src/ca/authority.ts';
import { CaServer } from '../../src/ca/server.ts';
import { issueWorkloadToken } from '../../src/ca/token.ts';
import { WorkloadAgent } from '../../src/agent/workload_agent.ts';
import { AdsClient } from '../../src/xds/client/index.ts';
import { TYPE } from '../../src/xds/types.ts';
import { until } from '../helpers/poll.ts';
import { refusedPort } from '../helpers/refused_port.ts';

interface World {
  dir: string;
  ca: CertificateAuthority;
  server: CaServer;
  port: number;
  rootFile: string;
  tokenFile: string;
  dispose(): Promise<void>;
}

async function world(ttlSeconds: number): Promise<World> {
  const dir = mkdtempSync(join(tmpdir(), 'tsmesh-agent-'));
  const stateDir = join(dir, 'state');
  const ca = await CertificateAuthority.load({ stateDir, trustDomain: 'cluster.local', workloadCertTtlSeconds: ttlSeconds });
  const server = new CaServer({ ca, stateDir });
  const port = await server.listen('127.0.0.1:0');
  const rootFile = join(dir, 'root-cert.pem');
  writeFileSync(rootFile, ca.rootsPem());
  const tokenFile = join(dir, 'token');
  writeFileSync(tokenFile, await issueWorkloadToken(stateDir, { namespace: 'foo', serviceAccount: 'httpbin', ttlSeconds: 3600 }));
  const w: World = {
    dir,
    ca,
    server,
    port,
    rootFile,
    tokenFile,
    dispose: async () => {
      await w.server.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return w;
}

function agentFor(w: World, ttlSeconds: number | undefined): WorkloadAgent {
  return new WorkloadAgent({
    caAddress: `127.0.0.1:${w.port}`,
    caRootCertFile: w.rootFile,
    tokenFile: w.tokenFile,
    namespace: 'foo',
    serviceAccount: 'httpbin',
    ...(ttlSeconds !== undefined ? { certTtlSeconds: ttlSeconds } : {}),
    backoff: { initialMs: 100, maxMs: 400 },
  });
}

test('the agent gets a certificate for its SPIFFE ID, serves it over SDS and renews it at half its lifetime, repeatedly', { timeout: 60_000 }, async () => {
  const w = await world(4);
  const agent = agentFor(w, 4);
  const socket = join(w.dir, 'sds.sock');
  const client = new AdsClient({ address: `unix:${socket}`, node: { id: 'sidecar~127.0.0.1~httpbin-1.foo~foo.svc.cluster.local' }, mode: 'sotw', service: 'sds', backoff: { initialMs: 50, maxMs: 200 } });
  try {
    await agent.serveSds(socket);
    agent.start();
    await agent.ready();
    const first = new X509Certificate(agent.current!.chain[0]!);
    assert.match(first.subjectAltName ?? '', /^URI:spiffe:\/\/cluster\.local\/ns\/foo\/sa\/httpbin$/);
    assert.ok(first.verify(new X509Certificate(w.ca.rootPem()).publicKey), 'signed by the CA');

    const served = new Set<string>();
    client.watch(TYPE.SECRET, ['default', 'ROOTCA'], {
      onUpdate: (u) => {
        const d = u.resources.get('default')?.resource;
        if (d) served.add(new X509Certificate(Buffer.from(d.tls_certificate.certificate_chain.inline_bytes, 'base64')).serialNumber);
      },
    });
    client.start();
    await until(() => served.has(first.serialNumber), 'the first certificate served over SDS', 10_000);
    const roots = client.resources(TYPE.SECRET).get('ROOTCA')!.resource;
    assert.match(Buffer.from(roots.validation_context.trusted_ca.inline_bytes, 'base64').toString(), /BEGIN CERTIFICATE/);

    // 4 s lifetime: a renewal about every 2 s; three more within a bounded wait.
    await until(() => agent.state().rotations >= 3 && served.size >= 4, 'three rotations, each pushed over SDS', 20_000, 50);
    const s = agent.state();
    assert.equal(s.identity, 'spiffe://cluster.local/ns/foo/sa/httpbin');
    assert.equal(s.failures, 0);
    assert.ok(s.sds && s.sds.pushes >= 4, JSON.stringify(s));
    const last = new X509Certificate(agent.current!.chain[0]!);
    const lifetime = Date.parse(last.validTo) - Date.parse(last.validFrom);
    assert.ok(lifetime <= 10_000, `short-lived certificate (${lifetime} ms)`);
  } finally {
    client.close();
    await agent.close();
    await w.dispose();
  }
});

test('with the CA down the agent keeps serving its certificate and retries with backoff; it recovers when the CA is back', { timeout: 60_000 }, async () => {
  const w = await world(60);
  const agent = agentFor(w, 60);
  try {
    agent.start();
    await agent.ready();
    const serial = agent.current!.serial;
    await w.server.close();
    void agent.rotateNow();
    await until(() => agent.state().failures >= 3, 'three failed attempts while the CA is down', 15_000, 20);
    const down = agent.state();
    assert.equal(down.certificate?.serial, serial, 'the current certificate is still served');
    assert.equal(down.certificate?.expired, false);
    assert.ok(down.lastError, 'the failure is recorded');
    assert.equal(agent.secrets.get('default') !== undefined, true);

    // The CA back on the same port (a new process would do the same: same root, new serving cert).
    w.server = new CaServer({ ca: w.ca, stateDir: join(w.dir, 'state') });
    await w.server.listen(`127.0.0.1:${w.port}`);
    await until(() => agent.state().issued >= 2, 'a certificate issued after the CA returned', 15_000, 20);
    assert.notEqual(agent.current!.serial, serial);
    assert.equal(agent.state().lastError, undefined);
  } finally {
    await agent.close();
    await w.dispose();
  }
});

test('a token for another identity is refused by the CA: no certificate, the failure is counted and retried', { timeout: 30_000 }, async () => {
  const w = await world(60);
  writeFileSync(w.tokenFile, await issueWorkloadToken(join(w.dir, 'state'), { namespace: 'bar', serviceAccount: 'other', ttlSeconds: 3600 }));
  const agent = agentFor(w, 60);
  try {
    agent.start();
    await until(() => agent.state().failures >= 2, 'two refused attempts', 10_000, 20);
    assert.equal(agent.current, undefined);
    assert.match(agent.state().lastError ?? '', /PERMISSION_DENIED|identity|not/i);
    // The token file is read for every request: a fixed token is picked up without a restart.
    writeFileSync(w.tokenFile, await issueWorkloadToken(join(w.dir, 'state'), { namespace: 'foo', serviceAccount: 'httpbin', ttlSeconds: 3600 }));
    await agent.ready();
    assert.match(new X509Certificate(agent.current!.chain[0]!).subjectAltName ?? '', /sa\/httpbin/);
  } finally {
    await agent.close();
    await w.dispose();
  }
});

test('an agent that asks for no lifetime gets the CA\'s default (the control plane\'s --workload-cert-ttl)', { timeout: 30_000 }, async () => {
  const w = await world(120);
  const agent = agentFor(w, undefined);
  try {
    agent.start();
    await agent.ready();
    const cert = new X509Certificate(agent.current!.chain[0]!);
    const lifetime = (Date.parse(cert.validTo) - Date.parse(cert.validFrom)) / 1000;
    // 120 s from now, plus the CA's backdating of notBefore (a tenth of the lifetime) for clock skew.
    assert.ok(lifetime >= 120 && lifetime <= 133, `lifetime ${lifetime} s`);
  } finally {
    await agent.close();
    await w.dispose();
  }
});

test('--ca-address as a gRPC list of CA replicas: with the first unreachable the agent gets its certificate from the next; the flag refuses a malformed list', { timeout: 30_000 }, async () => {
  const w = await world(60);
  const deadPort = await refusedPort();
  const { agentOptionsFromFlags } = await import('../../src/agent/flags.ts');
  const flags = (caAddress: string) => agentOptionsFromFlags({ 'token-file': w.tokenFile, 'ca-root-cert': w.rootFile, 'ca-address': caAddress }, { discoveryAddress: '127.0.0.1:15010', namespace: 'foo', serviceAccount: 'httpbin' });
  assert.throws(() => flags('ipv4:127.0.0.1:1,nonsense'), /--ca-address: expected host:port, got "nonsense"/);
  const opts = flags(`ipv4:127.0.0.1:${deadPort},127.0.0.1:${w.port}`)!;
  const agent = new WorkloadAgent({ ...opts, backoff: { initialMs: 100, maxMs: 400 } });
  try {
    agent.start();
    await agent.ready();
    assert.match(new X509Certificate(agent.current!.chain[0]!).subjectAltName ?? '', /spiffe:\/\/cluster\.local\/ns\/foo\/sa\/httpbin/);
  } finally {
    await agent.close();
    await w.dispose();
  }
});
