/**
 * gateway.IngressGatewayPortAnalyzer: a Gateway's selector must pick at least one Pod (IST0101
 * "selector"), and each server port must be one the Services in front of those Pods expose
 * (IST0162 GatewayPortNotDefinedOnService; Istio retired IST0104 GatewayPortNotOnWorkload in its
 * favour). A server port counts as exposed when it is a TCP Service port's targetPort (its port
 * when there is no numeric targetPort), or a Service port that maps to one.
 */
import { child } from '../../paths.ts';
import type { AnalysisContext, Analyzer, Resource } from '../types.ts';
import { arr, obj } from './wl_util.ts';
import { kubeList, labelMap, selectorString, selects, servicePorts, workloadPods } from './kube_util.ts';

function analyzeGateway(ctx: AnalysisContext, gw: Resource, pods: Resource[], services: Resource[]): void {
  const selector = labelMap(gw.spec.selector);
  const sel = selectorString(selector);
  // Messages point at the selector's first label, as istioctl's do.
  const firstKey = Object.keys(selector).sort()[0];
  const path = firstKey === undefined ? 'spec.selector' : child('spec.selector', firstKey);
  const targetPorts = new Set<number>();
  const mappedPorts = new Set<number>();
  const selected = pods.filter((p) => selects(selector, p.labels));
  if (selected.length === 0) {
    ctx.report('ReferencedResourceNotFound', gw, ['selector', sel], path);
    return;
  }
  for (const pod of selected) {
    for (const svc of services) {
      // A Service selects Pods of its own namespace only.
      if (svc.namespace !== pod.namespace || !selects(labelMap(svc.spec.selector), pod.labels)) continue;
      for (const p of servicePorts(svc)) {
        if (p.protocol !== 'TCP') continue;
        const tp = /^\d+$/.test(p.targetPort) ? Number(p.targetPort) : 0;
        if (tp !== 0) {
          targetPorts.add(tp);
          mappedPorts.add(p.port);
        } else {
          targetPorts.add(p.port);
        }
      }
    }
  }
  for (const server of arr(gw.spec.servers)) {
    const port = obj(obj(server).port);
    if (port.number === undefined) continue;
    const n = Number(port.number);
    if (!targetPorts.has(n) && !mappedPorts.has(n)) ctx.report('GatewayPortNotDefinedOnService', gw, [n, sel], path);
  }
}

export const ingressGatewayPortAnalyzer: Analyzer = {
  name: 'gateway.IngressGatewayPortAnalyzer',
  description: "Checks a gateway's ports against the gateway's Kubernetes service ports",
  analyze(ctx: AnalysisContext) {
    const pods = workloadPods(ctx);
    const services = kubeList(ctx, 'Service');
    for (const gw of ctx.list('networking.istio.io/Gateway')) analyzeGateway(ctx, gw, pods, services);
  },
};
