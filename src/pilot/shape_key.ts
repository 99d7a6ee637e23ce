/**
 * The ADS server's ShapeKey for pilot's generators (src/xds/server/resources.ts): which proxies
 * pilot gives identical output for a type, so they share one generation per push.
 */
import type { ShapeKey } from '../xds/server/resources.ts';
import { TYPE } from '../xds/types.ts';
import type { Proxy, PushContext } from './types.ts';
import { canonicalNames, tracingMayApply } from './listener/tracing.ts';
import { dnsAutoAllocate } from './nds/auto_allocate.ts';

/** Every endpoint address of a push, computed once per PushContext. */
const endpointAddresses = new WeakMap<PushContext, Set<string>>();
function addressesOf(push: PushContext): Set<string> {
  let set = endpointAddresses.get(push);
  if (!set) {
    set = new Set();
    for (const eps of push.endpoints.values()) for (const e of eps) set.add(e.address);
    endpointAddresses.set(push, set);
  }
  return set;
}

/** Label selectors of a push that may pick a sidecar, indexed by each of their `key=value` pairs. */
interface SelectorIndex {
  selectors: Array<Record<string, string>>;
  byPair: Map<string, number[]>;
}

/** Where configs select workloads by label (Istio's selector, workloadSelector, sourceLabels). */
const SELECTOR_KEYS = new Set(['sourceLabels', 'matchLabels']);

function collectSelectors(value: unknown, parentKey: string, grandKey: string, out: Array<Record<string, string>>): void {
  if (Array.isArray(value)) {
    for (const v of value) collectSelectors(v, parentKey, grandKey, out);
    return;
  }
  if (!value || typeof value !== 'object') return;
  const isSelector =
    SELECTOR_KEYS.has(parentKey) || (parentKey === 'labels' && grandKey === 'workloadSelector') || (parentKey === 'selector' && grandKey === 'spec');
  if (isSelector) {
    const entries = Object.entries(value as Record<string, unknown>);
    if (entries.length > 0 && entries.every(([, v]) => typeof v === 'string')) {
      out.push(value as Record<string, string>);
      return;
    }
  }
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) collectSelectors(v, k, parentKey, out);
}

/**
 * Keyed by the push's configs and services arrays, not the push: an endpoint-only push reuses
 * both (push_context.ts), so the index and every sidecar's signature carry over to it instead of
 * being recomputed for each connected proxy on each endpoint change.
 */
const selectorIndexes = new WeakMap<PushContext['configs'], { services: PushContext['services']; idx: SelectorIndex }>();
/**
 * Every label selector of the push, from services (their pod selector) and from any config:
 * a sidecar's output depends on its labels only through which of these match them (Sidecar
 * and DestinationRule workloadSelector, PeerAuthentication selector, VirtualService
 * sourceLabels, a Service selecting it). Collected generically, so a kind that starts to select
 * by labels is covered without a change here; an extra selector only makes shapes finer.
 */
function selectorIndex(push: PushContext): SelectorIndex {
  const hit = selectorIndexes.get(push.configs);
  if (hit && hit.services === push.services) return hit.idx;
  const selectors: Array<Record<string, string>> = [];
  for (const svc of push.services) if (svc.selector && Object.keys(svc.selector).length > 0) selectors.push(svc.selector);
  for (const c of push.configs) collectSelectors(c.spec, 'spec', '', selectors);
  const byPair = new Map<string, number[]>();
  selectors.forEach((sel, i) => {
    // One pair is enough to find candidates: a selector matches only labels that hold all its pairs.
    const [k, v] = Object.entries(sel).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))[0]!;
    const key = `${k}=${v}`;
    const list = byPair.get(key) ?? [];
    list.push(i);
    byPair.set(key, list);
  });
  const idx = { selectors, byPair };
  selectorIndexes.set(push.configs, { services: push.services, idx });
  return idx;
}

const labelSignatures = new WeakMap<Proxy, { idx: SelectorIndex; labels: Proxy['labels']; sig: string }>();
/** Which of the push's selectors match the sidecar's labels: what its output depends on. */
function labelSignature(p: Proxy, push: PushContext): string {
  const idx = selectorIndex(push);
  const hit = labelSignatures.get(p);
  if (hit && hit.idx === idx && hit.labels === p.labels) return hit.sig;
  const matched = new Set<number>();
  for (const [k, v] of Object.entries(p.labels)) {
    for (const i of idx.byPair.get(`${k}=${v}`) ?? []) {
      const sel = idx.selectors[i]!;
      if (Object.entries(sel).every(([sk, sv]) => p.labels[sk] === sv)) matched.add(i);
    }
  }
  const sig = `sel:${[...matched].sort((a, b) => a - b).join('.')}`;
  labelSignatures.set(p, { idx, labels: p.labels, sig });
  return sig;
}

/**
 * Which proxies receive identical output for a type, following what pilot's
 * generators read: Route and Endpoint output depends on namespace, labels (through the
 * selectors that match them) and locality, so sidecars of one namespace share a single EDS
 * and RDS generation. Listener and Cluster
 * output also has an inbound side, built from the workloads at the proxy's own IPs, and in
 * NONE interception mode listeners bind the pod IP itself. So a sidecar's IPs are part of its
 * LDS/CDS shape only where they matter: all of them in NONE mode, otherwise just those that are
 * endpoint addresses in the push. Keying on every IP made each sidecar its own shape, and a
 * thousand-service CDS+LDS (~0.3 s) was regenerated once per connected proxy on every push.
 * RDS `http_proxy` also depends on HTTP_PROXY_PORT and the interception mode (its catch-all).
 * Secrets are per proxy.
 */
export const proxyShapeKey: ShapeKey<PushContext, Proxy> = (p, typeUrl, push) => {
  if (typeUrl === TYPE.SECRET) return p.id;
  // A sidecar's labels matter only through the selectors that match them: sidecars of one
  // namespace with per-pod labels (app, pod-template-hash) share a shape unless something
  // selects them apart. Routers match Gateway selectors: their labels are kept whole.
  const labels =
    push && p.type === 'sidecar' && !p.generator
      ? labelSignature(p, push)
      : Object.keys(p.labels).sort().map((k) => `${k}=${p.labels[k]}`).join(',');
  const loc = `${p.locality.region ?? ''}/${p.locality.zone ?? ''}/${p.locality.subzone ?? ''}`;
  const base = [p.type, p.generator ?? '', p.namespace, p.dnsDomain, labels, loc, p.serviceAccount ?? ''];
  // Split-horizon EDS (and a router's sni-dnat clusters) depend on the proxy's network and view;
  // nothing else does, so other types stay shared across networks.
  if ((typeUrl === TYPE.ENDPOINT || (typeUrl === TYPE.CLUSTER && p.type === 'router')) && (p.network || p.requestedNetworkView)) {
    base.push(`net:${p.network ?? ''}/${(p.requestedNetworkView ?? []).join(',')}`);
  }
  // Whether the proxy holds mesh certificates decides auto mTLS (CDS), PERMISSIVE's mTLS chain
  // (LDS) and which remote endpoints split-horizon keeps (EDS): a sidecar without an agent must
  // not share those with one that has it.
  if ((typeUrl === TYPE.ENDPOINT || typeUrl === TYPE.CLUSTER || typeUrl === TYPE.LISTENER) && p.workloadCertificates === false) base.push('certs:none');
  if (typeUrl === TYPE.LISTENER || typeUrl === TYPE.CLUSTER) {
    const narrow = push && p.type === 'sidecar' && !p.generator && (p.interceptionMode ?? 'REDIRECT') !== 'NONE';
    const known = narrow ? addressesOf(push) : undefined;
    const ips = known ? p.ipAddresses.filter((ip) => known.has(ip)) : p.ipAddresses;
    base.push([...ips].sort().join(','), p.interceptionMode ?? '', p.appAddress ?? '', String(p.httpProxyPort ?? ''));
    // Outbound TCP listeners bind auto-allocated VIPs for DNS_AUTO_ALLOCATE proxies (nds/).
    if (typeUrl === TYPE.LISTENER) base.push(`dns:${dnsAutoAllocate(p)}`);
    // Spans carry the workload's canonical service and revision as literal tags (Istio's).
    if (typeUrl === TYPE.LISTENER && push && tracingMayApply(push)) {
      const c = canonicalNames(p);
      base.push(`trace:${c.service}/${c.revision}/${String(p.metadata.MESH_ID ?? '')}`);
    }
  } else if (typeUrl === TYPE.NAME_TABLE) {
    // Auto-allocated VIPs are in a proxy's output only when its metadata asks for them.
    base.push(`dns:${dnsAutoAllocate(p)}`);
  } else if (typeUrl === TYPE.ROUTE && p.httpProxyPort !== undefined) {
    // The `http_proxy` route exists only with HTTP_PROXY_PORT, and its catch-all depends on the
    // interception mode (NONE forwards unknown hosts by name).
    base.push(p.interceptionMode ?? '', String(p.httpProxyPort));
  }
  return base.join('|');
};

