/**
 * startAdmissionWebhooks against a real kube-apiserver, as istiod starts them: tsmesh install's
 * webhook configurations get the mesh root as caBundle; the injector uses the
 * istio-sidecar-injector ConfigMap's values and the mesh config; once the API server is seen to
 * reach /validate the validating configuration is switched to failurePolicy Fail, and an invalid
 * VirtualService applied with kubectl is refused with tsmesh validate's message. Configurations
 * applied after the webhooks started (or re-applied) get the caBundle too, and a values ConfigMap
 * edit applies to the next pod while a bad edit keeps the last good values.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { defaultMeshConfig } from '../../src/api/mesh.ts';
import { CertificateAuthority } from '../../src/ca/authority.ts';
import { KubeClient } from '../../src/kube/client/client.ts';
import { istioCrd } from '../../src/kube/crds/index.ts';
import { defaultValues } from '../../src/kube/install/values.ts';
import { webhookConfigurations } from '../../src/kube/install/webhooks.ts';
import { startAdmissionWebhooks } from '../../src/kube/webhook/start.ts';
import { validateHandler } from '../../src/kube/webhook/validate.ts';
import { freePort } from '../helpers/processes.ts';
import { localWebhookConfigurations } from '../helpers/kube_webhooks.ts';
import { startKubeCluster, type KubeCluster } from '../helpers/kube.ts';
import { until } from '../helpers/poll.ts';

test('istiod\'s webhooks start, patch their configurations and enforce validation once reachable', async (t) => {
  const kube = await startKubeCluster(t);
  const dir = mkdtempSync(join(tmpdir(), 'tsmesh-webhook-start-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const ca = await CertificateAuthority.load({ stateDir: dir });

  await kube.kubectlOk(['apply', '-f', '-'], [istioCrd('Gateway'), istioCrd('VirtualService')].map((c) => JSON.stringify(c)).join('\n'));
  await kube.crdsEstablished(['gateways.networking.istio.io', 'virtualservices.networking.istio.io']);
  for (const ns of ['istio-system', 'mesh']) await kube.kubectlOk(['create', 'namespace', ns]);
  await kube.kubectlOk(['label', 'namespace', 'mesh', 'istio-injection=enabled']);
  // No controller manager here: the ServiceAccount a pod needs is created by hand.
  await kube.kubectlOk(['create', 'serviceaccount', 'default', '-n', 'mesh']);
  await kube.kubectlOk(['apply', '-n', 'istio-system', '-f', '-'], stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'istio-sidecar-injector' }, data: { values: JSON.stringify({ global: { istioNamespace: 'istio-system', proxy: { image: 'registry.example/tsmesh:9.9.9' } }, revision: '' }) } }));

  const port = await freePort();
  const configs = localWebhookConfigurations(defaultValues(), port);
  await kube.kubectlOk(['apply', '-f', '-'], configs.map((c) => JSON.stringify(c)).join('\n'));
  const [mwc, vwc] = [configs.find((c) => c.kind === 'MutatingWebhookConfiguration'), configs.find((c) => c.kind === 'ValidatingWebhookConfiguration')];
  assert.equal(vwc.webhooks[0].failurePolicy, 'Ignore', 'installed failing open');

  const log: string[] = [];
  const mesh = { ...defaultMeshConfig(), trustDomain: 'example.org' };
  const hooks = await startAdmissionWebhooks({ client: KubeClient.fromFile(kube.kubeconfig), ca, namespace: 'istio-system', host: '127.0.0.1', port, mesh: () => mesh, validate: validateHandler, log: (l) => log.push(l) });
  t.after(() => hooks.close());

  const getJson = async (args: string[]) => JSON.parse(await kube.kubectlOk([...args, '-o', 'json']));
  for (const [kind, name] of [['mutatingwebhookconfiguration', mwc.metadata.name], ['validatingwebhookconfiguration', vwc.metadata.name]]) {
    for (const w of (await getJson(['get', kind, name])).webhooks) assert.equal(Buffer.from(w.clientConfig.caBundle, 'base64').toString(), ca.rootPem(), `${name} trusts the mesh root`);
  }

  // Bounded: the first check runs at once, retries are 0.5 s, 1 s, ... apart.
  const enforced = await Promise.race([hooks.validationEnforced, new Promise<string>((r) => setTimeout(() => r('timeout'), 60_000).unref())]);
  assert.equal(enforced, true, log.join('\n'));
  assert.equal((await getJson(['get', 'validatingwebhookconfiguration', vwc.metadata.name])).webhooks[0].failurePolicy, 'Fail');

  const invalid = await kube.kubectl(['apply', '-n', 'mesh', '-f', '-'], { input: 'apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata:\n  name: bad\nspec:\n  hosts: [reviews]\n  http:\n  - route:\n    - destination:\n        host: reviews\n    timeout: 1x\n' });
  assert.notEqual(invalid.code, 0);
  assert.match(invalid.stderr, /denied the request: VirtualService mesh\/bad: spec\.http\[0\]\.timeout: invalid duration "1x"/);

  // The injector took the ConfigMap's image and the mesh config's trust domain (a server-side dry run is injected too).
  const pod = JSON.parse(await kube.kubectlOk(['apply', '--dry-run=server', '-n', 'mesh', '-o', 'json', '-f', '-'], stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web', labels: { app: 'web' } }, spec: { containers: [{ name: 'web', image: 'web:1' }] } })));
  const proxy = pod.spec.initContainers.find((c: any) => c.name === 'istio-proxy');
  assert.equal(proxy.image, 'registry.example/tsmesh:9.9.9');
  assert.equal(proxy.args[proxy.args.indexOf('--trust-domain') + 1], 'example.org');
});

test('configurations applied after start get the caBundle; a values edit applies to the next pod, a bad one keeps the last good', async (t) => {
  const kube = await startKubeCluster(t);
  const dir = mkdtempSync(join(tmpdir(), 'tsmesh-webhook-late-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const ca = await CertificateAuthority.load({ stateDir: dir });
  for (const ns of ['istio-system', 'mesh']) await kube.kubectlOk(['create', 'namespace', ns]);
  await kube.kubectlOk(['label', 'namespace', 'mesh', 'istio-injection=enabled']);
  await kube.kubectlOk(['create', 'serviceaccount', 'default', '-n', 'mesh']);
  const values = (image: string) => stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'istio-sidecar-injector', namespace: 'istio-system' }, data: { values: JSON.stringify({ global: { proxy: { image } } }) } });
  await kube.kubectlOk(['apply', '-f', '-'], values('registry.example/tsmesh:1.0.0'));

  const port = await freePort();
  const log: string[] = [];
  const hooks = await startAdmissionWebhooks({ client: KubeClient.fromFile(kube.kubeconfig), ca, namespace: 'istio-system', host: '127.0.0.1', port, mesh: () => defaultMeshConfig(), enforceValidation: false, log: (l) => log.push(l) });
  t.after(() => hooks.close());
  assert.ok(log.some((l) => /no MutatingWebhookConfiguration istio-sidecar-injector yet/.test(l)), log.join('\n'));

  // `tsmesh install` ordering: the configurations arrive after istiod started.
  const configs = localWebhookConfigurations(defaultValues(), port);
  await kube.kubectlOk(['apply', '-f', '-'], configs.map((c) => JSON.stringify(c)).join('\n'));
  const mwc = configs.find((c) => c.kind === 'MutatingWebhookConfiguration').metadata.name;
  const trusted = async () => ((JSON.parse(await kube.kubectlOk(['get', 'mutatingwebhookconfiguration', mwc, '-o', 'json'])).webhooks as any[]).every((w) => w.clientConfig.caBundle && Buffer.from(w.clientConfig.caBundle, 'base64').toString() === ca.rootPem()));
  await until(trusted, 'the late configuration to get the mesh root as caBundle', 30_000, 200);
  // Re-applied as installed (no caBundle): patched again.
  await kube.kubectlOk(['replace', '-f', '-'], JSON.stringify(configs.find((c) => c.kind === 'MutatingWebhookConfiguration')));
  await until(trusted, 'the re-applied configuration to get the caBundle back', 30_000, 200);

  const imageOfNewPod = async (name: string) => {
    const pod = JSON.parse(await kube.kubectlOk(['apply', '--dry-run=server', '-n', 'mesh', '-o', 'json', '-f', '-'], stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name, labels: { app: name } }, spec: { containers: [{ name: 'web', image: 'web:1' }] } })));
    return pod.spec.initContainers?.find((c: any) => c.name === 'istio-proxy')?.image;
  };
  assert.equal(await until(() => imageOfNewPod('a'), 'an injected pod', 30_000, 200), 'registry.example/tsmesh:1.0.0');

  await kube.kubectlOk(['apply', '-f', '-'], values('registry.example/tsmesh:2.0.0'));
  await until(async () => (await imageOfNewPod('b')) === 'registry.example/tsmesh:2.0.0', 'the next pod to get the edited values\' image', 30_000, 200);

  await kube.kubectlOk(['patch', 'configmap', '-n', 'istio-system', 'istio-sidecar-injector', '--type=merge', '-p', JSON.stringify({ data: { values: JSON.stringify({ sidecarInjectorWebhook: { neverInjectSelector: 'everything' } }) } })]);
  await until(() => log.some((l) => /ConfigMap istio-system\/istio-sidecar-injector data\.values: sidecarInjectorWebhook\.neverInjectSelector: expected a list.*last good values keep serving/.test(l)), 'the bad edit logged', 30_000, 100);
  assert.equal(await imageOfNewPod('c'), 'registry.example/tsmesh:2.0.0', 'the last good values still inject');
});
