/**
 * The mesh config from the `istio` ConfigMap: a bad `kubectl edit` (YAML syntax, a field that does
 * not validate) keeps the last good mesh config serving and is reported naming the ConfigMap, the
 * key and the field, as Istio's mesh watcher does; a revision reads `istio-<rev>`. Against a real
 * API server, through KubernetesMode and the control plane's registry. No Istio CRDs are installed
 * here, so connect() waits only a short sync timeout for them.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startKubeCluster, type KubeCluster } from '../helpers/kube.ts';
import { until } from '../helpers/poll.ts';
import { caStateDir } from '../helpers/processes.ts';
import { KubernetesMode } from '../../src/kube/controlplane.ts';
import { MeshConfigMapReader, meshConfigMapName } from '../../src/kube/mesh_config.ts';
import { ControlPlane } from '../../src/controlplane/server.ts';
import type { KubeConfigStore } from '../../src/kube/config/store.ts';

let kube: KubeCluster;

before(async () => {
  kube = await startKubeCluster();
  for (const ns of ['istio-system', 'shop', 'lab']) await kubectl(['create', 'namespace', ns]);
  await kubectl(['label', 'namespace', 'shop', 'mesh=on']);
  for (const ns of ['shop', 'lab']) await kubectl(['apply', '-f', '-'], `apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: ${ns}}\nspec:\n  ports: [{name: http, port: 80}]\n`);
});
after(() => kube?.close());

async function kubectl(args: string[], input?: string): Promise<string> {
  const r = await kube.kubectl(args, input === undefined ? {} : { input });
  assert.equal(r.code, 0, `kubectl ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

function meshConfigMap(name: string, mesh: string): string {
  return JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: 'istio-system' }, data: { mesh } });
}

async function startControlPlane(t: { after(fn: () => unknown): void }, revision?: string) {
  const lines: string[] = [];
  const log = (l: string) => lines.push(l);
  const mode = await KubernetesMode.connect({ kubeconfig: kube.kubeconfig, identity: `cp-${revision ?? 'default'}`, syncTimeoutMs: 3000, log, ...(revision ? { revision } : {}) });
  const cp = new ControlPlane<KubeConfigStore>({ ...mode.controlPlaneOptions(), grpcPort: 0, httpPort: 0, secureGrpcPort: 0, stateDir: caStateDir(t), debounce: { afterMs: 10, maxMs: 100 }, log });
  t.after(async () => {
    await mode.close();
    await cp.close();
  });
  await cp.start();
  mode.attach(cp);
  const has = (host: string) => cp.registry.getService(host) !== undefined;
  return { mode, cp, lines, has };
}

test('a bad edit of the istio ConfigMap keeps the last good mesh config and names the ConfigMap, key and field', async (t) => {
  await kubectl(['apply', '-f', '-'], meshConfigMap('istio', 'outboundTrafficPolicy: {mode: REGISTRY_ONLY}\ndiscoverySelectors:\n- matchLabels: {mesh: "on"}\n'));
  t.after(() => kube.kubectl(['delete', 'configmap', 'istio', '-n', 'istio-system']));
  const { mode, lines, has } = await startControlPlane(t);
  await until(() => has('web.shop.svc.cluster.local'), 'the selected namespace’s Service', 30_000);
  assert.equal(has('web.lab.svc.cluster.local'), false, 'lab is not selected');
  assert.equal(mode.mesh.outboundTrafficPolicy?.mode, 'REGISTRY_ONLY');

  // A YAML syntax error.
  await kubectl(['apply', '-f', '-'], meshConfigMap('istio', 'outboundTrafficPolicy: {mode: REGISTRY_ONLY\n'));
  await until(() => lines.find((l) => /ConfigMap istio-system\/istio key mesh: YAML syntax error/.test(l)), 'the syntax error reported', 30_000);
  // A field that does not validate.
  await kubectl(['apply', '-f', '-'], meshConfigMap('istio', 'outboundTrafficPolicy: {mode: BOGUS}\ntrustDomain: other.example\n'));
  const fieldError = await until(() => lines.find((l) => /ConfigMap istio-system\/istio key mesh: field outboundTrafficPolicy\.mode: /.test(l)), 'the field error reported', 30_000);
  assert.match(fieldError, /BOGUS/);
  assert.ok(lines.some((l) => /ConfigMap istio-system\/istio key mesh rejected .*the last good mesh config keeps serving; fix it with kubectl edit configmap istio -n istio-system/.test(l)), lines.join('\n'));

  // Nothing of either bad edit was applied: selectors, policy and trust domain are the last good ones.
  assert.equal(mode.mesh.outboundTrafficPolicy?.mode, 'REGISTRY_ONLY');
  assert.equal(mode.mesh.trustDomain, 'cluster.local');
  assert.deepEqual(mode.mesh.discoverySelectors, [{ matchLabels: { mesh: 'on' } }]);
  assert.equal(has('web.lab.svc.cluster.local'), false, 'the discovery selectors still apply');
  assert.ok(has('web.shop.svc.cluster.local'));

  // A good edit applies: no selectors, every namespace contributes.
  await kubectl(['apply', '-f', '-'], meshConfigMap('istio', 'outboundTrafficPolicy: {mode: ALLOW_ANY}\n'));
  await until(() => has('web.lab.svc.cluster.local'), 'lab once the selectors are gone', 30_000);
  assert.equal(mode.mesh.outboundTrafficPolicy?.mode, 'ALLOW_ANY');
});

test('a revision reads istio-<rev>, not istio', async (t) => {
  assert.equal(meshConfigMapName('default'), 'istio');
  assert.equal(meshConfigMapName(''), 'istio');
  assert.equal(meshConfigMapName('canary'), 'istio-canary');
  await kubectl(['apply', '-f', '-'], meshConfigMap('istio', 'outboundTrafficPolicy: {mode: ALLOW_ANY}\n'));
  await kubectl(['apply', '-f', '-'], meshConfigMap('istio-canary', 'outboundTrafficPolicy: {mode: REGISTRY_ONLY}\n'));
  t.after(async () => {
    await kube.kubectl(['delete', 'configmap', 'istio', 'istio-canary', '-n', 'istio-system']);
  });
  const canary = await startControlPlane(t, 'canary');
  assert.equal(canary.mode.revision, 'canary');
  assert.equal(canary.mode.mesh.outboundTrafficPolicy?.mode, 'REGISTRY_ONLY');
  await kubectl(['apply', '-f', '-'], meshConfigMap('istio-canary', 'outboundTrafficPolicy: {mode: REGISTRY_ONLY}\ndiscoverySelectors:\n- matchLabels: {mesh: "on"}\n'));
  await until(() => canary.mode.mesh.discoverySelectors?.length === 1, 'an edit of istio-canary applied', 30_000);
  // An edit of the default revision's ConfigMap is not the canary's business.
  await kubectl(['apply', '-f', '-'], meshConfigMap('istio', 'outboundTrafficPolicy: {mode: ALLOW_ANY}\ntrustDomain: default.example\n'));
  const def = await startControlPlane(t, 'default');
  assert.equal(def.mode.revision, '');
  assert.equal(def.mode.mesh.trustDomain, 'default.example');
  assert.equal(canary.mode.mesh.trustDomain, 'cluster.local');
});

test('MeshConfigMapReader: a missing ConfigMap means defaults; unchanged text is no change', () => {
  const r = new MeshConfigMapReader('istio-system', 'istio');
  const first = r.read(undefined);
  assert.equal(first.mesh?.outboundTrafficPolicy?.mode, 'ALLOW_ANY');
  const cm = { metadata: { name: 'istio' }, data: { mesh: 'outboundTrafficPolicy: {mode: REGISTRY_ONLY}\n' } };
  assert.equal(r.read(cm).mesh?.outboundTrafficPolicy?.mode, 'REGISTRY_ONLY');
  assert.deepEqual(r.read({ ...cm, metadata: { name: 'istio', labels: { x: 'y' } } } as typeof cm), { errors: [] }, 'a label edit changes nothing');
  const bad = r.read({ metadata: { name: 'istio' }, data: { mesh: 'outboundTrafficPolicy: {mode: BOGUS}\n' } });
  assert.equal(bad.mesh, undefined);
  assert.match(bad.errors[0]!, /^mesh config: ConfigMap istio-system\/istio key mesh: field outboundTrafficPolicy\.mode: /);
  // Deleting the ConfigMap (or its key) is Istio's defaults again.
  assert.equal(r.read(undefined).mesh?.outboundTrafficPolicy?.mode, 'ALLOW_ANY');
});
