/**
 * `tsmesh proxy` in sidecar mode with --token-file runs the workload agent in its primary process
 * (pilot-agent beside Envoy): against a real `tsmesh controlplane` (xDS plus the CA on its TLS
 * port), the agent gets a certificate for the sidecar's identity, the generated bootstrap has the
 * static sds-grpc cluster on the agent's socket, the socket serves `default` and `ROOTCA`, and the
 * socket's private directory is gone after SIGTERM. Wrong flags fail with a message naming them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import { spawnTsmesh, startControlPlane, type ControlPlaneProc, type Proc } from '../helpers/processes.ts';
import { until } from '../helpers/poll.ts';
import { issueWorkloadToken } from '../../src/ca/token.ts';
import { AdsClient } from '../../src/xds/client/index.ts';
import { TYPE } from '../../src/xds/types.ts';
import { proxyCommand } from '../../src/cli/proxy.ts';

test('tsmesh proxy --token-file: the agent certifies the sidecar (an RSA key when asked) and serves it on the sds-grpc socket; the socket goes on exit', { timeout: 120_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsmesh-proxy-agent-'));
  const stateDir = join(dir, 'state');
  const configDir = join(dir, 'config');
  let cp: ControlPlaneProc | undefined;
  let proxy: Proc | undefined;
  let client: AdsClient | undefined;
  try {
    const { mkdirSync } = await import('node:fs');
    mkdirSync(configDir);
    cp = await startControlPlane(configDir, ['--secure-grpc-port', '0', '--state-dir', stateDir]);
    const securePort = Number(/secure grpc [^\s,]+:(\d+)/.exec(cp.output())![1]);
    const tokenFile = join(dir, 'token');
    writeFileSync(tokenFile, await issueWorkloadToken(stateDir, { namespace: 'foo', serviceAccount: 'httpbin', ttlSeconds: 3600 }));
    const args = ['proxy', '--type', 'router', '--discovery-address', `127.0.0.1:${cp.grpcPort}`, '--workload-name', 'httpbin', '--namespace', 'foo', '--service-account', 'httpbin'];
    args.push('--ca-address', `127.0.0.1:${securePort}`, '--token-file', tokenFile, '--ca-root-cert', join(stateDir, 'ca', 'root-cert.pem'), '--workload-cert-ttl', '1h', '--key-algorithm', 'RSA');
    proxy = await spawnTsmesh([...args, '--admin-port', '0', '--drain-time-s', '0'], /tsmesh proxy ready: admin [^\s:]+:(\d+)/);
    const adminPort = Number(/tsmesh proxy ready: admin [^\s:]+:(\d+)/.exec(proxy.output())![1]);
    await until(() => /agent: certificate issued for spiffe:\/\/cluster\.local\/ns\/foo\/sa\/httpbin/.test(proxy!.output()), 'the agent\'s issuance line', 20_000, 50);
    const socket = /SDS on (\S+)/.exec(proxy.output())![1]!;

    const agent = await (await fetch(`http://127.0.0.1:${adminPort}/agent`)).json();
    assert.equal(agent.identity, 'spiffe://cluster.local/ns/foo/sa/httpbin', JSON.stringify(agent));
    assert.match(String(agent.certificate?.serial), /^[0-9A-F]+$/i, 'the admin API shows the certificate in use');
    const dump = await (await fetch(`http://127.0.0.1:${adminPort}/config_dump`)).json();
    const boot = dump.configs.find((c: { '@type': string }) => c['@type'].endsWith('BootstrapConfigDump')).bootstrap;
    const sdsCluster = boot.static_resources.clusters.find((c: { name: string }) => c.name === 'sds-grpc');
    assert.deepEqual(sdsCluster.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address, { pipe: { path: socket } });

    client = new AdsClient({ address: `unix:${socket}`, node: { id: 'test' }, mode: 'delta', service: 'sds' });
    client.watch(TYPE.SECRET, ['default', 'ROOTCA'], { onUpdate: () => {} });
    client.start();
    const secrets = await until(() => (client!.resources(TYPE.SECRET).size === 2 ? client!.resources(TYPE.SECRET) : undefined), 'default and ROOTCA over SDS', 10_000);
    const chain = Buffer.from(secrets.get('default')!.resource.tls_certificate.certificate_chain.inline_bytes, 'base64').toString();
    assert.equal(new X509Certificate(chain).subjectAltName, 'URI:spiffe://cluster.local/ns/foo/sa/httpbin');
    assert.equal(new X509Certificate(chain).publicKey.asymmetricKeyType, 'rsa', '--key-algorithm RSA');
    client.close();
    client = undefined;

    assert.equal(await proxy.stop(), 0, proxy.output());
    assert.equal(existsSync(dirname(socket)), false, 'the agent\'s socket directory is removed on exit');
  } finally {
    client?.close();
    await proxy?.stop();
    await cp?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('tsmesh proxy: agent flags are checked and named in errors; --help lists them', async () => {
  const errors: string[] = [];
  const logs: string[] = [];
  const err = console.error;
  const out = console.log;
  console.error = (m: string) => errors.push(String(m));
  console.log = (m: string) => logs.push(String(m));
  try {
    assert.equal(await proxyCommand(['--token-file', '/tmp/t']), 2);
    assert.match(errors.pop()!, /--ca-root-cert <file>: required with --token-file/);
    assert.equal(await proxyCommand(['--ca-root-cert', '/tmp/r']), 2);
    assert.match(errors.pop()!, /--ca-root-cert: only meaningful with --token-file/);
    assert.equal(await proxyCommand(['--token-file', '/t', '--ca-root-cert', '/r', '--workload-cert-ttl', 'soon']), 2);
    assert.match(errors.pop()!, /--workload-cert-ttl: expected a duration/);
    assert.equal(await proxyCommand(['--token-file', '/t', '--ca-root-cert', '/r', '--key-algorithm', 'DSA']), 2);
    assert.match(errors.pop()!, /--key-algorithm: expected ECDSA or RSA, got "DSA"/);
    // With a bootstrap, the agent serves SDS where the bootstrap's sds-grpc cluster points.
    const noSds = join(mkdtempSync(join(tmpdir(), 'tsmesh-agent-flags-')), 'bootstrap.json');
    writeFileSync(noSds, JSON.stringify({ node: { id: 'sidecar~127.0.0.1~a.default~default.svc.cluster.local', cluster: 'a.default', metadata: { NAMESPACE: 'default' } } }));
    assert.equal(await proxyCommand(['-c', noSds, '--token-file', '/t', '--ca-root-cert', '/r']), 2);
    assert.match(errors.pop()!, /--token-file: the bootstrap has no static sds-grpc cluster with a pipe endpoint/);
    rmSync(dirname(noSds), { recursive: true, force: true });
    assert.equal(await proxyCommand(['--help']), 0);
    const help = logs.join('\n');
    for (const f of ['--ca-address', '--token-file', '--ca-root-cert', '--trust-domain', '--workload-cert-ttl', '--key-algorithm']) assert.ok(help.includes(f), f);
  } finally {
    console.error = err;
    console.log = out;
  }
});
