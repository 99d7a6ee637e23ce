/**
 * The object names and labels of an installation, as Istio's charts name them, so an operator
 * who knows Istio finds `istiod`, `istio-sidecar-injector`, `istio-validator-istio-system`.
 */
import type { InstallValues } from './values.ts';

/** "istiod", or "istiod-canary" for revision canary. */
export function revised(name: string, v: InstallValues): string {
  return v.revision ? `${name}-${v.revision}` : name;
}

/** istio.io/rev's value: "default" for the default revision, as Istio writes it. */
export function revLabel(v: InstallValues): string {
  return v.revision || 'default';
}

/** Labels every object of the installation carries; `uninstall` and operators can select on them. */
export function commonLabels(v: InstallValues, component: string): Record<string, string> {
  return {
    'app.kubernetes.io/managed-by': 'tsmesh',
    'app.kubernetes.io/part-of': 'tsmesh',
    'istio.io/rev': revLabel(v),
    'operator.istio.io/component': component,
  };
}

export function istiodName(v: InstallValues): string {
  return revised('istiod', v);
}

export function clusterRoleName(v: InstallValues): string {
  return `${revised('istiod-clusterrole', v)}-${v.namespace}`;
}

export function injectorName(v: InstallValues): string {
  const base = revised('istio-sidecar-injector', v);
  return v.namespace === 'istio-system' ? base : `${base}-${v.namespace}`;
}

export function validatorName(v: InstallValues): string {
  return `${revised('istio-validator', v)}-${v.namespace}`;
}

export function meshConfigMapName(v: InstallValues): string {
  return revised('istio', v);
}

export const INGRESS_GATEWAY = 'istio-ingressgateway';
export const INGRESS_GATEWAY_SA = 'istio-ingressgateway-service-account';
