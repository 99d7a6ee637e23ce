/**
 * What the control plane's ServiceAccount may do, and nothing more: each rule is here because
 * some code uses it (test/kube/rbac.test.ts lists the rule next to that code):
 *   - read what its informers list and watch (config store, registry, status writer, webhooks);
 *   - patch the status of Istio objects (the status writer; the leader only, but RBAC cannot say that);
 *   - publish each namespace's istio-ca-root-cert ConfigMap (the root cert publisher);
 *   - review tokens for CSRs (audience istio-ca);
 *   - update the webhook configurations' caBundle and the validator's failurePolicy;
 *   - in its own namespace: hold its leader Lease, keep the CA root in istio-ca-secret.
 */
import { ISTIO_KINDS } from '../../api/kinds.ts';
import { groupOf } from '../crds/index.ts';
import { CRD_NAMES } from '../crds/names.ts';
import { clusterRoleName, commonLabels, istiodName } from './names.ts';
import type { InstallValues } from './values.ts';
import type { KubeObject } from './types.ts';

const READ = ['get', 'list', 'watch'];

export function controlPlaneRbac(v: InstallValues): KubeObject[] {
  const labels = { ...commonLabels(v, 'Pilot'), app: 'istiod' };
  const istioGroups = [...new Set(ISTIO_KINDS.map(groupOf))].sort();
  const istioRules = istioGroups.map((group) => {
    const plurals = ISTIO_KINDS.filter((k) => groupOf(k) === group).map((k) => CRD_NAMES[k].plural).sort();
    return [
      { apiGroups: [group], resources: plurals, verbs: READ },
      // status.validationMessages, merge-patched by the leader (status/writer.ts).
      { apiGroups: [group], resources: plurals.map((p) => `${p}/status`), verbs: ['patch'] },
    ];
  }).flat();
  const subject = [{ kind: 'ServiceAccount', name: istiodName(v), namespace: v.namespace }];
  return [
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRole',
      metadata: { name: clusterRoleName(v), labels },
      rules: [
        // Informers (informers/resources.ts): discovery and routing, gateway credentials, locality.
        { apiGroups: [''], resources: ['pods', 'nodes', 'services', 'namespaces', 'serviceaccounts', 'secrets'], verbs: READ },
        { apiGroups: ['discovery.k8s.io'], resources: ['endpointslices'], verbs: READ },
        // The mesh config and injector values are read; istio-ca-root-cert is written in every namespace (root_cert_publisher.ts).
        { apiGroups: [''], resources: ['configmaps'], verbs: [...READ, 'create', 'update'] },
        ...istioRules,
        // caBundle kept current and the validator's failurePolicy switched to Fail (webhook/start.ts, ca_bundle.ts: GET + PUT).
        { apiGroups: ['admissionregistration.k8s.io'], resources: ['mutatingwebhookconfigurations', 'validatingwebhookconfigurations'], verbs: [...READ, 'update'] },
        // CSR authentication: the pod's service-account token, audience istio-ca (tokenreview/authenticator.ts).
        { apiGroups: ['authentication.k8s.io'], resources: ['tokenreviews'], verbs: ['create'] },
      ],
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: { name: clusterRoleName(v), labels },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: clusterRoleName(v) },
      subjects: subject,
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'Role',
      metadata: { name: istiodName(v), namespace: v.namespace, labels },
      rules: [
        // Leader election (leader/lease.ts: GET, POST, PUT).
        { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['get', 'create', 'update'] },
        // The CA's own root (ca_secret.ts: istio-ca-secret read, or created on first start).
        { apiGroups: [''], resources: ['secrets'], verbs: ['get', 'create'] },
      ],
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: { name: istiodName(v), namespace: v.namespace, labels },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: istiodName(v) },
      subjects: subject,
    },
  ];
}
