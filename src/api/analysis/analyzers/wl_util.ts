/** Small readers shared by the workload analyzers: YAML values arrive as `any`, these make them safe. */
import type { Resource } from '../types.ts';

export function arr(v: unknown): any[] {
  return Array.isArray(v) ? v : [];
}

export function obj(v: unknown): Record<string, any> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, any>) : {};
}

export function str(v: unknown): string {
  return typeof v === 'string' ? v : v === null || v === undefined ? '' : String(v);
}

/** `namespace/name`, as istioctl lists resources inside message texts. */
export function nsName(r: Resource): string {
  return `${r.namespace}/${r.name}`;
}

/** Go's sort.Strings order (byte-wise), which Istio's lists in texts follow. */
export function sortStrings(xs: string[]): string[] {
  return xs.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

/**
 * Where a config is visible by its exportTo, as Istio's analyzers compare them: `all` for "*"
 * (the default), else the set of namespaces ("." is its own; any other entry, "~" included, is
 * taken as a namespace name).
 */
export interface Visibility {
  all: boolean;
  namespaces: Set<string>;
}

export function exportVisibility(r: Resource, defaultExportTo: readonly string[] = ['*']): Visibility {
  const raw = arr(r.spec.exportTo).map(str);
  const list = raw.length > 0 ? raw : defaultExportTo;
  const v: Visibility = { all: false, namespaces: new Set() };
  for (const e of list) {
    if (e === '*') v.all = true;
    else if (e === '.') v.namespaces.add(r.namespace);
    else if (e !== '') v.namespaces.add(e);
  }
  return v;
}

/** Whether some namespace sees both. */
export function visibilityOverlaps(a: Visibility, b: Visibility): boolean {
  if (a.all) return b.all || b.namespaces.size > 0;
  if (b.all) return a.namespaces.size > 0;
  for (const n of a.namespaces) if (b.namespaces.has(n)) return true;
  return false;
}
