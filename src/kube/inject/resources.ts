/**
 * The sidecar's resources: Istio's sidecar.istio.io/proxyCPU|proxyMemory|proxyCPULimit|
 * proxyMemoryLimit annotations when any is set (then only those, as Istio's template does),
 * else values.global.proxy.resources.
 */
import type { InjectionSettings } from './settings.ts';

export const RESOURCE_ANNOTATIONS = {
  cpu: 'sidecar.istio.io/proxyCPU',
  memory: 'sidecar.istio.io/proxyMemory',
  cpuLimit: 'sidecar.istio.io/proxyCPULimit',
  memoryLimit: 'sidecar.istio.io/proxyMemoryLimit',
} as const;

/** Kubernetes' resource.Quantity syntax (decimal or binary suffix, or an exponent). */
const QUANTITY = /^[+]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+|[KMGTPE]i|[munkMGTPE])?$/;

export function proxyResources(annotations: Record<string, string>, settings: InjectionSettings): Record<string, Record<string, string>> {
  const a = (k: keyof typeof RESOURCE_ANNOTATIONS) => annotations[RESOURCE_ANNOTATIONS[k]];
  if ([a('cpu'), a('memory'), a('cpuLimit'), a('memoryLimit')].every((v) => v === undefined)) {
    const out: Record<string, Record<string, string>> = {};
    const { requests, limits } = settings.resources;
    if (Object.keys(limits).length) out.limits = { ...limits } as Record<string, string>;
    if (Object.keys(requests).length) out.requests = { ...requests } as Record<string, string>;
    return out;
  }
  const out: Record<string, Record<string, string>> = {};
  const put = (group: 'requests' | 'limits', key: 'cpu' | 'memory', v: string | undefined) => {
    if (v !== undefined) (out[group] ??= {})[key] = v;
  };
  put('limits', 'cpu', a('cpuLimit'));
  put('limits', 'memory', a('memoryLimit'));
  put('requests', 'cpu', a('cpu'));
  put('requests', 'memory', a('memory'));
  return out;
}

/** The first resource annotation that is not a Kubernetes quantity, as a message; else undefined. */
export function resourceAnnotationProblem(annotations: Record<string, string>): string | undefined {
  for (const name of Object.values(RESOURCE_ANNOTATIONS)) {
    const v = annotations[name];
    if (v !== undefined && !QUANTITY.test(v.trim())) return `annotation ${name}: ${JSON.stringify(v)} is not a Kubernetes quantity (e.g. 100m, 0.5, 128Mi, 1Gi)`;
  }
  return undefined;
}
