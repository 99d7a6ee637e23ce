/**
 * What `tsmesh describe` prints, from the control plane's answer (src/controlplane/debug_describe.ts),
 * in istioctl x describe's words and layout: three-space indents, "--------------------" between
 * sections, names as `name` in the described namespace and `name.namespace` elsewhere. Pure: the
 * command fetches, these functions turn facts into lines.
 */
import type { HTTPMatchRequest, HTTPRoute, L4MatchAttributes, StringMatch, TCPRoute } from '../api/networking.ts';
import type {
  DescribedDestinationRule,
  DescribedIngress,
  DescribedPeerAuthentication,
  DescribedService,
  DescribedVirtualService,
  PodDescription,
  ServiceDescription,
} from '../controlplane/debug_describe.ts';
import { resolveHost } from '../pilot/host.ts';

export const SEPARATOR = '--------------------';
const L1 = '   ';
const L2 = '      ';
/** istioctl's link for the pod requirements its suggestions refer to. */
const REQUIREMENTS_URL = 'https://istio.io/latest/docs/ops/deployment/application-requirements/';

export interface FormatOptions {
  /** The namespace asked about: names elsewhere get `.namespace`. */
  namespace: string;
  ignoreUnmeshed?: boolean;
  /** False when the demo says the pod's readiness checks have not all passed. */
  ready?: boolean;
}

export function kname(name: string, namespace: string, described: string): string {
  return namespace === described ? name : `${name}.${namespace}`;
}

/** `tsmesh describe pod`: istioctl's pod, services, PeerAuthentication and ingress sections. */
export function formatPod(d: PodDescription, o: FormatOptions): { out: string[]; error?: string } {
  const out: string[] = [];
  const pod = kname(d.pod.name, d.pod.namespace, o.namespace);
  out.push(`Pod: ${pod}`);
  out.push(`${L1}Pod Revision: ${d.pod.revision}`);
  const ports = d.pod.ports.map((p) => `${p.port}${p.protocol && p.protocol !== 'TCP' ? `/${p.protocol}` : ''} (${p.container})`);
  out.push(ports.length > 0 ? `${L1}Pod Ports: ${ports.join(', ')}` : `${L1}Pod does not expose ports`);
  if (o.ready === false) out.push(`WARNING: Pod ${pod} Container ${d.pod.meshed ? 'istio-proxy' : 'app'} NOT READY`);
  if (!o.ignoreUnmeshed) {
    if (!d.pod.meshed) out.push(`WARNING: ${pod} is not part of mesh; no Istio sidecar`);
    else {
      const l = d.pod.labels;
      if (!(l['service.istio.io/canonical-name'] || l['app.kubernetes.io/name'] || l.app)) out.push(`Suggestion: add required service name label for Istio telemetry. See ${REQUIREMENTS_URL}.`);
      if (!(l['service.istio.io/canonical-revision'] || l['app.kubernetes.io/version'] || l.version)) out.push(`Suggestion: add required service revision label for Istio telemetry. See ${REQUIREMENTS_URL}.`);
    }
  }
  if (d.services.length === 0 && !o.ignoreUnmeshed) {
    out.push(`Warning: No Kubernetes Services select pod ${pod} (see https://istio.io/docs/setup/kubernetes/additional-setup/requirements/ )`);
  }
  out.push(SEPARATOR);
  if (!d.pod.meshed) {
    // istioctl reads the sidecar's config here; without one it stops, unless told to ignore that.
    if (!o.ignoreUnmeshed) return { out, error: `failed to execute command on sidecar: pod ${pod} has no sidecar (tsmesh proxy) connected to the control plane` };
  } else {
    d.services.forEach((s, i) => {
      if (i > 0) out.push(SEPARATOR);
      out.push(...formatService(s, o.namespace));
    });
  }
  out.push(SEPARATOR);
  out.push(...formatPeerAuthentication(d.peerAuthentication));
  out.push(...formatIngress(d.gatewayProxies, d.ingress, d.services, o.namespace));
  return { out };
}

/** `tsmesh describe service`. */
export function formatServiceDescription(d: ServiceDescription, o: FormatOptions): string[] {
  const svc = kname(d.service.name, d.service.namespace, o.namespace);
  if (!d.described) {
    if (d.pods === 0) return [`Service "${svc}" has no pods.`];
    return [
      `Service "${svc}" has no Istio pods.  (${d.pods} pods in service).`,
      'Redeploy with sidecar injection (the namespace label istio-injection=enabled) to add them to the mesh.',
    ];
  }
  return [...formatService(d.described, o.namespace), ...formatIngress(d.gatewayProxies, d.ingress, [d.described], o.namespace)];
}

/** One service: its ports, and per port the DestinationRule, VirtualServices and RBAC policies. */
export function formatService(s: DescribedService, namespace: string): string[] {
  const out = [`Service: ${kname(s.name, s.namespace, namespace)}`];
  for (const p of s.ports) out.push(`${L1}Port: ${p.name} ${p.port}/${p.protocol} targets pod port ${p.targetPort}`);
  const multi = s.ports.length > 1;
  const indent = multi ? L1 : '';
  for (const p of s.ports) {
    if (multi) out.push(`${p.port}:`);
    const dr = p.destinationRule;
    if (dr) out.push(...formatDestinationRule(dr, namespace, indent));
    for (const vs of p.virtualServices) out.push(...formatVirtualService(vs, s.hostname, dr, namespace, indent));
    if (p.rbacPolicies.length > 0) out.push(`${multi ? `${p.port} ` : ''}RBAC policies: ${p.rbacPolicies.join(', ')}`);
  }
  return out;
}

export function formatDestinationRule(dr: DescribedDestinationRule, namespace: string, indent = ''): string[] {
  const out = [`${indent}DestinationRule: ${kname(dr.name, dr.namespace, namespace)} for ${JSON.stringify(dr.host)}`];
  const { matchingSubsets: m, nonMatchingSubsets: n } = dr;
  if (m.length > 0 || n.length > 0) {
    if (m.length === 0) out.push(`${indent}${L1}WARNING POD DOES NOT MATCH ANY SUBSETS.  (Non matching subsets ${n.join(',')})`);
    out.push(`${indent}${L1}Matching subsets: ${m.join(',')}`);
    if (n.length > 0) out.push(`${indent}${L2}(Non-matching subsets ${n.join(',')})`);
  }
  const tp = dr.trafficPolicy;
  if (!tp) {
    out.push(`${indent}${L1}No Traffic Policy`);
    return out;
  }
  if (tp.tls) out.push(`${indent}${L1}Traffic Policy TLS Mode: ${tp.tls.mode ?? 'DISABLE'}`);
  const short = shortPolicies(tp);
  if (short) out.push(`${indent}${L1}${short}`);
  if (tp.portLevelSettings) {
    out.push(`${indent}${L1}Port Level Settings:`);
    for (const ps of tp.portLevelSettings) {
      out.push(`    ${ps.port?.number ?? 0}:`);
      if (ps.tls) out.push(`${indent}${L2}TLS Mode: ${ps.tls.mode ?? 'DISABLE'}`);
      const sp = shortPolicies(ps);
      if (sp) out.push(`${indent}${L2}${sp}`);
    }
  }
  return out;
}

function shortPolicies(p: Record<string, any>): string {
  const extra = [p.loadBalancer && 'load balancer', p.connectionPool && 'connection pool', p.outlierDetection && 'outlier detection'].filter(Boolean);
  return extra.length > 0 ? `Policies: ${extra.join('/')}` : '';
}

/**
 * A VirtualService as seen from the described pods: the routes that reach them (with weights and
 * match conditions), or a warning naming what the routes send elsewhere (istioctl's printVirtualService).
 */
export function formatVirtualService(vs: DescribedVirtualService, hostname: string, dr: DescribedDestinationRule | undefined, namespace: string, indent = ''): string[] {
  const out = [`${indent}VirtualService: ${kname(vs.name, vs.namespace, namespace)}`];
  const http = vs.spec.http ?? [];
  const tcp = vs.spec.tcp ?? [];
  const tls = vs.spec.tls ?? [];
  let matches = 0;
  let facts = 0;
  const mismatch: string[] = [];
  const take = (r: { match: boolean; facts: string[] }) => {
    if (r.match) {
      matches++;
      for (const f of r.facts) out.push(`${indent}${L1}${f}`);
      facts += r.facts.length;
    } else mismatch.push(...r.facts);
  };
  for (const route of http) take(httpRouteFacts(vs.namespace, route, hostname, dr));
  for (const route of tcp) take(tcpRouteFacts(vs.namespace, route, hostname));
  if (matches === 0) {
    if (http.length > 0) out.push(`${indent}${L1}WARNING: No destinations match pod subsets (checked ${http.length} HTTP routes)`);
    if (tcp.length > 0) out.push(`${indent}${L1}WARNING: No destinations match pod subsets (checked ${tcp.length} TCP routes)`);
    for (const m of mismatch) out.push(`${indent}${L2}${m}`);
    return out;
  }
  const possible = http.length + tls.length + tcp.length;
  if (matches < possible) {
    // Earlier matches may capture traffic first: say how many routes go elsewhere.
    out.push(`${indent}${L1}${possible - matches} additional destination(s) that will not reach this pod`);
    if (facts === 0) for (const m of mismatch) out.push(`${indent}${L2}${m}`);
    return out;
  }
  if (facts === 0) {
    if (http.length > 0) out.push(`${indent}${L1}${http.length} HTTP route(s)`);
    if (tcp.length > 0) out.push(`${indent}${L1}${tcp.length} TCP route(s)`);
  }
  return out;
}

/** Whether an HTTP route sends traffic to the described pods, and what to say about it. */
export function httpRouteFacts(vsNamespace: string, route: HTTPRoute, hostname: string, dr: DescribedDestinationRule | undefined): { match: boolean; facts: string[] } {
  const facts: string[] = [];
  const notes: string[] = [];
  let match = false;
  for (const dest of route.route ?? []) {
    const host = dest.destination?.host ?? '';
    const subset = dest.destination?.subset ?? '';
    const weight = dest.weight ?? 0;
    if (resolveHost(host, vsNamespace) === hostname) {
      if (subset) {
        if (dr?.nonMatchingSubsets.includes(subset)) {
          notes.push(`Route to non-matching subset ${subset} for (${renderMatches(route.match)})`);
          continue;
        }
        if (!dr?.matchingSubsets.includes(subset)) {
          notes.push(dr ? `Warning: Route to UNKNOWN subset ${subset}; check DestinationRule ${dr.name}` : `Warning: Route to subset ${subset} but NO DESTINATION RULE defining subsets!`);
          continue;
        }
      }
      match = true;
      if (weight > 0) facts.push(`Route to host "${host}"${subset ? ` subset "${subset}"` : ''} with weight ${weight}%`);
    } else if (!subset) {
      facts.push(`Route to host "${host}" with weight ${weight}%`);
    } else {
      facts.push(`Route to ${host} with invalid config`);
    }
  }
  if (match) {
    const req: string[] = [];
    if (route.fault) req.push(`Fault injection ${renderFault(route.fault)}`);
    for (const m of route.match ?? []) req.push(renderMatch(m));
    if (req.length > 0) facts.push(req.join(', '));
  } else facts.push(...notes);
  return { match, facts };
}

function tcpRouteFacts(vsNamespace: string, route: TCPRoute, hostname: string): { match: boolean; facts: string[] } {
  const match = (route.route ?? []).some((d) => resolveHost(d.destination?.host ?? '', vsNamespace) === hostname);
  return { match, facts: match ? (route.match ?? []).map(renderL4Match) : [] };
}

export function renderMatches(matches: HTTPMatchRequest[] | undefined): string {
  if (!matches || matches.length === 0) return 'everything';
  return matches.map(renderMatch).join(', ');
}

/** "Match: /productpage", "Match: /static*", "Match:  when headers are end-user=jason". */
export function renderMatch(m: HTTPMatchRequest): string {
  let s = 'Match: ';
  if (m.uri) {
    s += renderStringMatch(m.uri);
    if (m.ignoreUriCase) s += ' uncased';
  }
  const headers = Object.entries(m.headers ?? {});
  if (headers.length > 0) s += ` when headers are ${headers.map(([k, v]) => `${k}=${renderStringMatch(v as StringMatch)}`).join('; ')}`;
  return s.trim();
}

function renderStringMatch(sm: StringMatch | undefined): string {
  if (!sm) return '';
  if (sm.exact !== undefined) return sm.exact;
  if (sm.prefix !== undefined) return `${sm.prefix}*`;
  if (sm.regex !== undefined) return `regex:${JSON.stringify(sm.regex)}`;
  return '';
}

function renderFault(f: unknown): string {
  return JSON.stringify(f);
}

function renderL4Match(m: L4MatchAttributes): string {
  return Object.entries(m as Record<string, unknown>)
    .map(([k, v]) => `${k}:${typeof v === 'object' ? JSON.stringify(v) : String(v)}`)
    .join(' ');
}

export function formatPeerAuthentication(pa: DescribedPeerAuthentication): string[] {
  const out = ['Effective PeerAuthentication:', `${L1}Workload mTLS mode: ${pa.mode}`];
  if (pa.perPort.length > 0) {
    out.push(`${L1}Port Level mTLS mode:`);
    for (const p of pa.perPort) out.push(`${L2}${p.port}: ${p.mode}`);
  }
  if (pa.applied.length > 0) out.push('Applied PeerAuthentication:', `${L1}${pa.applied.join(', ')}`);
  return out;
}

/** "Exposed on Ingress Gateway http://..." and the VirtualService that routes the gateway's traffic in. */
export function formatIngress(gatewayProxies: number, ingress: DescribedIngress[], services: DescribedService[], namespace: string): string[] {
  if (gatewayProxies === 0) return ['Skipping Gateway information (no ingress gateway pods)'];
  const out: string[] = [];
  for (const i of ingress) {
    if (!services.some((s) => s.hostname === i.hostname)) continue;
    out.push(SEPARATOR);
    for (const url of i.urls) out.push(`Exposed on Ingress Gateway ${url}`);
    out.push(...formatVirtualService(i.virtualService, i.hostname, i.destinationRule, namespace));
  }
  return out;
}
