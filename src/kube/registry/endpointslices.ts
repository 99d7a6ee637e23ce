/**
 * EndpointSlices → model Endpoints (Istio's kube endpointslice controller): one endpoint per
 * address and slice port, carrying the Pod's labels, service account and the locality of the Node
 * it runs on. What the kubelet reports is what proxies see: a not-ready address is unhealthy.
 */
import type { Endpoint, Locality } from '../../registry/model.ts';
import { kubeHostname } from '../../registry/kubernetes.ts';
import { localityFromLabels } from '../../registry/locality.ts';
import { TLS_MODE_LABEL } from '../../registry/serviceentry.ts';
import type { KubeObject } from '../informers/informer.ts';

export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';

export interface PodLookup {
  pod(namespace: string, name: string): KubeObject | undefined;
  node(name: string): KubeObject | undefined;
}

/** A pod's locality: its own topology label when set (Istio's override), else its Node's labels. */
export function podLocality(pod: KubeObject | undefined, lookup: PodLookup, nodeName?: string): Locality {
  const own = localityFromLabels(pod?.metadata.labels);
  if (own.region || own.zone) return own;
  const node = nodeName ?? pod?.spec?.nodeName;
  return node ? localityFromLabels(lookup.node(node)?.metadata.labels) : {};
}

export function sliceEndpoints(slice: KubeObject, domain: string, lookup: PodLookup): Endpoint[] {
  const svcName = slice.metadata.labels?.[SERVICE_NAME_LABEL];
  const namespace = slice.metadata.namespace ?? 'default';
  if (!svcName || (slice.addressType !== 'IPv4' && slice.addressType !== 'IPv6')) return [];
  const hostname = kubeHostname(svcName, namespace, domain);
  const out: Endpoint[] = [];
  for (const ep of (slice.endpoints ?? []) as any[]) {
    const address = ep.addresses?.[0];
    if (typeof address !== 'string') continue;
    const ref = ep.targetRef?.kind === 'Pod' ? ep.targetRef : undefined;
    const pod = ref ? lookup.pod(ref.namespace ?? namespace, ref.name) : undefined;
    const labels: Record<string, string> = { ...(pod?.metadata.labels ?? {}) };
    const locality = ep.zone && !pod ? { zone: ep.zone as string } : podLocality(pod, lookup, ep.nodeName);
    for (const p of (slice.ports ?? []) as any[]) {
      if (typeof p.port !== 'number') continue;
      const e: Endpoint = {
        service: hostname,
        servicePortName: p.name ?? '',
        address,
        port: p.port,
        labels,
        locality,
        weight: 1,
        healthy: ep.conditions?.ready !== false,
        namespace,
        tlsModeIstio: labels[TLS_MODE_LABEL] === 'istio',
      };
      if (ref?.name) e.workloadName = ref.name;
      const sa = pod?.spec?.serviceAccountName ?? (pod ? 'default' : undefined);
      if (sa) e.serviceAccount = sa;
      out.push(e);
    }
  }
  return out;
}
