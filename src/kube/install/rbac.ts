/**
 * What the control plane's ServiceAccount may do: read what its informers list and watch, write
 * the status of Istio objects (leader only, but RBAC cannot say that), hold its leader Lease,
 * review tokens for CSRs (audience istio-ca), patch the webhook configurations' caBundle, publish
 * each namespace's istio-ca-root-cert ConfigMap, and record events.
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
      // status.validationMessages and conditions, written back by the leader.
      { apiGroups: [group], resources: plurals.map((p) => `${p}/status`), verbs: ['get', 'update', 'patch'] },
    ];
  }).flat();
  const subject = [{ kind: 'ServiceAccount', name: istiodName(v), namespace: v.namespace }];
  return [
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRole',
      metadata: { name: clusterRoleName(v), labels },
      rules: [
        // Informers: discovery and routing, gateway credentials, mesh config, locality.
        { apiGroups: [''], resources: ['pods', 'nodes', 'services', 'namespaces', 'endpoints', 'serviceaccounts', 'secrets'], verbs: READ },
        { apiGroups: ['discovery.k8s.io'], resources: ['endpointslices'], verbs: READ },
        { apiGroups: ['apps'], resources: ['deployments'], verbs: READ },
        // istio-ca-root-cert in every namespace (Istio's namespace controller).
        { apiGroups: [''], resources: ['configmaps'], verbs: ['create', 'get', 'list', 'watch', 'update', 'patch'] },
        ...istioRules,
        // Which Istio kinds are installed.
        { apiGroups: ['apiextensions.k8s.io'], resources: ['customresourcedefinitions'], verbs: READ },
        // caBundle patched at start; the validator's failurePolicy switched to Fail once ready.
        { apiGroups: ['admissionregistration.k8s.io'], resources: ['mutatingwebhookconfigurations', 'validatingwebhookconfigurations'], verbs: [...READ, 'update', 'patch'] },
        // CSR authentication: the pod's service-account token, audience istio-ca.
        { apiGroups: ['authentication.k8s.io'], resources: ['tokenreviews'], verbs: ['create'] },
        // Gateways' credentialName Secrets: may this gateway's ServiceAccount read it?
        { apiGroups: ['authorization.k8s.io'], resources: ['subjectaccessreviews'], verbs: ['create'] },
        { apiGroups: ['', 'events.k8s.io'], resources: ['events'], verbs: ['create', 'patch', 'update'] },
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
        // Leader election (only the leader writes status).
        { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['get', 'list', 'watch', 'create', 'update', 'patch'] },
        // The CA's own root (istio-ca-secret, cacerts), kept in the control plane's namespace.
        { apiGroups: [''], resources: ['secrets'], verbs: ['create', 'get', 'list', 'watch', 'update', 'delete'] },
        { apiGroups: [''], resources: ['configmaps'], verbs: ['delete'] },
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
