/**
 * AuthorizationPolicy as Envoy RBAC filters for one workload (Istio's authz builder): one filter
 * per action in the order the proxy evaluates them — AUDIT (LOG), then DENY, then ALLOW — so a
 * DENY holds whatever an ALLOW says, and with no ALLOW policy everything not denied passes.
 * Policies are named `ns[<namespace>]-policy[<name>]-rule[<index>]`; a policy without rules gets
 * one policy that never matches (an ALLOW `spec: {}` then denies everything). Dry-run policies go
 * to shadow_rules, evaluated and counted but never enforced.
 *
 * CUSTOM policies need an external authorizer (meshConfig.extensionProviders); until tsmesh has
 * one, their rules deny what they match, as Istio does when a provider cannot be used (fail
 * closed), so a CUSTOM policy never silently lets its requests through.
 */
import type { Config } from '../../api/types.ts';
import type { EnvoyJson } from '../../xds/types.ts';
import { HTTP_FILTER, NETWORK_FILTER } from '../../xds/type_urls.ts';
import type { Proxy, PushContext } from '../types.ts';
import { applicablePolicies, isDryRun } from './select.ts';
import { HttpOnlyOnTcp, rulePolicy } from './rule.ts';

export const RBAC_HTTP_FILTER = 'envoy.filters.http.rbac';
export const RBAC_NETWORK_FILTER = 'envoy.filters.network.rbac';

const NEVER: EnvoyJson = { permissions: [{ not_rule: { any: true } }], principals: [{ not_id: { any: true } }] };

type Action = 'ALLOW' | 'DENY' | 'LOG';
interface Built {
  rules?: EnvoyJson;
  shadowRules?: EnvoyJson;
  shadowPrefix?: string;
}

function policyName(c: Config, i: number): string {
  return `ns[${c.metadata.namespace}]-policy[${c.metadata.name}]-rule[${i}]`;
}

function build(policies: Config[], action: Action, forTcp: boolean): Built | undefined {
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
      target[policyName(c, 0)] = NEVER;
      continue;
    }
    rules.forEach((r, i) => {
      if (!r) return;
      try {
        target[policyName(c, i)] = rulePolicy(r, c.metadata.namespace, forTcp, action === 'DENY');
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

function ordered(push: PushContext, proxy: Proxy): Array<[Config[], Action]> {
  const p = applicablePolicies(push, proxy);
  return [
    [p.audit, 'LOG'],
    [[...p.custom, ...p.deny], 'DENY'],
    [p.allow, 'ALLOW'],
  ];
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
  for (const [policies, action] of ordered(push, proxy)) {
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
  for (const [policies, action] of ordered(push, proxy)) {
    const b = build(policies, action, true);
    if (b) out.push({ name: RBAC_NETWORK_FILTER, typed_config: typed(NETWORK_FILTER.RBAC, b, { stat_prefix: 'tcp.' }) });
  }
  return out;
}
