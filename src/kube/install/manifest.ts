/**
 * Everything `tsmesh install` writes, in the order it must be applied (namespace and CRDs
 * first, the webhook configurations after the Service they call), and its YAML.
 */
import { stringify } from 'yaml';
import { istioCrds } from '../crds/index.ts';
import { controlPlaneObjects, namespaceObject } from './control_plane.ts';
import { ingressGatewayObjects } from './gateway.ts';
import { controlPlaneRbac } from './rbac.ts';
import type { KubeObject } from './types.ts';
import type { InstallValues } from './values.ts';
import { webhookConfigurations } from './webhooks.ts';

export function installManifest(v: InstallValues): KubeObject[] {
  return [
    namespaceObject(v),
    ...(istioCrds() as unknown as KubeObject[]),
    ...controlPlaneRbac(v),
    ...controlPlaneObjects(v),
    ...webhookConfigurations(v),
    ...(v.ingressGateway ? ingressGatewayObjects(v) : []),
  ];
}

/** Multi-document YAML, as `kubectl apply -f -` reads it. */
export function manifestYaml(objects: readonly KubeObject[]): string {
  return objects.map((o) => stringify(o, { lineWidth: 0 })).join('---\n');
}

/** "customresourcedefinition.apiextensions.k8s.io/virtualservices.networking.istio.io": kubectl's name for an object. */
export function kubectlName(o: KubeObject): string {
  const slash = o.apiVersion.lastIndexOf('/');
  const group = slash < 0 ? '' : o.apiVersion.slice(0, slash);
  return `${o.kind.toLowerCase()}${group ? `.${group}` : ''}/${o.metadata.name}`;
}
