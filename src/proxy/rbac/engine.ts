/**
 * Envoy's RBAC engine (config.rbac.v3.RBAC): named policies, each matching when any of its
 * permissions and any of its principals match. ALLOW allows only when a policy matches, DENY
 * denies only when one does, LOG never denies and reports whether one matched. Policies are
 * tried in name order (Envoy keeps them in a sorted map), so the reported policy is stable.
 * Compiled once per config object (cached), shared by the HTTP and network filters.
 */
import type { EnvoyJson } from '../../xds/types.ts';
import { compilePermission, compilePrincipal, type RbacPredicate } from './matchers.ts';
import type { RbacRequest } from './request.ts';

export type RbacAction = 'ALLOW' | 'DENY' | 'LOG';

export interface RbacResult {
  /** What the action decides: false only for ALLOW without a match and DENY with one. */
  allowed: boolean;
  /** The first matching policy's name. */
  policyId?: string;
}

interface CompiledPolicy {
  name: string;
  permissions: RbacPredicate[];
  principals: RbacPredicate[];
}

const ACTIONS: readonly RbacAction[] = ['ALLOW', 'DENY', 'LOG'];

export class RbacEngine {
  constructor(
    readonly action: RbacAction,
    private readonly policies: readonly CompiledPolicy[],
  ) {}

  /** The first policy (by name) whose permissions and principals both match, if any. */
  matchedPolicy(r: RbacRequest): string | undefined {
    for (const p of this.policies) {
      if (p.permissions.some((m) => m(r)) && p.principals.some((m) => m(r))) return p.name;
    }
    return undefined;
  }

  evaluate(r: RbacRequest): RbacResult {
    const policyId = this.matchedPolicy(r);
    const matched = policyId !== undefined;
    const allowed = this.action === 'ALLOW' ? matched : this.action === 'DENY' ? !matched : true;
    return { allowed, policyId };
  }
}

function actionOf(v: unknown, path: string): RbacAction {
  if (v === undefined) return 'ALLOW';
  const a = typeof v === 'number' ? ACTIONS[v] : (v as RbacAction);
  if (!ACTIONS.includes(a)) throw new Error(`${path}.action: unknown action ${JSON.stringify(v)} (ALLOW, DENY or LOG)`);
  return a;
}

const cache = new WeakMap<EnvoyJson, RbacEngine>();

/** Compiles a config.rbac.v3.RBAC; throws naming the field (under `path`) when it cannot be enforced. */
export function compileRbac(rules: EnvoyJson, path = 'rules'): RbacEngine {
  const hit = cache.get(rules);
  if (hit) return hit;
  if (rules.audit_logging_options !== undefined) throw new Error(`${path}.audit_logging_options: RBAC audit loggers are not supported`);
  const action = actionOf(rules.action, path);
  const policies: CompiledPolicy[] = [];
  const map = (rules.policies ?? {}) as Record<string, EnvoyJson>;
  for (const name of Object.keys(map).sort()) {
    const p = map[name] ?? {};
    const at = `${path}.policies[${name}]`;
    if (p.condition !== undefined || p.checked_condition !== undefined) throw new Error(`${at}: CEL conditions (condition, checked_condition) are not supported`);
    const perms: EnvoyJson[] = p.permissions ?? [];
    const princs: EnvoyJson[] = p.principals ?? [];
    if (perms.length === 0) throw new Error(`${at}.permissions: at least one permission is required`);
    if (princs.length === 0) throw new Error(`${at}.principals: at least one principal is required`);
    policies.push({
      name,
      permissions: perms.map((x, i) => compilePermission(x, `${at}.permissions[${i}]`)),
      principals: princs.map((x, i) => compilePrincipal(x, `${at}.principals[${i}]`)),
    });
  }
  const engine = new RbacEngine(action, policies);
  cache.set(rules, engine);
  return engine;
}
