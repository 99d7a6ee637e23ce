/**
 * A revision's control plane (Istio's --revision / REVISION), as far as the control plane goes,
 * against a real API server: with `tsmesh install --revision canary`'s webhook configurations
 * and ConfigMaps in place, KubernetesMode reads `istio-canary`, the webhooks patch the canary
 * configurations' caBundle and serve a certificate for istiod-canary.istio-system.svc, and a pod
 * created in a namespace labelled istio.io/rev=canary gets the sidecar with the canary's mesh
 * config. The webhook URLs point at the in-process server (no kube-proxy here), as in
 * webhook_start.test.ts; the name the API server checks is checked with a TLS handshake.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:tls';
import { freePort } from '../helpers/processes.ts';
import { localWebhookConfigurations } from '../helpers/kube_webhooks.ts';
import { startKubeCluster, type KubeCluster } from '../helpers/kube.ts';
import { caStateDir } from '../helpers/processes.ts';
import { KubernetesMode } from '../../src/kube/controlplane.ts';
import { ControlPlane } from '../../src/controlplane/server.ts';
import type { KubeConfigStore } from '../../src/kube/config/store.ts';
import { defaultValues } from '../../src/kube/install/values.ts';
import { webhookConfigurations } from '../../src/kube/install/webhooks.ts';
import { startAdmissionWebhooks } from '../../src/kube/webhook/start.ts';

/** The serving certificate verifies for `servername` against `rootPem`, as the API server checks a service webhook. */
function servesName(port: number, servername: string, rootPem: string): Promise<string | true> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port, servername, ca: rootPem });
    s.once('secureConnect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', (e) => resolve(e.message));
  });
}

test('a control plane started with revision canary serves the canary webhooks and mesh config', async (t) => {
  const kube = await startKubeCluster(t);
  for (const ns of ['istio-system', 'apps']) await kube.kubectlOk(['create', 'namespace', ns]);
  await kube.kubectlOk(['label', 'namespace', 'apps', 'istio.io/rev=canary']);
  await kube.kubectlOk(['create', 'serviceaccount', 'default', '-n', 'apps']);
  const cm = (name: string, data: Record<string, string>) => JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: 'istio-system' }, data });
  // The default revision's mesh config differs: the canary must not read it.
  await kube.kubectlOk(['apply', '-f', '-'], cm('istio', { mesh: 'trustDomain: default.example\n' }));
  await kube.kubectlOk(['apply', '-f', '-'], cm('istio-canary', { mesh: 'trustDomain: canary.example\n' }));

  const port = await freePort();
  const values = { ...defaultValues(), revision: 'canary' };
  const configs = localWebhookConfigurations(values, port);
  await kube.kubectlOk(['apply', '-f', '-'], configs.map((c) => JSON.stringify(c)).join('\n'));
  const mwc = configs.find((c) => c.kind === 'MutatingWebhookConfiguration');
  assert.equal(mwc.metadata.name, 'istio-sidecar-injector-canary');

  const log: string[] = [];
  const mode = await KubernetesMode.connect({ kubeconfig: kube.kubeconfig, revision: 'canary', identity: 'istiod-canary-1', syncTimeoutMs: 3000, log: (l) => log.push(l) });
  const cp = new ControlPlane<KubeConfigStore>({ ...mode.controlPlaneOptions(), grpcPort: 0, httpPort: 0, secureGrpcPort: 0, stateDir: caStateDir(t), log: () => {} });
  t.after(async () => {
    await mode.close();
    await cp.close();
  });
  await cp.start();
  mode.attach(cp);
  assert.equal(mode.mesh.trustDomain, 'canary.example');

  // As tsmesh controlplane starts them for its revision.
  const hooks = await startAdmissionWebhooks({ client: mode.client, ca: cp.authority!, namespace: mode.namespace, revision: mode.revision, host: '127.0.0.1', port, mesh: () => mode.currentMesh(), enforceValidation: false, log: (l) => log.push(l) });
  t.after(() => hooks.close());
  assert.ok(log.includes('webhook: caBundle of istio-sidecar-injector-canary set to the mesh root'), log.join('\n'));
  const stored = JSON.parse(await kube.kubectlOk(['get', 'mutatingwebhookconfiguration', 'istio-sidecar-injector-canary', '-o', 'json']));
  for (const w of stored.webhooks) assert.equal(Buffer.from(w.clientConfig.caBundle, 'base64').toString(), cp.authority!.rootPem());
  assert.equal(await servesName(port, 'istiod-canary.istio-system.svc', cp.authority!.rootPem()), true, 'the name of the canary Service');

  const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web', namespace: 'apps' }, spec: { containers: [{ name: 'web', image: 'nginx' }] } };
  const created = JSON.parse(await kube.kubectlOk(['create', '--dry-run=server', '-o', 'json', '-f', '-'], JSON.stringify(pod)));
  const containers = [...(created.spec.initContainers ?? []), ...created.spec.containers];
  const proxy = containers.find((c: any) => c.name === 'istio-proxy');
  assert.ok(proxy, `istio-proxy injected: ${containers.map((c: any) => c.name).join(', ')}`);
  // The canary's mesh config (its trust domain) and its control plane's address.
  const arg = (flag: string) => proxy.args[proxy.args.indexOf(flag) + 1];
  assert.equal(arg('--trust-domain'), 'canary.example');
  assert.match(arg('--discovery-address'), /^istiod-canary\.istio-system\.svc:15012$/);
});
