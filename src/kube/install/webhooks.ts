/**
 * The admission webhook configurations, as Istio's istio-discovery chart writes them: the
 * sidecar injector (`/inject`) with its namespace/object selectors per revision, and the config
 * validator (`/validate`) for Istio's groups. caBundle is left empty: the control plane patches
 * it at start with its CA's root.
 */
import { ISTIO_KINDS } from '../../api/kinds.ts';
import { groupOf } from '../crds/index.ts';
import { commonLabels, injectorName, istiodName, revLabel, validatorName } from './names.ts';
import type { InstallValues } from './values.ts';
import type { KubeObject } from './types.ts';

type Expr = { key: string; operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist'; values?: string[] };
const sel = (...matchExpressions: Expr[]) => ({ matchExpressions });

export function webhookConfigurations(v: InstallValues): KubeObject[] {
  const service = (path: string) => ({ service: { name: istiodName(v), namespace: v.namespace, path, port: 443 } });
  const rev = revLabel(v);
  const injectWebhook = (name: string, namespaceSelector: object, objectSelector: object) => ({
    name,
    clientConfig: service('/inject'),
    sideEffects: 'None',
    rules: [{ operations: ['CREATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['pods'] }],
    failurePolicy: 'Fail',
    reinvocationPolicy: 'Never',
    admissionReviewVersions: ['v1'],
    timeoutSeconds: 10,
    namespaceSelector,
    objectSelector,
  });
  const notDisabled: Expr = { key: 'sidecar.istio.io/inject', operator: 'NotIn', values: ['false'] };
  // Istio's four webhooks: a revision is selected by the namespace's istio.io/rev or the pod's;
  // the default revision also by the namespace's istio-injection=enabled or the pod's
  // sidecar.istio.io/inject=true label. A pod labelled sidecar.istio.io/inject=false never is.
  const webhooks = [
    injectWebhook('rev.namespace.sidecar-injector.istio.io',
      sel({ key: 'istio.io/rev', operator: 'In', values: [rev] }, { key: 'istio-injection', operator: 'DoesNotExist' }),
      sel(notDisabled)),
    injectWebhook('rev.object.sidecar-injector.istio.io',
      sel({ key: 'istio.io/rev', operator: 'DoesNotExist' }, { key: 'istio-injection', operator: 'DoesNotExist' }),
      sel(notDisabled, { key: 'istio.io/rev', operator: 'In', values: [rev] })),
  ];
  if (!v.revision) {
    webhooks.push(
      injectWebhook('namespace.sidecar-injector.istio.io', sel({ key: 'istio-injection', operator: 'In', values: ['enabled'] }), sel(notDisabled)),
      injectWebhook('object.sidecar-injector.istio.io',
        sel({ key: 'istio-injection', operator: 'DoesNotExist' }, { key: 'istio.io/rev', operator: 'DoesNotExist' }),
        sel({ key: 'sidecar.istio.io/inject', operator: 'In', values: ['true'] }, { key: 'istio.io/rev', operator: 'DoesNotExist' })),
    );
  }
  const groups = [...new Set(ISTIO_KINDS.map(groupOf))].sort();
  return [
    {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'MutatingWebhookConfiguration',
      metadata: { name: injectorName(v), labels: { ...commonLabels(v, 'Pilot'), app: 'sidecar-injector' } },
      webhooks,
    },
    {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'ValidatingWebhookConfiguration',
      metadata: { name: validatorName(v), labels: { ...commonLabels(v, 'Pilot'), app: 'istiod', istio: 'istiod' } },
      webhooks: [
        {
          name: 'rev.validation.istio.io',
          clientConfig: service('/validate'),
          rules: [{ operations: ['CREATE', 'UPDATE'], apiGroups: groups, apiVersions: ['*'], resources: ['*'] }],
          // Istio's: fail open until the control plane has patched the caBundle and seen its
          // webhook answer; it then switches this to Fail (src/kube/webhook/start.ts).
          failurePolicy: 'Ignore',
          sideEffects: 'None',
          admissionReviewVersions: ['v1'],
          timeoutSeconds: 10,
          // A revision validates the objects labelled with it. The default revision validates
          // every object (a selector cannot say "no istio.io/rev or default"); as every revision
          // runs the same validation, an object seen by two validators gets the same answer.
          ...(v.revision ? { objectSelector: sel({ key: 'istio.io/rev', operator: 'In', values: [v.revision] }) } : {}),
        },
      ],
    },
  ];
}

