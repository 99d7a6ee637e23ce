/**
 * deployment.MultiServiceAnalyzer: the Services selecting one meshed Deployment's Pods must agree
 * on each port's protocol (IST0116 DeploymentAssociatedToMultipleServices) and must not send one
 * targetPort to different ports (IST0137 DeploymentConflictingPorts): the sidecar could not tell
 * them apart. A Deployment is in the mesh when its template has an `istio-proxy`, says
 * `sidecar.istio.io/inject: "true"`, or its namespace has `istio-injection=enabled`.
 */
import type { AnalysisContext, Analyzer, Resource } from '../types.ts';
import { arr, obj, sortStrings } from './wl_util.ts';
import { findNamespace, kubeList, labelMap, podTemplate, selects, servicePorts } from './kube_util.ts';

const SIDECAR_INJECT = 'sidecar.istio.io/inject';

function inMesh(ctx: AnalysisContext, d: Resource): boolean {
  const t = podTemplate(d);
  const proxy = arr(t.spec.containers).find((c) => obj(c).name === 'istio-proxy');
  if (proxy && obj(proxy).image) return true;
  if (SIDECAR_INJECT in t.labels) return t.labels[SIDECAR_INJECT] === 'true';
  if (SIDECAR_INJECT in t.annotations) return t.annotations[SIDECAR_INJECT] === 'true';
  const ns = findNamespace(ctx, d.namespace);
  return ns ? ns.labels['istio-injection'] === 'enabled' : false;
}

export const multiServiceAnalyzer: Analyzer = {
  name: 'deployment.MultiServiceAnalyzer',
  description: 'Checks association between services and pods',
  analyze(ctx: AnalysisContext) {
    const services = kubeList(ctx, 'Service');
    for (const d of kubeList(ctx, 'Deployment')) {
      if (d.labels['gateway.istio.io/managed'] === 'istio.io-mesh-controller' || !inMesh(ctx, d)) continue;
      const podLabels = podTemplate(d).labels;
      const matching = services.filter((s) => {
        const sel = labelMap(s.spec.selector);
        return s.namespace === d.namespace && Object.keys(sel).length > 0 && selects(sel, podLabels);
      });
      // port -> protocol -> Services; targetPort -> port -> Service
      const byPort = new Map<number, Map<string, string[]>>();
      const byTarget = new Map<string, Map<number, string>>();
      for (const s of matching) {
        const name = `${s.namespace}/${s.name}`;
        for (const p of servicePorts(s)) {
          let protos = byPort.get(p.port);
          if (!protos) byPort.set(p.port, (protos = new Map()));
          protos.set(p.protocol, [...(protos.get(p.protocol) ?? []), name]);
          const tp = p.targetPort === '' || p.targetPort === '0' ? String(p.port) : p.targetPort;
          let ports = byTarget.get(tp);
          if (!ports) byTarget.set(tp, (ports = new Map()));
          ports.set(p.port, name);
        }
      }
      for (const [port, protos] of byPort) {
        if (protos.size > 1) ctx.report('DeploymentAssociatedToMultipleServices', d, [d.name, port, sortStrings([...protos.values()].flat())], 'metadata.name');
      }
      for (const [tp, ports] of byTarget) {
        if (ports.size > 1) {
          const nums = [...ports.keys()].sort((a, b) => a - b);
          ctx.report('DeploymentConflictingPorts', d, [d.name, sortStrings([...ports.values()]), tp, nums], 'metadata.name');
        }
      }
    }
  },
};
