/**
 * DestinationRule lookup and traffic-policy merging, following Istio's PushContext.destinationRule:
 * the proxy's namespace first, then the service's namespace, then the root namespace; within a
 * namespace the most specific host wins and rules for the same host are merged.
 */
import type { Subset, TrafficPolicy } from '../api/networking.ts';
import type { Config } from '../api/types.ts';
import type { Proxy, PushContext } from './types.ts';
import { mostSpecificMatch, resolveHost } from './host.ts';
import { pushIndex } from './push_context.ts';
import { exportedTo } from './visibility.ts';
import { labelsMatch } from './util.ts';

/** The rule that applies to one host for one proxy, merged from every rule for that host. */
export interface ResolvedDestinationRule {
  /** The host as written in the winning rule(s), resolved to an FQDN (may be a wildcard). */
  host: string;
  namespace: string;
  trafficPolicy?: TrafficPolicy;
  subsets: Subset[];
  /** The rules merged, oldest first. */
  configs: Config[];
}

/** Per push: namespace -> whether a DestinationRule there selects workloads; and resolved rules. */
interface RuleMemo {
  selective: Map<string, boolean>;
  rules: Map<string, ResolvedDestinationRule | undefined>;
}
const memos = new WeakMap<PushContext, RuleMemo>();

/**
 * The DestinationRule that applies when `proxy` calls `hostname`, or undefined. Memoized per
 * push: CDS and EDS ask it for every cluster of every proxy shape, and the answer depends only
 * on the proxy's namespace (and its labels where a rule there has a workloadSelector). The
 * result is shared: callers must not modify it.
 */
export function destinationRuleFor(push: PushContext, proxy: Proxy, hostname: string): ResolvedDestinationRule | undefined {
  let memo = memos.get(push);
  if (!memo) {
    memo = { selective: new Map(), rules: new Map() };
    memos.set(push, memo);
  }
  let selective = memo.selective.get(proxy.namespace);
  if (selective === undefined) {
    selective = (pushIndex(push).destinationRulesByNamespace.get(proxy.namespace) ?? []).some((c) => !!c.spec?.workloadSelector?.matchLabels);
    memo.selective.set(proxy.namespace, selective);
  }
  const key = selective
    ? `${proxy.namespace}\0${hostname}\0${JSON.stringify(Object.entries(proxy.labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))}`
    : `${proxy.namespace}\0${hostname}`;
  if (memo.rules.has(key)) return memo.rules.get(key);
  const rule = resolveDestinationRule(push, proxy, hostname);
  memo.rules.set(key, rule);
  return rule;
}

function resolveDestinationRule(push: PushContext, proxy: Proxy, hostname: string): ResolvedDestinationRule | undefined {
  const idx = pushIndex(push);
  const svcNs = idx.servicesByHost.get(hostname)?.namespace;
  const root = push.mesh.rootNamespace;
  const exported = (ns: string) =>
    lookup(hostname, (idx.destinationRulesByNamespace.get(ns) ?? []).filter((c) => exportedTo(c.spec?.exportTo, ns, proxy.namespace) && !c.spec?.workloadSelector));
  // A proxy in the root namespace (gateways in istio-system) prefers the service owner's rules.
  if (proxy.namespace === root && svcNs) {
    const r = exported(svcNs);
    if (r) return r;
  }
  const local = (idx.destinationRulesByNamespace.get(proxy.namespace) ?? []).filter(
    (c) => !c.spec?.workloadSelector?.matchLabels || labelsMatch(c.spec.workloadSelector.matchLabels, proxy.labels),
  );
  const fromLocal = lookup(hostname, local);
  if (fromLocal) return fromLocal;
  if (svcNs && svcNs !== proxy.namespace) {
    const r = exported(svcNs);
    if (r) return r;
  }
  if (root !== proxy.namespace) return exported(root);
  return undefined;
}

function lookup(hostname: string, rules: Config[]): ResolvedDestinationRule | undefined {
  if (rules.length === 0) return undefined;
  const hostOf = (c: Config) => resolveHost(String(c.spec?.host ?? ''), c.metadata.namespace);
  const best = mostSpecificMatch(hostname, new Set(rules.map(hostOf)));
  if (best === undefined) return undefined;
  const matching = rules.filter((c) => hostOf(c) === best);
  // Selector-bound rules win over namespace-wide ones for the workloads they select.
  matching.sort((a, b) => Number(!!b.spec?.workloadSelector) - Number(!!a.spec?.workloadSelector));
  return merge(best, matching);
}

/** Istio's merge of rules for one host: first traffic policy wins, subsets are unioned by name. */
function merge(host: string, configs: Config[]): ResolvedDestinationRule {
  const out: ResolvedDestinationRule = { host, namespace: configs[0]!.metadata.namespace, subsets: [], configs };
  for (const c of configs) {
    if (!out.trafficPolicy && c.spec?.trafficPolicy) out.trafficPolicy = c.spec.trafficPolicy;
    for (const s of (c.spec?.subsets ?? []) as Subset[]) {
      if (!out.subsets.some((x) => x.name === s.name)) out.subsets.push(s);
    }
  }
  return out;
}

/**
 * The policy for one port of one subset: the rule's policy, with the subset's policy overriding
 * field by field, and port-level settings (subset's first, then the rule's) overriding both.
 */
export function trafficPolicyFor(dr: ResolvedDestinationRule | undefined, port: number, subset?: string): TrafficPolicy {
  if (!dr) return {};
  const base = dr.trafficPolicy ?? {};
  const sub = subset ? dr.subsets.find((s) => s.name === subset)?.trafficPolicy : undefined;
  const merged: TrafficPolicy = applyPort(base, port);
  if (sub) Object.assign(merged, definedOnly(applyPort(sub, port)));
  delete merged.portLevelSettings;
  return merged;
}

function applyPort(p: TrafficPolicy, port: number): TrafficPolicy {
  const { portLevelSettings, ...rest } = p;
  const pl = portLevelSettings?.find((s) => s.port?.number === port);
  if (!pl) return { ...rest };
  const { port: _p, ...overrides } = pl;
  return { ...rest, ...definedOnly(overrides) };
}

function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([k, v]) => v !== undefined && k !== 'portLevelSettings')) as Partial<T>;
}
