/**
 * `istioctl proxy-status <pod>`'s comparison: what the control plane would send the proxy now
 * against what the proxy holds (its /config_dump), per xDS type, as a unified diff of the
 * resources' JSON (sorted by name, versions and timestamps left out, as istioctl strips them).
 */
import type { EnvoyJson } from '../xds/types.ts';
import { RESOURCE } from '../xds/type_urls.ts';
import { dumpSection, type ConfigDump } from './proxy_config_source.ts';

export interface TypeComparison {
  /** "Clusters", "Listeners", "Routes". */
  label: string;
  match: boolean;
  /** Unified diff (--- Istiod X / +++ Envoy X), empty when they match. */
  diff: string;
}

const byName = (a: EnvoyJson, b: EnvoyJson) => (String(a.name) < String(b.name) ? -1 : String(a.name) > String(b.name) ? 1 : 0);

function text(resources: EnvoyJson[]): string[] {
  return JSON.stringify([...resources].sort(byName), null, 3).split('\n');
}

/** The proxy's dynamic resources of each type, as Envoy's config_dump holds them. */
export function proxyResources(dump: ConfigDump): { clusters: EnvoyJson[]; listeners: EnvoyJson[]; routes: EnvoyJson[] } {
  const clusters = (dumpSection(dump, 'ClustersConfigDump')?.dynamic_active_clusters ?? []).map((c: EnvoyJson) => c.cluster);
  const listeners = (dumpSection(dump, 'ListenersConfigDump')?.dynamic_listeners ?? []).filter((l: EnvoyJson) => l.active_state).map((l: EnvoyJson) => l.active_state.listener);
  const routes = (dumpSection(dump, 'RoutesConfigDump')?.dynamic_route_configs ?? []).map((r: EnvoyJson) => r.route_config);
  return { clusters, listeners, routes };
}

/** Cluster, listener and route comparisons, in istioctl's order. */
export function compareWithControlPlane(istiod: Record<string, EnvoyJson[]>, envoy: ConfigDump): TypeComparison[] {
  const p = proxyResources(envoy);
  const pairs: Array<[string, EnvoyJson[], EnvoyJson[]]> = [
    ['Clusters', istiod[RESOURCE.CLUSTER] ?? [], p.clusters],
    ['Listeners', istiod[RESOURCE.LISTENER] ?? [], p.listeners],
    ['Routes', istiod[RESOURCE.ROUTE] ?? [], p.routes],
  ];
  return pairs.map(([label, a, b]) => {
    const diff = unifiedDiff(text(a), text(b), `Istiod ${label}`, `Envoy ${label}`);
    return { label, match: diff === '', diff };
  });
}

/** A unified diff of two line lists with 3 lines of context; '' when equal. */
export function unifiedDiff(a: readonly string[], b: readonly string[], fromFile: string, toFile: string, context = 3): string {
  const ops = diffLines(a, b);
  if (ops.every((o) => o.op === ' ')) return '';
  const out = [`--- ${fromFile}`, `+++ ${toFile}`];
  // Hunks: runs of changes with `context` lines around, merged when close.
  let i = 0;
  while (i < ops.length) {
    if (ops[i]!.op === ' ') {
      i++;
      continue;
    }
    let start = Math.max(0, i - context);
    let end = i;
    for (;;) {
      while (end < ops.length && ops[end]!.op !== ' ') end++;
      let next = end;
      while (next < ops.length && ops[next]!.op === ' ') next++;
      if (next < ops.length && next - end <= 2 * context) end = next;
      else break;
    }
    end = Math.min(ops.length, end + context);
    const hunk = ops.slice(start, end);
    const aStart = hunk[0]!.a;
    const bStart = hunk[0]!.b;
    const aLen = hunk.filter((o) => o.op !== '+').length;
    const bLen = hunk.filter((o) => o.op !== '-').length;
    out.push(`@@ -${aLen === 0 ? aStart : aStart + 1},${aLen} +${bLen === 0 ? bStart : bStart + 1},${bLen} @@`);
    for (const o of hunk) out.push(`${o.op}${o.line}`);
    i = end;
    start = end;
  }
  return out.join('\n') + '\n';
}

interface Op {
  op: ' ' | '-' | '+';
  line: string;
  /** Index in a / b where this line sits (for hunk headers). */
  a: number;
  b: number;
}

/** Line diff: common prefix and suffix trimmed, LCS on the middle (bounded: past 4M cells, all of the middle is replaced). */
function diffLines(a: readonly string[], b: readonly string[]): Op[] {
  let pre = 0;
  while (pre < a.length && pre < b.length && a[pre] === b[pre]) pre++;
  let suf = 0;
  while (suf < a.length - pre && suf < b.length - pre && a[a.length - 1 - suf] === b[b.length - 1 - suf]) suf++;
  const am = a.slice(pre, a.length - suf);
  const bm = b.slice(pre, b.length - suf);
  const ops: Op[] = [];
  for (let k = 0; k < pre; k++) ops.push({ op: ' ', line: a[k]!, a: k, b: k });
  if (am.length * bm.length <= 4_000_000) {
    const n = am.length;
    const m = bm.length;
    const lcs: Uint32Array[] = Array.from({ length: n + 1 }, () => new Uint32Array(m + 1));
    for (let x = n - 1; x >= 0; x--) for (let y = m - 1; y >= 0; y--) lcs[x]![y] = am[x] === bm[y] ? lcs[x + 1]![y + 1]! + 1 : Math.max(lcs[x + 1]![y]!, lcs[x]![y + 1]!);
    let x = 0;
    let y = 0;
    while (x < n || y < m) {
      if (x < n && y < m && am[x] === bm[y]) ops.push({ op: ' ', line: am[x]!, a: pre + x++, b: pre + y++ });
      else if (x < n && (y >= m || lcs[x + 1]![y]! >= lcs[x]![y + 1]!)) ops.push({ op: '-', line: am[x]!, a: pre + x++, b: pre + y });
      else ops.push({ op: '+', line: bm[y]!, a: pre + x, b: pre + y++ });
    }
  } else {
    am.forEach((line, k) => ops.push({ op: '-', line, a: pre + k, b: pre }));
    bm.forEach((line, k) => ops.push({ op: '+', line, a: pre + am.length, b: pre + k }));
  }
  for (let k = 0; k < suf; k++) ops.push({ op: ' ', line: a[a.length - suf + k]!, a: a.length - suf + k, b: b.length - suf + k });
  return ops;
}
