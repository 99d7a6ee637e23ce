/**
 * `tsmesh agent --grpc-bootstrap` (proxyless gRPC), as a real process against the real CA server:
 * it writes cert-chain.pem / key.pem / root-cert.pem for its SPIFFE identity and a gRPC xDS
 * bootstrap that @grpc/grpc-js-xds's own loader accepts (file_watcher provider `default` over
 * those files, Istio's server listener template, the control plane as xDS server); the files are
 * an mTLS identity node:tls accepts both ways; they are rewritten on rotation; SIGTERM exits 0.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import tls from 'node:tls';
import { validateBootstrapConfig } from '@grpc/grpc-js-xds/build/src/xds-bootstrap.js';
import { CertificateAuthority } from '../../src/ca/authority.ts';
import { CaServer } from '../../src/ca/server.ts';
import { issueWorkloadToken } from '../../src/ca/token.ts';
import { spawnTsmesh } from '../helpers/processes.ts';
import { until } from '../helpers/poll.ts';
import { agentCommand } from '../../src/cli/agent.ts';

test('tsmesh agent --grpc-bootstrap: certificate files and a bootstrap grpc-js-xds accepts, rotated while it runs; SIGTERM exits 0', { timeout: 90_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsmesh-grpc-agent-'));
  const stateDir = join(dir, 'state');
  const ca = await CertificateAuthority.load({ stateDir, trustDomain: 'cluster.local' });
  const server = new CaServer({ ca, stateDir });
  const port = await server.listen('127.0.0.1:0');
  const rootFile = join(dir, 'root-cert.pem');
  writeFileSync(rootFile, ca.rootsPem());
  const tokenFile = join(dir, 'token');
  writeFileSync(tokenFile, await issueWorkloadToken(stateDir, { namespace: 'foo', serviceAccount: 'echo', ttlSeconds: 3600 }));
  const bootstrapFile = join(dir, 'grpc-bootstrap.json');
  const certDir = join(dir, 'certs');
  const args = ['agent', '--grpc-bootstrap', bootstrapFile, '--cert-dir', certDir, '--token-file', tokenFile, '--ca-root-cert', rootFile, '--ca-address', `127.0.0.1:${port}`];
  args.push('--discovery-address', '127.0.0.1:15010', '--namespace', 'foo', '--service-account', 'echo', '--workload-name', 'echo', '--workload-cert-ttl', '4s');
  const agent = await spawnTsmesh(args, /tsmesh agent ready/);
  try {
    const info = validateBootstrapConfig(JSON.parse(readFileSync(bootstrapFile, 'utf8')));
    assert.equal(info.xdsServers[0]!.server_uri, '127.0.0.1:15010');
    assert.equal(info.serverListenerResourceNameTemplate, 'xds.istio.io/grpc/lds/inbound/%s');
    assert.equal(info.node.id, 'sidecar~127.0.0.1~echo.foo~foo.svc.cluster.local');
    const provider = info.certificateProviders.default!;
    assert.equal(provider.pluginName, 'file_watcher');
    assert.deepEqual(
      [provider.config.certificateFile, provider.config.privateKeyFile, provider.config.caCertificateFile],
      [join(certDir, 'cert-chain.pem'), join(certDir, 'key.pem'), join(certDir, 'root-cert.pem')],
    );
    const raw = JSON.parse(readFileSync(bootstrapFile, 'utf8'));
    assert.equal(raw.node.metadata.GENERATOR, 'grpc');
    assert.equal(raw.node.metadata.NAMESPACE, 'foo');

    const read = () => ({ cert: readFileSync(join(certDir, 'cert-chain.pem'), 'utf8'), key: readFileSync(join(certDir, 'key.pem'), 'utf8'), ca: readFileSync(join(certDir, 'root-cert.pem'), 'utf8') });
    const files = read();
    const leaf = new X509Certificate(files.cert);
    assert.equal(leaf.subjectAltName, 'URI:spiffe://cluster.local/ns/foo/sa/echo');
    assert.equal(statSync(join(certDir, 'key.pem')).mode & 0o777, 0o600, 'the key is readable by its owner only');

    // The files are a working mTLS identity: a server and a client using them verify each other.
    const srv = tls.createServer({ cert: files.cert, key: files.key, ca: files.ca, requestCert: true, rejectUnauthorized: true }, (s) => s.end(String(s.getPeerX509Certificate()?.subjectAltName)));
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const peer = await new Promise<string>((resolve, reject) => {
      const c = tls.connect({ host: '127.0.0.1', port: (srv.address() as { port: number }).port, cert: files.cert, key: files.key, ca: files.ca, checkServerIdentity: () => undefined });
      let got = '';
      c.on('data', (d) => (got += d));
      c.on('end', () => resolve(got));
      c.on('error', reject);
    });
    srv.close();
    assert.equal(peer, 'URI:spiffe://cluster.local/ns/foo/sa/echo');

    // 4 s lifetime: the files are replaced with a new certificate about every 2 s.
    await until(() => new X509Certificate(read().cert).serialNumber !== leaf.serialNumber, 'cert-chain.pem rotated', 15_000, 100);
    const after = read();
    assert.ok(new X509Certificate(after.cert).checkPrivateKey((await import('node:crypto')).createPrivateKey(after.key)), 'the rotated key matches the rotated certificate');
    assert.equal(await agent.stop(), 0, agent.output());
  } finally {
    await agent.stop();
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('tsmesh agent: missing flags are named; --help lists the flags', async () => {
  const errors: string[] = [];
  const logs: string[] = [];
  const [err, out] = [console.error, console.log];
  console.error = (m: string) => errors.push(String(m));
  console.log = (m: string) => logs.push(String(m));
  try {
    assert.equal(await agentCommand(['--token-file', '/t', '--ca-root-cert', '/r']), 2);
    assert.match(errors.pop()!, /--grpc-bootstrap <file>: required/);
    assert.equal(await agentCommand(['--grpc-bootstrap', '/tmp/b.json', '--ca-root-cert', '/r']), 2);
    assert.match(errors.pop()!, /--token-file <file>: required/);
    assert.equal(await agentCommand(['--help']), 0);
    for (const f of ['--grpc-bootstrap', '--cert-dir', '--discovery-address', '--namespace', '--service-account', '--ca-address', '--ca-root-cert', '--trust-domain', '--workload-cert-ttl']) assert.ok(logs.join('\n').includes(f), f);
  } finally {
    console.error = err;
    console.log = out;
  }
});
