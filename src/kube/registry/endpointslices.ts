/**
 * EndpointSlices → model Endpoints (Istio's kube endpointslice controller): one endpoint per
 * address and slice port, carrying the Pod's labels, service account and the locality of the Node
 * it runs on. What the kubelet reports is what proxies see: a not-ready address is unhealthy.
 * `conditions.serving` and `terminating` are not read: a terminating pod that still serves is
 * not ready, hence unhealthy, which is Istio's default too (it only sends to such endpoints with
 * PILOT_SEND_UNHEALTHY_ENDPOINTS / persistent sessions, which tsmesh does not have).
 *
 * Across a Service's slices (endpointsOf):
 *   - one address may be in two slices while the controller moves it (Kubernetes documents
 *     this): the copies become one endpoint, and a ready copy beats a not-ready one;
 *   - a dual-stack Service has an IPv4 and an IPv6 slice for the same pods: tsmesh's endpoint
 *     holds one address (no additional_addresses), so only the family first in the Service's
 *     spec.ipFamilies is kept, as Istio does for a pod unless ISTIO_DUAL_STACK is on; a proxy on
 *     a single-stack node is never handed the other family.
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

/**
 * Every endpoint of the given slices, one per (service, port name, address, port): the ready copy
 * when an address is in more than one slice, and only the Service's primary IP family.
 */
export function endpointsOf(slices: readonly KubeObject[], serviceOf: (namespace: string, name: string) => KubeObject | undefined, domain: string, lookup: PodLookup): Endpoint[] {
  const byKey = new Map<string, Endpoint>();
  for (const slice of slices) {
    const svcName = slice.metadata.labels?.[SERVICE_NAME_LABEL];
    const families: unknown = svcName ? serviceOf(slice.metadata.namespace ?? 'default', svcName)?.spec?.ipFamilies : undefined;
    if (Array.isArray(families) && families.length > 1 && slice.addressType !== families[0]) continue;
    for (const e of sliceEndpoints(slice, domain, lookup)) {
      const k = `${e.service}|${e.servicePortName}|${e.address}|${e.port}`;
      const seen = byKey.get(k);
      if (!seen || (!seen.healthy && e.healthy)) byKey.set(k, e);
    }
  }
  return [...byKey.values()];
}
