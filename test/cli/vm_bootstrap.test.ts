/**
 * `tsmesh vm bootstrap` (istioctl x workload entry configure's files) and what `tsmesh sidecar`
 * reads back from them: the WorkloadGroup's labels, service account, ports and probe reach the
 * files; the token is the control plane's for the group's identity; the sidecar's node names the
 * group (AUTO_REGISTER_GROUP), carries the probe (PROXY_CONFIG.readinessProbe) and dials the
 * control plane's address from the hosts file. Bad input is refused naming the problem.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { vmCommand } from '../../src/cli/vm.ts';
import { CertificateAuthority } from '../../src/ca/authority.ts';
import { verifyWorkloadToken } from '../../src/ca/token.ts';
import { parseClusterEnv } from '../../src/agent/vm/files.ts';
import { readVmSidecarConfig } from '../../src/agent/vm/sidecar_config.ts';

const GROUP = `
apiVersion: networking.istio.io/v1
kind: WorkloadGroup
metadata: { name: reviews, namespace: bookinfo }
spec:
  metadata:
    labels: { app: reviews, version: v3 }
  template:
    serviceAccount: bookinfo-reviews
    network: net1
    ports: { http: 9080, grpc: 3550 }
  probe:
    periodSeconds: 4
    failureThreshold: 3
    httpGet: { path: /ready, port: 9080 }
`;

function setup(t: { after(fn: () => void): void }) {
  const dir = mkdtempSync(join(tmpdir(), 'tsmesh-vm-bootstrap-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const out: string[] = [];
  const err: string[] = [];
  const io = { log: (l: string) => out.push(l), error: (l: string) => err.push(l) };
  return { dir, out, err, io };
}

test('vm bootstrap writes cluster.env, mesh.yaml, root-cert.pem, istio-token and hosts from a WorkloadGroup; the sidecar reads them back', async (t) => {
  const { dir, err, io } = setup(t);
  const state = join(dir, 'state');
  const ca = await CertificateAuthority.load({ stateDir: state });
  writeFileSync(join(dir, 'wg.yaml'), GROUP);
  const files = join(dir, 'out');
  const code = await vmCommand(['bootstrap', '--workload-group', join(dir, 'wg.yaml'), '-o', files, '--ingressIP', '10.0.0.5', '--state-dir', state, '--clusterID', 'cluster1', '-r', 'canary', '--tokenDuration', '600'], io);
  assert.equal(code, 0, err.join('\n'));

  const env = parseClusterEnv(readFileSync(join(files, 'cluster.env'), 'utf8'));
  assert.equal(env.ISTIO_META_AUTO_REGISTER_GROUP, 'reviews');
  assert.deepEqual(JSON.parse(env.ISTIO_METAJSON_LABELS!), { app: 'reviews', version: 'v3' });
  assert.equal(env.SERVICE_ACCOUNT, 'bookinfo-reviews');
  assert.equal(env.POD_NAMESPACE, 'bookinfo');
  assert.equal(env.ISTIO_META_NETWORK, 'net1');
  assert.equal(env.ISTIO_META_CLUSTER_ID, 'cluster1');
  assert.equal(env.ISTIO_META_REVISION, 'canary');
  assert.equal(env.CANONICAL_SERVICE, 'reviews');
  assert.equal(env.CANONICAL_REVISION, 'v3');
  assert.equal(env.ISTIO_INBOUND_PORTS, '3550,9080');
  // istioctl's: SSH is never captured (a VM whose group has no ports captures every inbound port).
  assert.equal(env.ISTIO_LOCAL_EXCLUDE_PORTS, '22,15090,15021,15020');
  assert.equal(env.ISTIO_META_DNS_CAPTURE, 'true', "istioctl's --capture-dns defaults to true");

  const mesh = parseYaml(readFileSync(join(files, 'mesh.yaml'), 'utf8')) as { defaultConfig: Record<string, any> };
  assert.equal(mesh.defaultConfig.discoveryAddress, 'istiod.istio-system.svc:15012');
  assert.deepEqual(mesh.defaultConfig.readinessProbe, { periodSeconds: 4, failureThreshold: 3, httpGet: { path: '/ready', port: 9080 } });
  assert.equal(readFileSync(join(files, 'hosts'), 'utf8'), '10.0.0.5 istiod.istio-system.svc\n');
  assert.equal(readFileSync(join(files, 'root-cert.pem'), 'utf8'), ca.rootPem());
  assert.equal(statSync(join(files, 'istio-token')).mode & 0o077, 0, 'the token is readable by its owner only');
  const id = await verifyWorkloadToken(state, readFileSync(join(files, 'istio-token'), 'utf8'));
  assert.deepEqual([id.namespace, id.serviceAccount], ['bookinfo', 'bookinfo-reviews']);

  const cfg = readVmSidecarConfig({ configDir: files, ip: '10.0.0.9', podName: 'vm-1', adminPort: 15000, sdsSocket: join(dir, 'sds.sock'), interception: 'REDIRECT' });
  const md = cfg.bootstrap.node.metadata as Record<string, any>;
  assert.equal(md.AUTO_REGISTER_GROUP, 'reviews');
  assert.equal(md.NETWORK, 'net1');
  assert.equal(md.INSTANCE_IPS, '10.0.0.9');
  assert.equal(md.SERVICE_ACCOUNT, 'bookinfo-reviews');
  assert.equal(md.LABELS.app, 'reviews');
  assert.equal(md.INTERCEPTION_MODE, 'REDIRECT');
  assert.deepEqual(md.PROXY_CONFIG.readinessProbe, mesh.defaultConfig.readinessProbe);
  assert.equal(cfg.caAddress, '10.0.0.5:15012', 'istiod\'s name resolved through the hosts file');
  const xds = JSON.stringify(cfg.bootstrap.static_resources.clusters.find((c: { name: string }) => c.name === 'xds-grpc'));
  assert.match(xds, /"address":"10\.0\.0\.5"/);
  assert.match(xds, /"port_value":15012/);
  assert.equal(cfg.capture.inboundPorts, '3550,9080');
  assert.equal(cfg.capture.localExcludePorts, '22,15090,15021,15020');
  assert.equal(cfg.capture.dnsCapture, true, 'the sidecar redirects DNS to the agent when cluster.env asks for it');
  assert.equal(md.DNS_CAPTURE, 'true', 'and the agent serves it');
});

test('vm bootstrap: --capture-dns=false and --no-autoregister leave their metadata out; a re-run tightens an existing token file to 0600', async (t) => {
  const { dir, err, io } = setup(t);
  const state = join(dir, 'state');
  await CertificateAuthority.load({ stateDir: state });
  writeFileSync(join(dir, 'wg.yaml'), GROUP.replace('ports: { http: 9080, grpc: 3550 }', ''));
  const files = join(dir, 'out');
  const base = ['bootstrap', '-f', join(dir, 'wg.yaml'), '-o', files, '--ingressIP', '10.0.0.5', '--state-dir', state];
  assert.equal(await vmCommand(base, io), 0, err.join('\n'));
  const env0 = parseClusterEnv(readFileSync(join(files, 'cluster.env'), 'utf8'));
  assert.equal(env0.ISTIO_INBOUND_PORTS, '*');
  assert.match(env0.ISTIO_LOCAL_EXCLUDE_PORTS!, /^22,/, 'every inbound port captured, but not SSH');

  chmodSync(join(files, 'istio-token'), 0o644);
  assert.equal(await vmCommand([...base, '--capture-dns=false', '--no-autoregister'], io), 0, err.join('\n'));
  assert.equal(statSync(join(files, 'istio-token')).mode & 0o077, 0, 'an existing token file is made owner-only again');
  const env = parseClusterEnv(readFileSync(join(files, 'cluster.env'), 'utf8'));
  assert.equal(env.ISTIO_META_DNS_CAPTURE, undefined);
  assert.equal(env.ISTIO_META_AUTO_REGISTER_GROUP, undefined);
  const cfg = readVmSidecarConfig({ configDir: files, ip: '10.0.0.9', podName: 'vm-1', adminPort: 15000, sdsSocket: join(dir, 'sds.sock'), interception: 'REDIRECT' });
  assert.equal(cfg.capture.dnsCapture, false);
  assert.equal((cfg.bootstrap.node.metadata as Record<string, unknown>).AUTO_REGISTER_GROUP, undefined);

  assert.equal(await vmCommand([...base, '--capture-dns', '--no-capture-dns'], io), 2);
  assert.match(err.pop()!, /contradict/);
});

test('vm bootstrap --help says xDS is over TLS on 15012 with the identity checked, and when metadata is trusted', async (t) => {
  const { out, io } = setup(t);
  assert.equal(await vmCommand(['bootstrap', '--help'], io), 0);
  const help = out.join('\n');
  assert.match(help, /secure port \(15012/);
  assert.match(help, /checks that certificate's namespace and service\s+account/);
  assert.match(help, /group that exists/);
  assert.match(help, /:15010 selects plaintext xDS/);
});

test('vm bootstrap refuses what it cannot honour, naming it', async (t) => {
  const { dir, err, io } = setup(t);
  const state = join(dir, 'state');
  writeFileSync(join(dir, 'wg.yaml'), GROUP);
  const base = ['bootstrap', '--workload-group', join(dir, 'wg.yaml'), '-o', join(dir, 'out'), '--state-dir', state];

  assert.equal(await vmCommand(base, io), 2);
  assert.match(err.pop()!, /missing --ingressIP/);
  assert.equal(await vmCommand([...base, '--ingressIP', 'istiod.example'], io), 2);
  assert.match(err.pop()!, /expected an IP address/);
  // No CA yet: the control plane has never run with this state dir.
  assert.equal(await vmCommand([...base, '--ingressIP', '10.0.0.5'], io), 1);
  assert.match(err.pop()!, /no CA root at .*start the control plane/);

  await CertificateAuthority.load({ stateDir: state });
  writeFileSync(join(dir, 'grpc.yaml'), GROUP.replace('httpGet: { path: /ready, port: 9080 }', 'grpc: { port: 9080 }'));
  assert.equal(await vmCommand(['bootstrap', '-f', join(dir, 'grpc.yaml'), '-o', join(dir, 'out'), '--state-dir', state, '--ingressIP', '10.0.0.5'], io), 1);
  assert.match(err.join('\n'), /probe\.grpc/);
});
