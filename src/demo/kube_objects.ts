/**
 * What `tsmesh demo --kube` puts on its cluster before the control plane starts, taken from
 * `tsmesh install`'s manifest (src/kube/install) so the names and selectors are Istio's:
 * the istio-system namespace, Istio's CRDs, the sidecar injector and config validator webhook
 * configurations, and the istio-ingressgateway ServiceAccount, Deployment and Service.
 *
 * One difference: the webhooks' clientConfig is a `url` at the control plane's address instead
 * of the istiod Service, because this cluster has no kube-proxy to route a Service's ClusterIP.
 * caBundle stays empty: the control plane patches in its root when it starts (as istiod does).
 */
import { istioCrds } from '../kube/crds/index.ts';
import { ingressGatewayObjects } from '../kube/install/gateway.ts';
import { defaultValues } from '../kube/install/values.ts';
import { webhookConfigurations } from '../kube/install/webhooks.ts';
import type { KubeObject } from '../kube/install/types.ts';

export interface DemoClusterObjectsOptions {
  /** https://<host>:<port>, where the control plane serves /inject and /validate. */
  webhookUrl?: string;
  gateway?: boolean;
}

export function demoClusterObjects(o: DemoClusterObjectsOptions): KubeObject[] {
  const v = defaultValues();
  const objects: KubeObject[] = [{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: v.namespace } }, ...(istioCrds() as unknown as KubeObject[])];
  if (o.webhookUrl) {
    for (const cfg of webhookConfigurations(v)) {
      const hooks = (cfg as { webhooks?: Array<{ clientConfig: { service?: { path?: string }; url?: string } }> }).webhooks ?? [];
      for (const w of hooks) w.clientConfig = { url: `${o.webhookUrl}${w.clientConfig.service?.path ?? '/'}` };
      objects.push(cfg);
    }
  }
  if (o.gateway) objects.push(...ingressGatewayObjects(v));
  return objects;
}

/** Where the gateway Deployment's pods are: namespace and label selector. */
export const INGRESS_GATEWAY_PODS = { namespace: defaultValues().namespace, selector: 'istio=ingressgateway' };
/** The port the gateway's HTTP Gateway servers (port 80 in Istio's samples) listen on in the pod. */
export const INGRESS_GATEWAY_HTTP_PORT = 8080;
