/**
 * One CA root for every control-plane replica and restart, kept in the Secret istio-ca-secret of
 * the control plane's namespace (Istio's self-signed CA persistence), against a real API server:
 * replicas starting at the same moment end with one root; a restart loads it; Istio's plug-in
 * `cacerts` Secret takes precedence; a broken Secret is refused naming the Secret and its key.
 * Wired: two control-plane replicas with their own state dirs serve (and publish in
 * istio-ca-root-cert) the same root.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { startKubeCluster, type KubeCluster } from '../helpers/kube.ts';
import { makeCsr, makePluginCa } from '../ca/helpers.ts';
import { KubeClient } from '../../src/kube/client/client.ts';
import { CA_SECRET, CA_SECRET_TYPE, loadKubeCa } from '../../src/kube/ca_secret.ts';
import { KubernetesMode } from '../../src/kube/controlplane.ts';
import { ControlPlane } from '../../src/controlplane/server.ts';
import type { KubeConfigStore } from '../../src/kube/config/store.ts';
import { until } from '../helpers/poll.ts';
import { caStateDir } from '../helpers/processes.ts';

let kube: KubeCluster;
let client: KubeClient;

before(async () => {
  kube = await startKubeCluster();
  client = KubeClient.fromFile(kube.kubeconfig);
});
after(() => kube?.close());

async function kubectl(args: string[]): Promise<string> {
  const r = await kube.kubectl(args);
  assert.equal(r.code, 0, `kubectl ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

async function createNamespace(ns: string): Promise<void> {
  await kubectl(['create', 'namespace', ns]);
}

test('replicas starting together share one root from istio-ca-secret, and a restart loads the same root', async () => {
  const ns = 'cp-race';
  await createNamespace(ns);
  // Three replicas race: each finds no Secret and tries to create one; exactly one may win.
  const replicas = await Promise.all([1, 2, 3].map(() => loadKubeCa({ client: KubeClient.fromFile(kube.kubeconfig), namespace: ns, trustDomain: 'cluster.local' })));
  assert.equal(replicas.filter((r) => r.source.created).length, 1, 'exactly one replica created the Secret');
  const roots = new Set(replicas.map((r) => r.ca.rootPem()));
  assert.equal(roots.size, 1, 'every replica serves the same root');

  const secret = JSON.parse(await kubectl(['get', 'secret', CA_SECRET, '-n', ns, '-o', 'json']));
  assert.equal(secret.type, CA_SECRET_TYPE);
  const stored = Buffer.from(secret.data['ca-cert.pem'], 'base64').toString();
  assert.equal(new X509Certificate(stored).fingerprint256, new X509Certificate([...roots][0]!).fingerprint256, 'the Secret holds the served root');
  assert.ok(Buffer.from(secret.data['ca-key.pem'], 'base64').toString().includes('PRIVATE KEY'));

  // A restart (a new process: nothing in memory) loads the Secret instead of making a new root.
  const restarted = await loadKubeCa({ client, namespace: ns });
  assert.equal(restarted.source.created, false);
  assert.equal(restarted.ca.rootPem(), [...roots][0]);
  // A certificate one replica issues verifies against the root another replica serves.
  const { csrPem } = await makeCsr(['spiffe://cluster.local/ns/default/sa/reviews']);
  const chain = await replicas[0]!.ca.sign(csrPem, { namespace: 'default', serviceAccount: 'reviews' });
  assert.ok(new X509Certificate(chain[0]!).verify(new X509Certificate(restarted.ca.rootPem()).publicKey));
});

test("Istio's plug-in cacerts Secret takes precedence over istio-ca-secret", async (t) => {
  const ns = 'cp-plugin';
  await createNamespace(ns);
  const selfSigned = await loadKubeCa({ client, namespace: ns });
  assert.equal(selfSigned.source.secret, CA_SECRET);
  const plugin = makePluginCa();
  t.after(() => plugin.dispose());
  // As Istio's docs plug certificates in.
  await kubectl(['create', 'secret', 'generic', 'cacerts', '-n', ns, ...['ca-cert.pem', 'ca-key.pem', 'root-cert.pem', 'cert-chain.pem'].map((f) => `--from-file=${join(plugin.dir, f)}`)]);
  const loaded = await loadKubeCa({ client, namespace: ns });
  assert.equal(loaded.source.secret, 'cacerts');
  assert.equal(new X509Certificate(loaded.ca.rootPem()).fingerprint256, new X509Certificate(plugin.rootPem).fingerprint256, 'the plug-in root anchors issued certificates');
  const { csrPem } = await makeCsr(['spiffe://cluster.local/ns/default/sa/ratings']);
  const chain = await loaded.ca.sign(csrPem, { namespace: 'default', serviceAccount: 'ratings' });
  assert.ok(new X509Certificate(chain[0]!).verify(new X509Certificate(plugin.intermediatePem).publicKey), 'signed by the plugged-in intermediate');
});

test('a broken CA Secret is refused naming the Secret and the key to fix', async () => {
  const ns = 'cp-broken';
  await createNamespace(ns);
  await kubectl(['create', 'secret', 'generic', CA_SECRET, '-n', ns, '--from-literal=ca-cert.pem=not a certificate', '--from-literal=ca-key.pem=']);
  await assert.rejects(loadKubeCa({ client, namespace: ns }), (e: Error) => {
    assert.match(e.message, new RegExp(`Secret ${ns}/${CA_SECRET}: key ca-key.pem is missing or empty`));
    return true;
  });
  await kubectl(['delete', 'secret', CA_SECRET, '-n', ns]);
  const other = makePluginCa();
  try {
    // A key that belongs to another certificate.
    await kubectl(['create', 'secret', 'generic', CA_SECRET, '-n', ns, `--from-file=ca-cert.pem=${join(other.dir, 'root-cert.pem')}`, `--from-file=ca-key.pem=${join(other.dir, 'ca-key.pem')}`]);
  } finally {
    other.dispose();
  }
  await assert.rejects(loadKubeCa({ client, namespace: ns }), /Secret cp-broken\/istio-ca-secret key ca-key\.pem: does not match the public key of Secret cp-broken\/istio-ca-secret key ca-cert\.pem/);
});

/** True when a TLS handshake with the server at `port` verifies against `rootPem` (names aside). */
function verifiesAgainst(port: number, rootPem: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port, ca: rootPem, ALPNProtocols: ['h2'], checkServerIdentity: () => undefined });
    s.once('secureConnect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

test('two control-plane replicas with their own state dirs serve and publish one root', async (t) => {
  await kubectl(['create', 'namespace', 'istio-system']);
  const replicas = await Promise.all(['cp-a', 'cp-b'].map(async (identity) => {
    const mode = await KubernetesMode.connect({ kubeconfig: kube.kubeconfig, identity, caSecret: true, syncTimeoutMs: 3000, lease: { durationSeconds: 15, renewDeadlineMs: 10_000, retryPeriodMs: 500 }, log: () => {} });
    const cp = new ControlPlane<KubeConfigStore>({ ...mode.controlPlaneOptions(), grpcPort: 0, httpPort: 0, secureGrpcPort: 0, stateDir: caStateDir(t), log: () => {} });
    t.after(async () => {
      await mode.close();
      await cp.close();
    });
    await cp.start();
    mode.attach(cp);
    return { mode, cp };
  }));
  const [a, b] = replicas;
  assert.equal(a!.cp.authority!.rootPem(), b!.cp.authority!.rootPem(), 'one root');
  // What a proxy sees on :15012: each replica's serving certificate chains to the other's root.
  assert.ok(await verifiesAgainst(a!.cp.secureGrpcPort, b!.cp.authority!.rootPem()));
  assert.ok(await verifiesAgainst(b!.cp.secureGrpcPort, a!.cp.authority!.rootPem()));
  // The leader publishes it where injected pods mount it.
  const published = await until(async () => {
    const r = await kube.kubectl(['get', 'cm', 'istio-ca-root-cert', '-n', 'default', '-o', 'json']);
    return r.code === 0 && JSON.parse(r.stdout).data['root-cert.pem'];
  }, 'istio-ca-root-cert in default', 30_000, 200);
  assert.equal(published, a!.cp.authority!.rootsPem());
});
