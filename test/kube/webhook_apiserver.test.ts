/**
 * Sidecar injection on a real kube-apiserver: the MutatingWebhookConfiguration tsmesh install
 * writes (Istio's selectors), pointed at tsmesh's webhook server, its caBundle patched through the
 * API as the control plane does at start. Pods created with kubectl in an istio-injection=enabled
 * namespace come back with the istio-proxy native sidecar and rewritten probes; inject=false and
 * unlabelled namespaces are left alone; and a Deployment's pod injected by the webhook equals the
 * pod of kube-inject's output for the same Deployment (which the webhook then leaves alone).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments, stringify } from 'yaml';
import { CertificateAuthority } from '../../src/ca/authority.ts';
import { KubeClient } from '../../src/kube/client/client.ts';
import { webhookConfigurations } from '../../src/kube/install/webhooks.ts';
import { defaultValues } from '../../src/kube/install/values.ts';
import { kubeInjectText } from '../../src/kube/inject/manifests.ts';
import { defaultInjectionSettings } from '../../src/kube/inject/settings.ts';
import { patchWebhookCaBundles } from '../../src/kube/webhook/ca_bundle.ts';
import { injectHandler } from '../../src/kube/webhook/inject_handler.ts';
import { WebhookServer } from '../../src/kube/webhook/server.ts';
import { ISTIO_DATA } from '../helpers/istio_data.ts';
import { startKubeCluster, type KubeCluster } from '../helpers/kube.ts';
import { until } from '../helpers/poll.ts';

const WAIT_MS = 120_000;

const getJson = async (kube: KubeCluster, args: string[]) => JSON.parse(await kube.kubectlOk([...args, '-o', 'json']));

const podYaml = (name: string, labels: Record<string, string> = {}) =>
  stringify({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, labels: { app: name, ...labels } },
    spec: {
      containers: [
        {
          name: 'web',
          image: 'web:1',
          ports: [{ name: 'http', containerPort: 8080 }],
          livenessProbe: { httpGet: { path: '/live', port: 'http' } },
          readinessProbe: { tcpSocket: { port: 8080 } },
        },
      ],
    },
  });

test('the API server injects pods through tsmesh\'s webhook, as kube-inject does', async (t) => {
  const kube = await startKubeCluster(t, { controllerManager: true });
  const dir = mkdtempSync(join(tmpdir(), 'tsmesh-webhook-api-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const ca = await CertificateAuthority.load({ stateDir: dir });
  const log: string[] = [];
  const server = new WebhookServer({ ca, inject: injectHandler({ settings: defaultInjectionSettings, log: (l) => log.push(l) }) });
  const port = await server.listen();
  t.after(() => server.close());

  // install's configuration, by URL: no kube-proxy here to carry the API server to a Service.
  const mwc = webhookConfigurations(defaultValues()).find((o) => o.kind === 'MutatingWebhookConfiguration')! as any;
  for (const w of mwc.webhooks) w.clientConfig = { url: `https://127.0.0.1:${port}/inject` };
  await kube.kubectlOk(['apply', '-f', '-'], JSON.stringify(mwc));
  const client = KubeClient.fromFile(kube.kubeconfig);
  assert.deepEqual(await patchWebhookCaBundles(client, { caPem: ca.rootPem(), mutating: [mwc.metadata.name] }), [mwc.metadata.name]);
  assert.deepEqual(await patchWebhookCaBundles(client, { caPem: ca.rootPem(), mutating: [mwc.metadata.name] }), [], 'a second patch finds nothing to change');
  const stored = await getJson(kube, ['get', 'mutatingwebhookconfiguration', mwc.metadata.name]);
  for (const w of stored.webhooks) assert.equal(Buffer.from(w.clientConfig.caBundle, 'base64').toString(), ca.rootPem());
  await assert.rejects(patchWebhookCaBundles(client, { caPem: ca.rootPem(), validating: ['istio-validator-missing'] }), /ValidatingWebhookConfiguration istio-validator-missing does not exist: run 'tsmesh install'/);

  for (const ns of ['mesh', 'mesh2', 'plain']) await kube.kubectlOk(['create', 'namespace', ns]);
  await kube.kubectlOk(['label', 'namespace', 'mesh', 'mesh2', 'istio-injection=enabled']);
  // Pods need their namespace's default ServiceAccount, which the controller manager creates.
  for (const ns of ['mesh', 'mesh2', 'plain']) await until(async () => (await kube.kubectl(['get', 'sa', 'default', '-n', ns])).code === 0, `serviceaccount ${ns}/default`, WAIT_MS, 300);

  await kube.kubectlOk(['apply', '-n', 'mesh', '-f', '-'], podYaml('web'));
  const pod = await getJson(kube, ['get', 'pod', 'web', '-n', 'mesh']);
  assert.deepEqual(pod.spec.initContainers.map((c: any) => c.name), ['istio-init', 'istio-proxy']);
  const proxy = pod.spec.initContainers[1];
  assert.equal(proxy.restartPolicy, 'Always');
  assert.deepEqual(pod.spec.containers.map((c: any) => c.name), ['web']);
  const web = pod.spec.containers[0];
  assert.equal(web.livenessProbe.httpGet.path, '/app-health/web/livez');
  assert.equal(web.livenessProbe.httpGet.port, 15020);
  assert.equal(web.readinessProbe.httpGet.path, '/app-health/web/readyz');
  assert.equal(web.readinessProbe.tcpSocket, undefined);
  assert.deepEqual(JSON.parse(proxy.env.find((e: any) => e.name === 'ISTIO_KUBE_APP_PROBERS').value), {
    '/app-health/web/livez': { httpGet: { path: '/live', port: 8080, scheme: 'HTTP' }, timeoutSeconds: 1 },
    '/app-health/web/readyz': { tcpSocket: { port: 8080 }, timeoutSeconds: 1 },
  });
  assert.equal(pod.metadata.labels['security.istio.io/tlsMode'], 'istio');

  const notInjected = async (name: string, ns: string, labels: Record<string, string> = {}) => {
    await kube.kubectlOk(['apply', '-n', ns, '-f', '-'], podYaml(name, labels));
    const p = await getJson(kube, ['get', 'pod', name, '-n', ns]);
    assert.equal(p.spec.initContainers, undefined, `${ns}/${name} has no init containers`);
    assert.deepEqual(p.spec.containers.map((c: any) => c.name), ['web']);
    assert.equal(p.metadata.annotations?.['sidecar.istio.io/status'], undefined);
  };
  await notInjected('opted-out', 'mesh', { 'sidecar.istio.io/inject': 'false' });
  await notInjected('outside', 'plain');
  // The object selector: a pod that asks is injected in any namespace.
  await kube.kubectlOk(['apply', '-n', 'plain', '-f', '-'], podYaml('asks', { 'sidecar.istio.io/inject': 'true' }));
  assert.deepEqual((await getJson(kube, ['get', 'pod', 'asks', '-n', 'plain'])).spec.initContainers.map((c: any) => c.name), ['istio-init', 'istio-proxy']);

  // Acceptance 5: the webhook's pod for Bookinfo's details-v1 equals kube-inject's.
  const docs = parseAllDocuments(readFileSync(join(ISTIO_DATA, 'samples/bookinfo/platform/kube/bookinfo.yaml'), 'utf8')).map((d) => d.toJS());
  const details = docs.filter((d) => d && ['ServiceAccount', 'Deployment'].includes(d.kind) && ['bookinfo-details', 'details-v1'].includes(d.metadata.name));
  assert.equal(details.length, 2);
  const plainYaml = details.map((d) => stringify(d)).join('---\n');
  await kube.kubectlOk(['apply', '-n', 'mesh', '-f', '-'], plainYaml);
  const injected = kubeInjectText(plainYaml, defaultInjectionSettings(), 'mesh2');
  assert.deepEqual(injected.errors, []);
  const webhookCalls = log.length;
  await kube.kubectlOk(['apply', '-n', 'mesh2', '-f', '-'], injected.text);
  const podOf = (ns: string) =>
    until(async () => {
      const items = (await getJson(kube, ['get', 'pods', '-n', ns, '-l', 'app=details'])).items;
      return items.length ? items[0] : undefined;
    }, `a details-v1 pod in ${ns}`, WAIT_MS, 300);
  const [viaWebhook, viaKubeInject] = [await podOf('mesh'), await podOf('mesh2')];
  assert.ok(log.slice(webhookCalls).some((l) => /^inject mesh2\/details-v1-.*: skipped \(already injected/.test(l)), `the webhook saw the kube-injected pod and left it: ${log.join('; ')}`);
  const comparable = (p: any) => {
    // The ServiceAccount admission's token volume has a random name; the owner URI names the namespace.
    const isToken = (n: string) => n.startsWith('kube-api-access-');
    const containers = (cs: any[] = []) => cs.map((c) => ({ ...c, volumeMounts: c.volumeMounts?.filter((m: any) => !isToken(m.name)) }));
    const { 'pod-template-hash': _h, ...labels } = p.metadata.labels;
    return JSON.parse(
      JSON.stringify({
        labels,
        annotations: p.metadata.annotations,
        initContainers: containers(p.spec.initContainers),
        containers: containers(p.spec.containers),
        volumes: p.spec.volumes.filter((v: any) => !isToken(v.name)),
      }).replaceAll('/namespaces/mesh2/', '/namespaces/mesh/'),
    );
  };
  assert.deepEqual(comparable(viaWebhook), comparable(viaKubeInject));
  assert.deepEqual(viaWebhook.spec.initContainers.map((c: any) => c.name), ['istio-init', 'istio-proxy']);
});
