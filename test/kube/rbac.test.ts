/**
 * The control plane's RBAC grants exactly what its code does: each rule of tsmesh install's
 * ClusterRole and Role is listed here next to the file that uses it, and that file is checked to
 * make the call. A rule added without a user, or a user whose call moved away, fails this test.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { controlPlaneRbac } from '../../src/kube/install/rbac.ts';
import { defaultValues } from '../../src/kube/install/values.ts';

const SRC = fileURLToPath(new URL('../../src/kube/', import.meta.url));

/** "<group>/<resource> <verbs>" -> [file under src/kube, text that file must contain]. */
const USERS: Record<string, [string, RegExp]> = {
  'ClusterRole /pods,nodes,services,namespaces,serviceaccounts,secrets get,list,watch': ['informers/resources.ts', /core\('Pod', 'pods'\)[\s\S]*core\('Node', 'nodes'\)[\s\S]*core\('ServiceAccount', 'serviceaccounts'\)[\s\S]*core\('Secret', 'secrets'\)/],
  'ClusterRole discovery.k8s.io/endpointslices get,list,watch': ['informers/resources.ts', /\/apis\/discovery\.k8s\.io\/v1\/endpointslices/],
  'ClusterRole /configmaps get,list,watch,create,update': ['root_cert_publisher.ts', /request\('POST', `\/api\/v1\/namespaces\/\$\{[^}]+\}\/configmaps`[\s\S]*request\('PUT'/],
  'ClusterRole admissionregistration.k8s.io/mutatingwebhookconfigurations,validatingwebhookconfigurations get,list,watch,update': ['webhook/ca_bundle.ts', /client\.request\('PUT', path, obj\)/],
  'ClusterRole authentication.k8s.io/tokenreviews create': ['tokenreview/authenticator.ts', /request\('POST', '\/apis\/authentication\.k8s\.io\/v1\/tokenreviews'/],
  'Role coordination.k8s.io/leases get,create,update': ['leader/lease.ts', /client\.get<Lease>[\s\S]*request\('POST'[\s\S]*request\('PUT'/],
  'Role /secrets get,create': ['ca_secret.ts', /request\('POST', `\/api\/v1\/namespaces\/\$\{[^}]+\}\/secrets`/],
};

test('every RBAC rule has a user in src/kube, and every listed user is granted', () => {
  const objs = controlPlaneRbac(defaultValues()) as any[];
  const rules: string[] = [];
  for (const o of objs.filter((x) => x.kind === 'ClusterRole' || x.kind === 'Role')) {
    for (const r of o.rules) {
      const [group] = r.apiGroups;
      // Istio's own kinds: read by the config store's informers, status patched by the status writer.
      if (group.endsWith('istio.io')) {
        const status = r.resources.every((x: string) => x.endsWith('/status'));
        assert.deepEqual(r.verbs, status ? ['patch'] : ['get', 'list', 'watch'], `${group} ${r.resources.join(',')}`);
        continue;
      }
      rules.push(`${o.kind} ${r.apiGroups.join(',')}/${r.resources.join(',')} ${r.verbs.join(',')}`);
    }
  }
  assert.deepEqual(rules.sort(), Object.keys(USERS).sort(), 'rules granted = rules used');
  for (const [rule, [file, call]] of Object.entries(USERS)) assert.match(readFileSync(SRC + file, 'utf8'), call, `${rule}: ${file} makes the call`);
  const status = readFileSync(SRC + 'status/writer.ts', 'utf8');
  assert.match(status, /request\('PATCH', path, \{ status \}/, 'status writer merge-patches /status');
});
