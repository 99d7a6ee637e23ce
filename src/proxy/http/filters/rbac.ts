/**
 * envoy.filters.http.rbac: enforces `rules` on each request (a deny is a local 403
 * "RBAC: access denied" with response code details rbac_access_denied_matched_policy[<policy>|none]),
 * evaluates `shadow_rules` without enforcing them (Istio's dry-run) and records the shadow result
 * in dynamic metadata under envoy.filters.http.rbac. A route's RBACPerRoute replaces the filter's
 * config (an empty one disables it). No `rules` means no enforcement; `rules` with no policies
 * under ALLOW denies everything, as in Envoy. Stats, as Envoy names them:
 * <http scope>rbac.<rules_stat_prefix>{allowed,denied,logged,not_logged} and
 * <http scope>rbac.<shadow_rules_stat_prefix>{shadow_allowed,shadow_denied}.
 * No response flag is set on a deny: Envoy's RBAC filter sets none either (the details tell).
 */
import { FilterStatus, type HttpFilter, type HttpFilterFactory, type StreamFilterCallbacks } from '../../interfaces.ts';
import type { EnvoyJson } from '../../../xds/types.ts';
import { setDynamicMetadata } from '../common/dynamic_metadata.ts';
import { compileRbac, type RbacEngine } from '../../rbac/engine.ts';
import { peerFromConnection, RbacRequest } from '../../rbac/request.ts';

export const RBAC_FILTER_NAME = 'envoy.filters.http.rbac';
export const RBAC_ACCESS_DENIED_BODY = 'RBAC: access denied';

export interface HttpRbacConfig {
  engine?: RbacEngine;
  shadow?: RbacEngine;
  rulesStatPrefix: string;
  shadowStatPrefix: string;
}

const cache = new WeakMap<EnvoyJson, HttpRbacConfig>();

export function compileHttpRbac(c: EnvoyJson, path = 'RBAC'): HttpRbacConfig {
  const hit = cache.get(c);
  if (hit) return hit;
  if (c.matcher !== undefined) throw new Error(`${path}.matcher: the RBAC matcher tree is not supported (use rules)`);
  if (c.shadow_matcher !== undefined) throw new Error(`${path}.shadow_matcher: the RBAC matcher tree is not supported (use shadow_rules)`);
  if (c.track_per_rule_stats === true) throw new Error(`${path}.track_per_rule_stats: per-rule stats are not supported`);
  const out: HttpRbacConfig = {
    engine: c.rules ? compileRbac(c.rules, `${path}.rules`) : undefined,
    shadow: c.shadow_rules ? compileRbac(c.shadow_rules, `${path}.shadow_rules`) : undefined,
    rulesStatPrefix: String(c.rules_stat_prefix ?? ''),
    shadowStatPrefix: String(c.shadow_rules_stat_prefix ?? ''),
  };
  cache.set(c, out);
  return out;
}

type Counter = { inc(n?: number): void };
interface Counters {
  allowed: Counter;
  denied: Counter;
  logged: Counter;
  notLogged: Counter;
  shadowAllowed: Counter;
  shadowDenied: Counter;
}

class RbacFilter implements HttpFilter {
  constructor(
    private readonly cb: StreamFilterCallbacks,
    private readonly base: HttpRbacConfig,
    private readonly stats: Counters,
  ) {}

  decodeHeaders(headers: Map<string, string | string[]>): FilterStatus {
    const cfg = this.cb.perFilterConfig<HttpRbacConfig>(RBAC_FILTER_NAME) ?? this.base;
    if (!cfg.engine && !cfg.shadow) return FilterStatus.Continue;
    const info = this.cb.streamInfo;
    const req = new RbacRequest(this.cb.connection, headers, info, peerFromConnection(this.cb.connection));
    if (cfg.shadow) {
      const r = cfg.shadow.evaluate(req);
      (r.allowed ? this.stats.shadowAllowed : this.stats.shadowDenied).inc();
      // Field names carry the filter's shadow prefix (Istio: istio_dry_run_allow_shadow_engine_result).
      const p = this.base.shadowStatPrefix;
      const fields: Record<string, unknown> = { [`${p}shadow_engine_result`]: r.allowed ? 'allowed' : 'denied' };
      if (r.policyId !== undefined) fields[`${p}shadow_effective_policy_id`] = r.policyId;
      setDynamicMetadata(info, RBAC_FILTER_NAME, fields);
    }
    const engine = cfg.engine;
    if (!engine) return FilterStatus.Continue;
    const r = engine.evaluate(req);
    if (engine.action === 'LOG') {
      (r.policyId !== undefined ? this.stats.logged : this.stats.notLogged).inc();
      setDynamicMetadata(info, 'envoy.common', { access_log_hint: r.policyId !== undefined });
    }
    if (r.allowed) {
      this.stats.allowed.inc();
      return FilterStatus.Continue;
    }
    this.stats.denied.inc();
    info.responseCodeDetails = `rbac_access_denied_matched_policy[${r.policyId ?? 'none'}]`;
    this.cb.sendLocalReply(403, RBAC_ACCESS_DENIED_BODY);
    return FilterStatus.StopIteration;
  }
}

export const rbacFilterFactory: HttpFilterFactory = {
  create(config, ctx) {
    const base = compileHttpRbac(config);
    const rules = `${ctx.statPrefix}rbac.${base.rulesStatPrefix}`;
    const shadow = `${ctx.statPrefix}rbac.${base.shadowStatPrefix}`;
    const stats: Counters = {
      allowed: ctx.stats.counter(`${rules}allowed`),
      denied: ctx.stats.counter(`${rules}denied`),
      logged: ctx.stats.counter(`${rules}logged`),
      notLogged: ctx.stats.counter(`${rules}not_logged`),
      shadowAllowed: ctx.stats.counter(`${shadow}shadow_allowed`),
      shadowDenied: ctx.stats.counter(`${shadow}shadow_denied`),
    };
    return (cb) => new RbacFilter(cb, base, stats);
  },
  /** RBACPerRoute: its `rbac` replaces the filter's config; absent, the route is not checked. */
  routeConfig(config) {
    const unknown = Object.keys(config).filter((k) => k !== '@type' && k !== 'rbac' && config[k] !== undefined);
    if (unknown.length) throw new Error(`RBACPerRoute: unknown field ${unknown.join(', ')}`);
    return compileHttpRbac(config.rbac ?? {}, 'RBACPerRoute.rbac');
  },
};
