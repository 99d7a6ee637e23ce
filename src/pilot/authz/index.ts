/**
 * AuthorizationPolicy as Envoy RBAC filters for one workload (Istio's authz builder): one filter
 * per action in the order the proxy evaluates them — AUDIT (LOG), then DENY, then ALLOW — so a
 * DENY holds whatever an ALLOW says, and with no ALLOW policy everything not denied passes.
 * Policies are named `ns[<namespace>]-policy[<name>]-rule[<index>]`; a policy without rules gets
 * one policy that never matches (an ALLOW `spec: {}` then denies everything). Dry-run policies go
 * to shadow_rules, evaluated and counted but never enforced.
 *
 * CUSTOM policies go to their external authorizer (./ext_authz.ts) on HTTP chains: a shadow rbac
 * filter marks the requests their rules match, the ext_authz filter after it asks the provider
 * about those, both before the DENY filter (AUDIT, CUSTOM, DENY, ALLOW: Istio's order). Where that
 * cannot be done — a provider that is missing or unusable, several providers for one workload,
 * TCP chains (tsmesh has no network ext_authz filter), proxyless gRPC servers — the CUSTOM rules
 * deny what they match (fail closed), so a CUSTOM policy never silently lets its requests
 * through; customPolicyProblems() says why. Dry-run CUSTOM policies are shadow DENY rules.
 */
import type { Config } from '../../api/types.ts';
import type { EnvoyJson } from '../../xds/types.ts';
import { HTTP_FILTER, NETWORK_FILTER } from '../../xds/type_urls.ts';
import type { Proxy, PushContext } from '../types.ts';
import { applicablePolicies, isDryRun } from './select.ts';
import { HttpOnlyOnTcp, rulePolicy } from './rule.ts';
import { EXT_AUTHZ_POLICY_PREFIX, extAuthzRbacFilter, planCustom, type CustomPlan } from './ext_authz.ts';

export const RBAC_HTTP_FILTER = 'envoy.filters.http.rbac';
export const RBAC_NETWORK_FILTER = 'envoy.filters.network.rbac';

const NEVER: EnvoyJson = { permissions: [{ not_rule: { any: true } }], principals: [{ not_id: { any: true } }] };

type Action = 'ALLOW' | 'DENY' | 'LOG';
interface Built {
  rules?: EnvoyJson;
  shadowRules?: EnvoyJson;
  shadowPrefix?: string;
}

function policyName(c: Config, i: number, prefix: string): string {
  return `${prefix}ns[${c.metadata.namespace}]-policy[${c.metadata.name}]-rule[${i}]`;
}

function build(policies: Config[], action: Action, forTcp: boolean, prefix = ''): Built | undefined {
  if (policies.length === 0) return undefined;
  const enforce: Record<string, EnvoyJson> = {};
  const shadow: Record<string, EnvoyJson> = {};
  let hasEnforce = false;
  let hasShadow = false;
  for (const c of policies) {
    const dry = isDryRun(c);
    const target = dry ? shadow : enforce;
    if (dry) hasShadow = true;
    else hasEnforce = true;
    const rules = (c.spec?.rules ?? []) as EnvoyJson[];
    if (rules.length === 0) {
      target[policyName(c, 0, prefix)] = NEVER;
      continue;
    }
    rules.forEach((r, i) => {
      if (!r) return;
      try {
        target[policyName(c, i, prefix)] = rulePolicy(r, c.metadata.namespace, forTcp, action === 'DENY');
      } catch (e) {
        // An ALLOW/AUDIT rule with HTTP-only keys on TCP matches nothing: leave it out.
        if (!(e instanceof HttpOnlyOnTcp)) throw e;
      }
    });
  }
  const out: Built = {};
  if (hasEnforce) out.rules = { action, policies: enforce };
  if (hasShadow) {
    out.shadowRules = { action, policies: shadow };
    if (action !== 'LOG') out.shadowPrefix = action === 'ALLOW' ? 'istio_dry_run_allow_' : 'istio_dry_run_deny_';
  }
  return out;
}

interface Ordered {
  audit: Config[];
  /** CUSTOM policies served by ext_authz (HTTP chains only). */
  custom: CustomPlan;
  /** DENY policies, with the CUSTOM ones kept fail-closed and the dry-run CUSTOM ones. */
  deny: Config[];
  allow: Config[];
}

function ordered(push: PushContext, proxy: Proxy, extAuthz: boolean): Ordered {
  const p = applicablePolicies(push, proxy);
  const enforced = p.custom.filter((c) => !isDryRun(c));
  const custom: CustomPlan = extAuthz ? planCustom(push, enforced) : { usable: [], failClosed: enforced.map((policy) => ({ policy, reason: 'no external authorization on this chain' })) };
  const closed = new Set(custom.failClosed.map((f) => f.policy));
  return { audit: p.audit, custom, deny: p.custom.filter((c) => closed.has(c) || isDryRun(c)).concat(p.deny), allow: p.allow };
}

/**
 * Why a workload's CUSTOM policies are not sent to their authorizer on its HTTP chains (they then
 * deny what they match): `<namespace>/<name>: <reason>`, for the control plane to report.
 */
export function customPolicyProblems(push: PushContext, proxy: Proxy): string[] {
  const p = applicablePolicies(push, proxy);
  return planCustom(push, p.custom.filter((c) => !isDryRun(c))).failClosed.map((f) => `AuthorizationPolicy ${f.policy.metadata.namespace}/${f.policy.metadata.name}: ${f.reason}; its rules deny what they match (fail closed)`);
}

function typed(type: string, b: Built, extra: EnvoyJson = {}): EnvoyJson {
  const cfg: EnvoyJson = { '@type': type, ...extra };
  if (b.rules) cfg.rules = b.rules;
  if (b.shadowRules) cfg.shadow_rules = b.shadowRules;
  if (b.shadowPrefix) cfg.shadow_rules_stat_prefix = b.shadowPrefix;
  return cfg;
}

/**
 * The HTTP rbac filters for a workload's inbound (or a gateway's) HTTP chains, before the router.
 * `grpc`: for a proxyless gRPC server, whose RBAC filter (gRFC A41) refuses the LOG action and a
 * config without enforced rules: AUDIT and dry-run policies are left out there.
 */
export function authzHttpFilters(push: PushContext, proxy: Proxy, o: { grpc?: boolean } = {}): EnvoyJson[] {
  const out: EnvoyJson[] = [];
  const p = ordered(push, proxy, !o.grpc);
  const steps: Array<[Config[], Action]> = [
    [p.audit, 'LOG'],
    [p.deny, 'DENY'],
    [p.allow, 'ALLOW'],
  ];
  for (const [policies, action] of steps) {
    if (action === 'DENY' && p.custom.filter) {
      const c = build(p.custom.usable, 'DENY', false, `${EXT_AUTHZ_POLICY_PREFIX}-`);
      if (c?.rules) out.push(extAuthzRbacFilter(c.rules), p.custom.filter);
    }
    const b = build(policies, action, false);
    if (!b) continue;
    if (o.grpc) {
      if (action === 'LOG' || !b.rules) continue;
      out.push({ name: RBAC_HTTP_FILTER, typed_config: typed(HTTP_FILTER.RBAC, { rules: b.rules }) });
    } else {
      out.push({ name: RBAC_HTTP_FILTER, typed_config: typed(HTTP_FILTER.RBAC, b) });
    }
  }
  return out;
}

/** The network rbac filters for a workload's inbound TCP chains, before tcp_proxy. */
export function authzNetworkFilters(push: PushContext, proxy: Proxy): EnvoyJson[] {
  const out: EnvoyJson[] = [];
  const p = ordered(push, proxy, false);
  const steps: Array<[Config[], Action]> = [
    [p.audit, 'LOG'],
    [p.deny, 'DENY'],
    [p.allow, 'ALLOW'],
  ];
  for (const [policies, action] of steps) {
    const b = build(policies, action, true);
    if (b) out.push({ name: RBAC_NETWORK_FILTER, typed_config: typed(NETWORK_FILTER.RBAC, b, { stat_prefix: 'tcp.' }) });
  }
  return out;
}
