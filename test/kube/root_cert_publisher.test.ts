/**
 * Istio's namespace controller against a real API server: istio-ca-root-cert (root-cert.pem) in
 * every namespace, as `kubectl get cm istio-ca-root-cert -n <ns>` shows it; recreated when
 * deleted, put back when edited, rewritten on a new root; Kubernetes' system namespaces and
 * namespaces outside meshConfig.discoverySelectors left alone; nothing written by a non-leader.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startKubeCluster, type KubeCluster } from '../helpers/kube.ts';
import { until } from '../helpers/poll.ts';
import { KubeClient } from '../../src/kube/client/client.ts';
import { informerFor, KUBE_RESOURCES } from '../../src/kube/informers/resources.ts';
import type { Informer } from '../../src/kube/informers/informer.ts';
import { generateSelfSignedRoot } from '../../src/ca/authority.ts';
import { RootCertPublisher } from '../../src/kube/root_cert_publisher.ts';
import type { MeshConfig } from '../../src/api/types.ts';

let kube: KubeCluster;
let client: KubeClient;
let namespaces: Informer;

before(async () => {
  kube = await startKubeCluster();
  client = KubeClient.fromFile(kube.kubeconfig);
  namespaces = informerFor(client, KUBE_RESOURCES.Namespace);
  namespaces.start();
  await namespaces.waitForSync();
});
after(async () => {
  namespaces?.stop();
  await kube?.close();
});

async function kubectl(args: string[], input?: string): Promise<string> {
  const r = await kube.kubectl(args, input === undefined ? {} : { input });
  assert.equal(r.code, 0, `kubectl ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

/** root-cert.pem of istio-ca-root-cert in `ns` as kubectl shows it; undefined when there is none. */
async function publishedRoot(ns: string): Promise<string | undefined> {
  const r = await kube.kubectl(['get', 'cm', 'istio-ca-root-cert', '-n', ns, '-o', 'json']);
  if (r.code !== 0) {
    assert.match(r.stderr, /NotFound/);
    return undefined;
  }
  return JSON.parse(r.stdout).data?.['root-cert.pem'];
}

function publisher(t: { after(fn: () => unknown): void }, rootCert: string, mesh: Pick<MeshConfig, 'discoverySelectors'> = {}) {
  const p = new RootCertPublisher({ client, namespaces, rootCert, mesh: () => mesh, backoff: { minMs: 50, maxMs: 500 } });
  p.start();
  t.after(() => p.close());
  return p;
}

test('the leader publishes the root in every namespace and keeps it there', async (t) => {
  const root = (await generateSelfSignedRoot('cluster.local')).certPem;
  await kubectl(['create', 'namespace', 'shop']);
  const p = publisher(t, root);
  // Not the leader: nothing is written.
  await p.configMaps.waitForSync();
  assert.equal(await publishedRoot('default'), undefined);
  p.setEnabled(true);
  for (const ns of ['default', 'shop']) await until(async () => (await publishedRoot(ns)) === root, `istio-ca-root-cert in ${ns}`, 20_000, 100);
  const cm = JSON.parse(await kubectl(['get', 'cm', 'istio-ca-root-cert', '-n', 'default', '-o', 'json']));
  assert.equal(cm.metadata.labels['istio.io/config'], 'true');
  for (const ns of ['kube-system', 'kube-public', 'kube-node-lease']) assert.equal(await publishedRoot(ns), undefined, `nothing in ${ns}`);

  // A namespace created later gets it.
  await kubectl(['create', 'namespace', 'late']);
  await until(async () => (await publishedRoot('late')) === root, 'istio-ca-root-cert in a new namespace', 20_000, 100);

  // Deleted: recreated. Edited: put back.
  await kubectl(['delete', 'cm', 'istio-ca-root-cert', '-n', 'shop']);
  await until(async () => (await publishedRoot('shop')) === root, 'istio-ca-root-cert recreated after delete', 20_000, 100);
  await kubectl(['patch', 'cm', 'istio-ca-root-cert', '-n', 'shop', '--type=merge', '-p', JSON.stringify({ data: { 'root-cert.pem': 'tampered' } })]);
  await until(async () => (await publishedRoot('shop')) === root, 'istio-ca-root-cert fixed after an edit', 20_000, 100);

  // A new root (rotation) reaches every namespace.
  const rotated = (await generateSelfSignedRoot('cluster.local')).certPem + root;
  p.setRoot(rotated);
  for (const ns of ['default', 'shop', 'late']) await until(async () => (await publishedRoot(ns)) === rotated, `the rotated root in ${ns}`, 20_000, 100);

  // Stepping down stops the writes: a deleted ConfigMap stays deleted.
  p.setEnabled(false);
  await kubectl(['delete', 'cm', 'istio-ca-root-cert', '-n', 'late']);
  await until(() => p.configMaps.get('istio-ca-root-cert', 'late') === undefined, 'the deletion seen by the informer', 10_000);
  const writes = p.writes;
  p.setEnabled(true);
  await until(async () => (await publishedRoot('late')) === rotated, 'recreated once leading again', 20_000, 100);
  assert.ok(p.writes > writes);
});

test('namespaces outside discoverySelectors are left alone until they are selected', async (t) => {
  await kubectl(['create', 'namespace', 'team-a']);
  await kubectl(['create', 'namespace', 'team-b']);
  await kubectl(['label', 'namespace', 'team-a', 'mesh=on']);
  const mesh: Pick<MeshConfig, 'discoverySelectors'> = { discoverySelectors: [{ matchLabels: { mesh: 'on' } }] };
  const root = (await generateSelfSignedRoot('cluster.local')).certPem;
  // team-b has someone else's ConfigMap (another control plane's): it must not be touched.
  await kubectl(['create', 'configmap', 'istio-ca-root-cert', '-n', 'team-b', '--from-literal=root-cert.pem=other mesh']);
  const p = publisher(t, root, mesh);
  p.setEnabled(true);
  await until(async () => (await publishedRoot('team-a')) === root, 'istio-ca-root-cert in the selected namespace', 20_000, 100);
  assert.equal(await publishedRoot('team-b'), 'other mesh', 'an unselected namespace keeps its own ConfigMap');

  // Selected by a label change: published (the Namespace update is the trigger).
  await kubectl(['label', 'namespace', 'team-b', 'mesh=on']);
  await until(async () => (await publishedRoot('team-b')) === root, 'istio-ca-root-cert once the namespace is selected', 20_000, 100);

  // Selectors widened by a mesh config change: resync() publishes to what is now selected.
  await kubectl(['create', 'namespace', 'team-c']);
  await new Promise((r) => setTimeout(r, 500));
  assert.equal(await publishedRoot('team-c'), undefined);
  mesh.discoverySelectors = [{ matchLabels: { mesh: 'on' } }, { matchLabels: { 'kubernetes.io/metadata.name': 'team-c' } }];
  p.resync();
  await until(async () => (await publishedRoot('team-c')) === root, 'istio-ca-root-cert after the selectors widened', 20_000, 100);
});
