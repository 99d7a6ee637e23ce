/**
 * `tsmesh install`'s manifest without a cluster: the objects Istio's charts would create, under
 * Istio's names, with the RBAC the control plane needs, the webhooks' selectors per revision,
 * the values users can set (and the ones refused), and the CLI's dry run and confirmation.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { ISTIO_KINDS } from '../../src/api/kinds.ts';
import { installCommand, uninstallCommand } from '../../src/cli/install.ts';
import { TSMESH_VERSION } from '../../src/common/version.ts';
import { CRD_NAMES } from '../../src/kube/crds/names.ts';
import { installManifest } from '../../src/kube/install/manifest.ts';
import type { KubeObject } from '../../src/kube/install/types.ts';
import { resolveValues, ValuesError } from '../../src/kube/install/values.ts';

const ids = (objs: KubeObject[]) => objs.filter((o) => o.kind !== 'CustomResourceDefinition').map((o) => `${o.kind} ${o.metadata.namespace ? o.metadata.namespace + '/' : ''}${o.metadata.name}`);
const find = (objs: KubeObject[], kind: string, name: string): any => {
  const o = objs.find((x) => x.kind === kind && x.metadata.name === name);
  assert.ok(o, `${kind} ${name} in the manifest`);
  return o;
};

test('the default install: Istio\'s objects under Istio\'s names, namespace and CRDs first, webhooks after istiod', () => {
  const objs = installManifest(resolveValues([], []));
  assert.deepEqual(ids(objs), [
    'Namespace istio-system',
    'ClusterRole istiod-clusterrole-istio-system',
    'ClusterRoleBinding istiod-clusterrole-istio-system',
    'Role istio-system/istiod',
    'RoleBinding istio-system/istiod',
    'ServiceAccount istio-system/istiod',
    'ConfigMap istio-system/istio',
    'ConfigMap istio-system/istio-sidecar-injector',
    'Deployment istio-system/istiod',
    'Service istio-system/istiod',
    'MutatingWebhookConfiguration istio-sidecar-injector',
    'ValidatingWebhookConfiguration istio-validator-istio-system',
    'ServiceAccount istio-system/istio-ingressgateway-service-account',
    'Deployment istio-system/istio-ingressgateway',
    'Service istio-system/istio-ingressgateway',
  ]);
  const crds = objs.filter((o) => o.kind === 'CustomResourceDefinition').map((o) => o.metadata.name).sort();
  assert.equal(crds.length, ISTIO_KINDS.length);
  assert.equal(objs.findIndex((o) => o.kind === 'CustomResourceDefinition'), 1, 'CRDs right after the namespace');
});

test('istiod: Service ports as Istio\'s (443 → 15017 for webhooks), the Deployment runs tsmesh controlplane with the mesh ConfigMap', () => {
  const objs = installManifest(resolveValues([], []));
  const svc = find(objs, 'Service', 'istiod');
  assert.deepEqual(svc.spec.ports.map((p: any) => `${p.name} ${p.port}->${p.targetPort}`).sort(), ['grpc-xds 15010->15010', 'http-monitoring 15014->15014', 'https-dns 15012->15012', 'https-webhook 443->15017']);
  const dep = find(objs, 'Deployment', 'istiod');
  const c = dep.spec.template.spec.containers[0];
  assert.equal(c.image, `tsmesh/tsmesh:${TSMESH_VERSION}`);
  assert.equal(c.args[0], 'controlplane');
  assert.ok(!c.args.includes('--kubeconfig'), 'in-cluster config in a pod');
  assert.equal(dep.spec.template.spec.serviceAccountName, 'istiod');
  assert.deepEqual(dep.spec.selector.matchLabels, svc.spec.selector);
  for (const [k, v] of Object.entries(dep.spec.selector.matchLabels)) assert.equal(dep.spec.template.metadata.labels[k], v);
  assert.equal(dep.spec.template.metadata.labels['sidecar.istio.io/inject'], 'false', 'istiod is never injected');
  const cm = find(objs, 'ConfigMap', 'istio');
  assert.ok(typeof cm.data.mesh === 'string');
  assert.ok(dep.spec.template.spec.volumes.some((v: any) => v.configMap?.name === 'istio'));
  // The injector's values name the same image for sidecars.
  assert.equal(JSON.parse(find(objs, 'ConfigMap', 'istio-sidecar-injector').data.values).global.proxy.image, c.image);
});

test('RBAC: the informers\' kinds readable, Istio status patchable, leases, tokenreviews and webhook updates allowed', () => {
  const objs = installManifest(resolveValues([], []));
  const cr = find(objs, 'ClusterRole', 'istiod-clusterrole-istio-system');
  const role = find(objs, 'Role', 'istiod');
  const allows = (rules: any[], group: string, resource: string, verb: string) =>
    rules.some((r) => r.apiGroups.includes(group) && r.resources.includes(resource) && r.verbs.includes(verb));
  for (const [g, r] of [['', 'services'], ['discovery.k8s.io', 'endpointslices'], ['', 'pods'], ['', 'namespaces'], ['', 'nodes'], ['', 'serviceaccounts'], ['', 'secrets'], ['', 'configmaps']]) {
    for (const verb of ['list', 'watch']) assert.ok(allows(cr.rules, g, r, verb), `${verb} ${g}/${r}`);
  }
  for (const kind of ISTIO_KINDS) {
    const { plural } = CRD_NAMES[kind];
    const group = cr.rules.find((r: any) => r.resources.includes(plural))?.apiGroups[0];
    assert.ok(group, `${plural} readable`);
    assert.ok(allows(cr.rules, group, plural, 'watch'), `watch ${plural}`);
    assert.ok(allows(cr.rules, group, `${plural}/status`, 'patch'), `patch ${plural}/status`);
  }
  assert.ok(allows(cr.rules, 'authentication.k8s.io', 'tokenreviews', 'create'));
  assert.ok(allows(cr.rules, 'admissionregistration.k8s.io', 'mutatingwebhookconfigurations', 'update'));
  assert.ok(allows(cr.rules, 'admissionregistration.k8s.io', 'validatingwebhookconfigurations', 'update'));
  assert.ok(allows(role.rules, 'coordination.k8s.io', 'leases', 'update'));
  const binding = find(objs, 'ClusterRoleBinding', 'istiod-clusterrole-istio-system');
  assert.deepEqual(binding.subjects, [{ kind: 'ServiceAccount', name: 'istiod', namespace: 'istio-system' }]);
});

test('webhooks: injection as Istio selects it (istio-injection=enabled, istio.io/rev, the pod label), validation of Istio\'s groups failing open', () => {
  const objs = installManifest(resolveValues([], []));
  const mwc = find(objs, 'MutatingWebhookConfiguration', 'istio-sidecar-injector');
  const byName = Object.fromEntries(mwc.webhooks.map((w: any) => [w.name, w]));
  const ns = byName['namespace.sidecar-injector.istio.io'];
  assert.deepEqual(ns.namespaceSelector.matchExpressions, [{ key: 'istio-injection', operator: 'In', values: ['enabled'] }]);
  assert.deepEqual(ns.objectSelector.matchExpressions, [{ key: 'sidecar.istio.io/inject', operator: 'NotIn', values: ['false'] }]);
  assert.ok(byName['rev.namespace.sidecar-injector.istio.io'].namespaceSelector.matchExpressions.some((e: any) => e.key === 'istio.io/rev' && e.values[0] === 'default'));
  for (const w of mwc.webhooks) {
    assert.deepEqual(w.clientConfig.service, { name: 'istiod', namespace: 'istio-system', path: '/inject', port: 443 });
    assert.deepEqual(w.rules, [{ operations: ['CREATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['pods'] }]);
    assert.equal(w.failurePolicy, 'Fail');
  }
  const vwc = find(objs, 'ValidatingWebhookConfiguration', 'istio-validator-istio-system');
  const w = vwc.webhooks[0];
  assert.equal(w.clientConfig.service.path, '/validate');
  assert.equal(w.failurePolicy, 'Ignore');
  assert.deepEqual(w.rules[0].apiGroups, ['networking.istio.io', 'security.istio.io', 'telemetry.istio.io']);
  assert.deepEqual(w.rules[0].operations, ['CREATE', 'UPDATE']);
});

test('ingress gateway: istio=ingressgateway, Service 80/443/15021', () => {
  const objs = installManifest(resolveValues([], []));
  const svc = find(objs, 'Service', 'istio-ingressgateway');
  assert.equal(svc.spec.selector.istio, 'ingressgateway');
  assert.deepEqual(svc.spec.ports.map((p: any) => p.port).sort((a: number, b: number) => a - b), [80, 443, 15021]);
  const dep = find(objs, 'Deployment', 'istio-ingressgateway');
  assert.equal(dep.spec.template.metadata.labels.istio, 'ingressgateway');
  const c = dep.spec.template.spec.containers[0];
  assert.deepEqual(c.args.slice(0, 3), ['proxy', '--type', 'router']);
  const containerPorts = new Set(c.ports.map((p: any) => p.containerPort));
  for (const p of svc.spec.ports) assert.ok(containerPorts.has(p.targetPort), `container listens on ${p.targetPort}`);
});

test('a revision: istiod-<rev>, the injector and validator select istio.io/rev=<rev> only', () => {
  const objs = installManifest(resolveValues([], ['revision=canary']));
  const names = ids(objs);
  assert.ok(names.includes('Deployment istio-system/istiod-canary'));
  assert.ok(names.includes('Service istio-system/istiod-canary'));
  assert.ok(names.includes('ClusterRole istiod-clusterrole-canary-istio-system'));
  const mwc = find(objs, 'MutatingWebhookConfiguration', 'istio-sidecar-injector-canary');
  assert.deepEqual(mwc.webhooks.map((w: any) => w.name), ['rev.namespace.sidecar-injector.istio.io', 'rev.object.sidecar-injector.istio.io']);
  assert.equal(mwc.webhooks[0].clientConfig.service.name, 'istiod-canary');
  const vwc = find(objs, 'ValidatingWebhookConfiguration', 'istio-validator-canary-istio-system');
  assert.deepEqual(vwc.webhooks[0].objectSelector.matchExpressions, [{ key: 'istio.io/rev', operator: 'In', values: ['canary'] }]);
});

test('values: hub/tag and a full image, replicas, no gateway, meshConfig; anything else is refused by name', () => {
  const image = (objs: KubeObject[], name: string) => find(objs, 'Deployment', name).spec.template.spec.containers[0].image;
  assert.equal(image(installManifest(resolveValues([], ['hub=registry.local/me', 'tag=dev'])), 'istiod'), 'registry.local/me/tsmesh:dev');
  assert.equal(image(installManifest(resolveValues([], ['values.pilot.image=other/image:1'])), 'istio-ingressgateway'), 'other/image:1');
  const file = { name: 'op.yaml', text: 'apiVersion: install.istio.io/v1alpha1\nkind: IstioOperator\nspec:\n  meshConfig:\n    accessLogFile: /dev/stdout\n  values:\n    pilot:\n      replicaCount: 2\n  components:\n    ingressGateways:\n    - name: istio-ingressgateway\n      enabled: false\n' };
  const objs = installManifest(resolveValues([file], []));
  assert.equal(find(objs, 'Deployment', 'istiod').spec.replicas, 2);
  assert.ok(!ids(objs).some((n) => n.includes('ingressgateway')));
  assert.match(find(objs, 'ConfigMap', 'istio').data.mesh, /accessLogFile: \/dev\/stdout/);
  // --set wins over the file.
  assert.equal(find(installManifest(resolveValues([file], ['values.pilot.replicaCount=3'])), 'Deployment', 'istiod').spec.replicas, 3);
  assert.throws(() => resolveValues([], ['values.pilot.autoscaleEnabled=true']), (e: Error) => e instanceof ValuesError && /does not act on values\.pilot\.autoscaleEnabled/.test(e.message));
  assert.throws(() => resolveValues([], ['meshConfig.outboundTrafficPolicy.mode=OPEN']), /meshConfig\.outboundTrafficPolicy\.mode: /);
  assert.throws(() => resolveValues([], ['revision=Canary']), /DNS-1123/);
  assert.throws(() => resolveValues([], ['hub']), /expected path=value/);
});

test('tsmesh install --dry-run prints the manifest as multi-document YAML; bad input exits 2 with the reason', async () => {
  const out: string[] = [];
  const err: string[] = [];
  const io = { log: (l: string) => out.push(l), error: (l: string) => err.push(l) };
  assert.equal(await installCommand(['--dry-run', '--set', 'tag=t1'], io), 0);
  const docs = parseAllDocuments(out.join('\n')).map((d) => d.toJS());
  assert.deepEqual(docs.map((d) => `${d.kind}/${d.metadata.name}`), installManifest(resolveValues([], ['tag=t1'])).map((o) => `${o.kind}/${o.metadata.name}`));
  assert.equal(err.length, 0);
  assert.equal(await installCommand(['--dry-run', '--set', 'nope=1'], io), 2);
  assert.match(err.join('\n'), /does not act on nope/);
  assert.equal(await installCommand(['--bogus'], io), 2);
  const dir = mkdtempSync(join(tmpdir(), 'tsmesh-install-'));
  try {
    writeFileSync(join(dir, 'bad.yaml'), 'spec: [');
    assert.equal(await installCommand(['--dry-run', '-f', join(dir, 'bad.yaml')], io), 2);
    assert.match(err.at(-1)!, /bad\.yaml: YAML syntax error/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('tsmesh uninstall keeps the CRDs (users\' config) and the namespace unless --purge, deleting in reverse order', async () => {
  const run = async (args: string[]) => {
    const out: string[] = [];
    assert.equal(await uninstallCommand(['--dry-run', ...args], { log: (l) => out.push(l), error: (l) => out.push(l) }), 0);
    return out;
  };
  const kept = await run([]);
  assert.ok(!kept.some((l) => l.startsWith('customresourcedefinition') || l.startsWith('namespace/')), kept.join('\n'));
  assert.ok(kept.includes('deployment.apps/istiod would be deleted (dry run)'));
  const purged = await run(['--purge']);
  assert.equal(purged.filter((l) => l.startsWith('customresourcedefinition')).length, ISTIO_KINDS.length);
  assert.equal(purged.at(-1), 'namespace/istio-system would be deleted (dry run)', 'the namespace last');
  assert.ok(purged.indexOf('validatingwebhookconfiguration.admissionregistration.k8s.io/istio-validator-istio-system would be deleted (dry run)') < purged.indexOf('deployment.apps/istiod would be deleted (dry run)'), 'webhooks before the server they call');
});

test('without -y and no terminal to ask on, install and uninstall change nothing and say to pass -y', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsmesh-install-'));
  try {
    // A kubeconfig naming a server nobody serves: reaching it would be an error of its own.
    const kubeconfig = join(dir, 'config');
    writeFileSync(kubeconfig, 'apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: {server: "https://127.0.0.1:1"}\ncontexts:\n- name: c\n  context: {cluster: c, user: u}\ncurrent-context: c\nusers:\n- name: u\n  user: {token: x}\n');
    for (const cmd of [installCommand, uninstallCommand]) {
      const err: string[] = [];
      const code = await cmd(['--kubeconfig', kubeconfig], { log: () => {}, error: (l) => err.push(l), confirm: async () => undefined });
      assert.equal(code, 1);
      assert.match(err.join('\n'), /pass -y/);
    }
    const err: string[] = [];
    assert.equal(await installCommand(['--kubeconfig', kubeconfig, '-y'], { log: () => {}, error: (l) => err.push(l) }), 1);
    assert.match(err.join('\n'), /cannot reach the API server at https:\/\/127\.0\.0\.1:1/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
