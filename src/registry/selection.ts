/**
 * A workload selected by a Service (Kubernetes selector or ServiceEntry workloadSelector) becomes
 * one endpoint per service port. Which port the workload is reached on differs by kind, as in
 * Istio:
 *   - Kubernetes Service: a named targetPort resolves through the workload's named ports; else the
 *     numeric targetPort; else a workload port named like the service port (WorkloadEntry style);
 *     else the service port itself.
 *   - ServiceEntry: the workload's port named like the service port; else targetPort; else the port.
 */
import type { Endpoint, Service, ServicePort, Workload } from './model.ts';
import { KUBERNETES_REGISTRY } from './kubernetes.ts';
import { selectorMatches } from './labels.ts';
import { TLS_MODE_LABEL } from './serviceentry.ts';

/** True when `svc` selects `w`: same namespace and every selector label matches. */
export function selects(svc: Service, w: Workload): boolean {
  return svc.namespace === w.namespace && selectorMatches(svc.selector, w.labels);
}

export function workloadPort(svc: Service, sp: ServicePort, w: Workload): number {
  const named = w.ports ?? {};
  if (svc.registry === KUBERNETES_REGISTRY) {
    if (sp.targetPortName && named[sp.targetPortName]) return named[sp.targetPortName]!;
    if (sp.targetPort) return sp.targetPort;
    if (sp.name && named[sp.name]) return named[sp.name]!;
    return sp.port;
  }
  if (sp.name && named[sp.name]) return named[sp.name]!;
  return sp.targetPort ?? sp.port;
}

/** The endpoints `w` contributes to `svc` (empty unless selected). */
export function workloadEndpoints(svc: Service, w: Workload): Endpoint[] {
  if (!selects(svc, w)) return [];
  return svc.ports.map((sp) => {
    const ep: Endpoint = {
      service: svc.hostname,
      servicePortName: sp.name,
      address: w.address,
      port: workloadPort(svc, sp, w),
      labels: { ...w.labels },
      locality: { ...w.locality },
      weight: w.weight ?? 1,
      healthy: w.healthy ?? true,
      workloadName: w.name,
      namespace: w.namespace,
      tlsModeIstio: w.labels[TLS_MODE_LABEL] === 'istio',
    };
    if (w.serviceAccount) ep.serviceAccount = w.serviceAccount;
    if (w.network) ep.network = w.network;
    return ep;
  });
}
