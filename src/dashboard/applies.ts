/**
 * Which Istio resources apply to a service or a workload, for the dashboard's detail page (what
 * `istioctl x describe` lists): VirtualServices and DestinationRules by host, and the
 * workload-selected kinds (PeerAuthentication, AuthorizationPolicy, RequestAuthentication,
 * Sidecar, Telemetry) by namespace and selector, mesh-wide ones from the root namespace included.
 */
import type { Config } from '../api/types.ts';

const DOMAIN = 'svc.cluster.local';
const SELECTED_KINDS = new Set(['PeerAuthentication', 'AuthorizationPolicy', 'RequestAuthentication', 'Sidecar', 'Telemetry', 'EnvoyFilter', 'WasmPlugin']);

export interface Subject {
  namespace: string;
  /** The service's FQDN (service pages). */
  host?: string;
  /** The workload's labels (or the service's selector: its workloads'). */
  labels: Record<string, string>;
}

export interface AppliedConfig {
  kind: string;
  namespace: string;
  name: string;
  /** Why it applies, for the page. */
  why: string;
}

/** A host as written in a resource of namespace `ns`, made a FQDN (Istio's short-name rule). */
export function resolveHost(host: string, ns: string): string {
  if (host.includes('*')) return host;
  const dots = host.split('.').length - 1;
  if (dots === 0) return `${host}.${ns}.${DOMAIN}`;
  if (dots === 1) return `${host}.${DOMAIN}`;
  return host;
}

export function hostMatches(pattern: string, host: string): boolean {
  if (pattern === '*') return true;
  if (pattern.startsWith('*.')) return host.endsWith(pattern.slice(1));
  return pattern === host;
}

function visible(c: Config, ns: string): boolean {
  const exportTo: unknown = c.spec?.exportTo;
  if (!Array.isArray(exportTo) || exportTo.length === 0) return true;
  return exportTo.includes('*') || exportTo.includes(ns) || (exportTo.includes('.') && c.metadata.namespace === ns);
}

function selectorOf(c: Config): Record<string, string> | undefined {
  const s = c.spec?.selector?.matchLabels ?? c.spec?.workloadSelector?.labels;
  return s && typeof s === 'object' ? (s as Record<string, string>) : undefined;
}

export function configsApplying(configs: readonly Config[], s: Subject, rootNamespace = 'istio-system'): AppliedConfig[] {
  const out: AppliedConfig[] = [];
  for (const c of configs) {
    const ns = c.metadata.namespace;
    const ref = { kind: c.kind, namespace: ns, name: c.metadata.name };
    if (s.host && c.kind === 'VirtualService' && visible(c, s.namespace)) {
      const hosts: string[] = Array.isArray(c.spec?.hosts) ? c.spec.hosts : [];
      const hit = hosts.find((h) => hostMatches(resolveHost(h, ns), s.host!));
      // Gateway-bound only (no "mesh"): it routes at the gateway, not between sidecars, but it still names this host.
      if (hit) out.push({ ...ref, why: `hosts: ${hit}${Array.isArray(c.spec?.gateways) && c.spec.gateways.length > 0 ? ` (gateways: ${c.spec.gateways.join(', ')})` : ''}` });
    } else if (s.host && c.kind === 'DestinationRule' && visible(c, s.namespace)) {
      const h = typeof c.spec?.host === 'string' ? c.spec.host : '';
      if (h && hostMatches(resolveHost(h, ns), s.host)) out.push({ ...ref, why: `host: ${h}` });
    } else if (SELECTED_KINDS.has(c.kind) && (ns === s.namespace || ns === rootNamespace)) {
      const sel = selectorOf(c);
      if (!sel) out.push({ ...ref, why: ns === rootNamespace && ns !== s.namespace ? 'mesh-wide (root namespace)' : `namespace-wide (${ns})` });
      else if (Object.entries(sel).every(([k, v]) => s.labels[k] === v)) out.push({ ...ref, why: `selector: ${Object.entries(sel).map(([k, v]) => `${k}=${v}`).join(',')}` });
    }
  }
  return out.sort((a, b) => (a.kind + a.namespace + a.name < b.kind + b.namespace + b.name ? -1 : 1));
}
