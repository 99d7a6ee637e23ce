/**
 * Whether a Deployment's pods get a sidecar: what Istio's injection webhooks decide at pod
 * creation, for the demo (which has no admission webhook, so it asks here before starting a pod).
 *
 * Istio (istio-sidecar-injector's webhooks and inject.go's injectRequired):
 *  - the pod's `sidecar.istio.io/inject` label, else its annotation (the label wins when both are
 *    set: "the label is the new API"): "false" means no sidecar;
 *  - a namespace labelled `istio-injection=enabled`, or with an `istio.io/rev` label, injects;
 *    `istio-injection` with any other value (disabled) never does, whatever the pod says (the
 *    webhooks' namespaceSelector excludes it);
 *  - in a namespace with neither label, only the pod label `sidecar.istio.io/inject: "true"`
 *    injects (the object-selector webhook; an annotation alone never reaches a webhook).
 * tsmesh's one difference: a namespace no Namespace YAML defines injects, as the demo always has
 * (Istio's getting-started labels `default` before deploying Bookinfo), unless the pod says "false".
 */
import type { Config } from '../api/types.ts';

export const INJECT_KEY = 'sidecar.istio.io/inject';
export const NAMESPACE_INJECTION_LABEL = 'istio-injection';
export const REVISION_LABEL = 'istio.io/rev';

export interface InjectionDecision {
  sidecar: boolean;
  /** Why, for progress lines and messages. */
  reason: string;
}

/** The decision for the pods of `deployment`, given the Namespace resources known now. */
export function sidecarInjection(deployment: Config, namespaces: readonly Config[]): InjectionDecision {
  const ns = deployment.metadata.namespace;
  const tpl = deployment.spec?.template?.metadata ?? {};
  const label = stringValue(tpl.labels?.[INJECT_KEY]);
  const annotation = stringValue(tpl.annotations?.[INJECT_KEY]);
  const pod = label ?? annotation;
  const podSays = pod === 'true' || pod === 'false' ? pod : undefined;
  const where = label !== undefined ? 'pod label' : 'pod annotation';

  const nsConfig = namespaces.find((c) => c.kind === 'Namespace' && c.metadata.name === ns);
  if (!nsConfig) {
    if (podSays === 'false') return { sidecar: false, reason: `${where} ${INJECT_KEY}=false` };
    return { sidecar: true, reason: `namespace ${ns} has no Namespace resource (the demo injects by default)` };
  }
  const nsLabels: Record<string, unknown> = nsConfig.metadata.labels ?? {};
  const injection = stringValue(nsLabels[NAMESPACE_INJECTION_LABEL]);
  if (injection !== undefined && injection !== 'enabled') return { sidecar: false, reason: `namespace ${ns} has ${NAMESPACE_INJECTION_LABEL}=${injection}` };
  const enabled = injection === 'enabled' || stringValue(nsLabels[REVISION_LABEL]) !== undefined;
  if (podSays === 'false') return { sidecar: false, reason: `${where} ${INJECT_KEY}=false` };
  if (enabled) return { sidecar: true, reason: `namespace ${ns} has ${injection ? `${NAMESPACE_INJECTION_LABEL}=enabled` : REVISION_LABEL}` };
  if (label === 'true') return { sidecar: true, reason: `pod label ${INJECT_KEY}=true` };
  return { sidecar: false, reason: `namespace ${ns} is not labelled ${NAMESPACE_INJECTION_LABEL}=enabled` };
}

function stringValue(v: unknown): string | undefined {
  return typeof v === 'string' ? v : typeof v === 'boolean' ? String(v) : undefined;
}
