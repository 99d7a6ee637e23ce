/**
 * annotations.K8sAnalyzer: the Istio annotations (`*istio.io/...`, and the documented
 * `kubernetes.io/ingress.class`) on Namespaces, Services, Pods and Deployments must be ones
 * Istio knows (IST0108 UnknownAnnotation), not deprecated (IST0135), on a kind they belong to
 * (IST0107 MisplacedAnnotation) and with a value the injector accepts (IST0125). Annotations
 * Istio sets itself (`sidecar.istio.io/status`, `istio.io/rev`, `gateway.istio.io/controller-version`)
 * are not checked.
 */
import { child } from '../../paths.ts';
import { ANNOTATIONS_BY_NAME } from '../annotations_catalog.ts';
import type { AnalysisContext, Analyzer, Resource } from '../types.ts';
import { kubeList } from './kube_util.ts';

const ALWAYS_IGNORED = new Set(['sidecar.istio.io/status', 'gateway.istio.io/controller-version', 'istio.io/rev']);

/** Extra words for IST0135 (its second argument). */
const DEPRECATION_EXTRA: Record<string, string> = { 'sidecar.istio.io/inject': ' in favor of the "sidecar.istio.io/inject" label' };

const MAX_UINT32 = 4294967295;

function uint32(v: string): string | undefined {
  if (!/^\d+$/.test(v) || Number(v) > MAX_UINT32) return `strconv.ParseUint: parsing "${v}": invalid syntax`;
  return undefined;
}

function portList(v: string): string | undefined {
  if (v.trim() === '' || v.trim() === '*') return undefined;
  for (const p of v.split(',')) {
    const s = p.trim();
    if (!/^\d+$/.test(s) || Number(s) > 65535 || Number(s) === 0) return `port list invalid: "${s}" is not a valid port`;
  }
  return undefined;
}

function cidrList(v: string): string | undefined {
  if (v.trim() === '' || v.trim() === '*') return undefined;
  for (const c of v.split(',')) {
    const s = c.trim();
    if (!/^[0-9a-fA-F:.]+\/\d{1,3}$/.test(s)) return `IP range list invalid: "${s}" is not a valid CIDR`;
  }
  return undefined;
}

/** The values istio's injector checks (a subset: the simply-typed ones); returns the error or undefined. */
const VALIDATION: Record<string, (v: string) => string | undefined> = {
  'sidecar.istio.io/interceptionMode': (v) => (['REDIRECT', 'TPROXY', 'NONE'].includes(v) ? undefined : `interceptionMode invalid, use REDIRECT,TPROXY,NONE: ${v}`),
  'status.sidecar.istio.io/port': (v) => (/^\d+$/.test(v) && Number(v) <= 65535 ? undefined : `failed parsing port "${v}"`),
  'readiness.status.sidecar.istio.io/initialDelaySeconds': uint32,
  'readiness.status.sidecar.istio.io/periodSeconds': uint32,
  'readiness.status.sidecar.istio.io/failureThreshold': uint32,
  'traffic.sidecar.istio.io/includeOutboundIPRanges': cidrList,
  'traffic.sidecar.istio.io/excludeOutboundIPRanges': cidrList,
  'traffic.sidecar.istio.io/includeInboundPorts': portList,
  'traffic.sidecar.istio.io/excludeInboundPorts': portList,
  'traffic.sidecar.istio.io/excludeOutboundPorts': portList,
  'prometheus.istio.io/merge-metrics': (v) => (['true', 'false', '1', '0', 't', 'f', 'TRUE', 'FALSE', 'True', 'False', 'T', 'F'].includes(v) ? undefined : `strconv.ParseBool: parsing "${v}": invalid syntax`),
};

/** Whether an annotation is Istio's to check: in an `istio.io` domain, or the documented Ingress class one. */
export function isIstioAnnotation(name: string): boolean {
  if (name === 'kubernetes.io/ingress.class') return true;
  return name.split('/')[0].endsWith('istio.io');
}

function check(ctx: AnalysisContext, r: Resource, kind: string): void {
  for (const [name, value] of Object.entries(r.annotations)) {
    if (!isIstioAnnotation(name) || ALWAYS_IGNORED.has(name)) continue;
    const path = child('metadata.annotations', name);
    const def = ANNOTATIONS_BY_NAME.get(name);
    if (!def) {
      ctx.report('UnknownAnnotation', r, [name], path);
      continue;
    }
    // Someone with both the deprecated annotation and its replacement label knows; no noise.
    if (def.deprecated && !(name === 'sidecar.istio.io/inject' && 'sidecar.istio.io/inject' in r.labels)) {
      ctx.report('DeprecatedAnnotation', r, [name, DEPRECATION_EXTRA[name] ?? ''], path);
    }
    if (def.resources.includes('Any')) continue;
    if (!def.resources.includes(kind)) {
      ctx.report('MisplacedAnnotation', r, [name, def.resources.join(', ')], path);
      continue;
    }
    const err = VALIDATION[name]?.(value);
    if (err) ctx.report('InvalidAnnotation', r, [name, err], path);
  }
}

export const k8sAnnotationsAnalyzer: Analyzer = {
  name: 'annotations.K8sAnalyzer',
  description: 'Checks for misplaced and invalid Istio annotations in Kubernetes resources',
  analyze(ctx: AnalysisContext) {
    for (const kind of ['Namespace', 'Service', 'Pod', 'Deployment'] as const) {
      for (const r of kubeList(ctx, kind)) check(ctx, r, kind);
    }
  },
};
