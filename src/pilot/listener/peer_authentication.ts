/**
 * The mTLS mode a workload accepts on a port, from PeerAuthentication (Istio's precedence:
 * workload selector in its namespace, then namespace-wide, then root namespace; default PERMISSIVE).
 */
import type { Proxy, PushContext } from '../types.ts';
import { pushIndex } from '../push_context.ts';
import { labelsMatch } from '../util.ts';

export type MtlsMode = 'STRICT' | 'PERMISSIVE' | 'DISABLE';

/** Effective inbound mTLS mode for one workload port. */
export function mtlsModeFor(push: PushContext, proxy: Proxy, port: number): MtlsMode {
  const all = pushIndex(push).byKind.get('PeerAuthentication') ?? [];
  const local = all.filter((c) => c.metadata.namespace === proxy.namespace);
  const selected = local.find((c) => c.spec?.selector?.matchLabels && labelsMatch(c.spec.selector.matchLabels, proxy.labels));
  const nsWide = local.find((c) => !c.spec?.selector?.matchLabels);
  const root = all.find((c) => c.metadata.namespace === push.mesh.rootNamespace && !c.spec?.selector?.matchLabels);
  // Later levels fill in where a more specific one says UNSET or nothing.
  for (const pa of [selected, nsWide, root]) {
    if (!pa) continue;
    const portMode = pa === selected ? pa.spec?.portLevelMtls?.[String(port)]?.mode : undefined;
    const mode = portMode && portMode !== 'UNSET' ? portMode : pa.spec?.mtls?.mode;
    if (mode && mode !== 'UNSET') return mode as MtlsMode;
  }
  return 'PERMISSIVE';
}
