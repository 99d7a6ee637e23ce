/**
 * The apply-time warning for AuthorizationPolicy keys that only HTTP carries (methods, paths,
 * hosts, requestPrincipals, remoteIpBlocks, request.* conditions) on a policy that reaches a TCP
 * port: there Istio, and tsmesh, cannot evaluate them, so a DENY rule drops them (it denies more)
 * and an ALLOW rule is left out (it admits nothing). Which ports a policy reaches is estimated
 * from the Services in its scope whose selector can pick the same workloads.
 */
import type { Config } from '../types.ts';
import { arr, child, obj, str, type Obj } from './common.ts';
import { isTCP, kubePortProtocol } from '../../registry/protocol.ts';

const HTTP_SOURCE = ['requestPrincipals', 'notRequestPrincipals', 'remoteIpBlocks', 'notRemoteIpBlocks'];
const HTTP_OPERATION = ['hosts', 'notHosts', 'methods', 'notMethods', 'paths', 'notPaths'];
const HTTP_CONDITION = /^(request\.|remote\.ip$|experimental\.envoy\.filters\.)/;

/** `path: key` of every HTTP-only key set in one rule. */
function httpOnlyKeys(rule: Obj, rp: string): string[] {
  const out: string[] = [];
  arr(rule.from).forEach((f, j) => {
    const src = obj(obj(f)?.source) ?? {};
    for (const k of HTTP_SOURCE) if (arr(src[k]).length > 0) out.push(child(child(child(child(rp, 'from'), j), 'source'), k));
  });
  arr(rule.to).forEach((t, j) => {
    const op = obj(obj(t)?.operation) ?? {};
    for (const k of HTTP_OPERATION) if (arr(op[k]).length > 0) out.push(child(child(child(child(rp, 'to'), j), 'operation'), k));
  });
  arr(rule.when).forEach((w, j) => {
    const key = str(obj(w)?.key);
    if (key && HTTP_CONDITION.test(key)) out.push(`${child(child(rp, 'when'), j)} (${key})`);
  });
  return out;
}

/** Two label selectors can pick one workload unless they disagree on a key. */
function compatible(a: Record<string, unknown> | undefined, b: Record<string, unknown> | undefined): boolean {
  if (!a || !b) return true;
  return Object.entries(a).every(([k, v]) => !(k in b) || b[k] === v);
}

/** TCP ports of Services the policy may reach, as `<service>:<port>`. */
function tcpPortsInScope(policy: Config, configs: readonly Config[], rootNamespace: string): string[] {
  const ns = policy.metadata.namespace;
  const selector = obj(obj(policy.spec?.selector)?.matchLabels) as Record<string, unknown> | undefined;
  const out: string[] = [];
  for (const svc of configs) {
    if (svc.kind !== 'Service' || (ns !== rootNamespace && svc.metadata.namespace !== ns)) continue;
    const svcSelector = obj(svc.spec?.selector) as Record<string, unknown> | undefined;
    if (!svcSelector || !compatible(selector, svcSelector)) continue;
    for (const p of arr(svc.spec?.ports)) {
      const port = obj(p);
      if (!port || typeof port.port !== 'number') continue;
      if (isTCP(kubePortProtocol({ port: port.port, name: str(port.name), protocol: str(port.protocol), appProtocol: str(port.appProtocol) }))) {
        out.push(`${svc.metadata.name}:${port.port}`);
      }
    }
  }
  return out;
}

export function authzHttpOnTcpWarnings(configs: readonly Config[], rootNamespace: string, report: (c: Config, path: string, message: string) => void): void {
  for (const c of configs) {
    if (c.kind !== 'AuthorizationPolicy' || !obj(c.spec)) continue;
    const action = str(c.spec.action) ?? 'ALLOW';
    if (action === 'CUSTOM') continue;
    const rules = arr(c.spec.rules);
    let ports: string[] | undefined;
    rules.forEach((r, i) => {
      const rule = obj(r);
      if (!rule) return;
      const keys = httpOnlyKeys(rule, child('spec.rules', i));
      if (keys.length === 0) return;
      ports ??= tcpPortsInScope(c, configs, rootNamespace);
      if (ports.length === 0) return;
      const effect = action === 'DENY' ? 'they are ignored there, so this rule denies more on those ports' : 'this rule matches nothing there, so it admits no connection on those ports';
      report(c, child('spec.rules', i), `HTTP-only ${keys.length > 1 ? 'keys' : 'key'} ${keys.join(', ')} on a policy that also reaches TCP port${ports.length > 1 ? 's' : ''} ${ports.join(', ')}: ${effect}`);
    });
  }
}
