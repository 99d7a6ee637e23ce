/** Label helpers shared by every source: selectors and merges (Istio's labels.Instance). */

export type Labels = Record<string, string>;

/**
 * True when every selector label is present with the same value (Kubernetes equality-based
 * selection). An empty or absent selector selects nothing: a Service without a selector owns no
 * pods, and a ServiceEntry without workloadSelector takes its endpoints from `endpoints`.
 */
export function selectorMatches(selector: Labels | undefined, labels: Labels): boolean {
  if (!selector) return false;
  const keys = Object.keys(selector);
  if (keys.length === 0) return false;
  return keys.every((k) => Object.prototype.hasOwnProperty.call(labels, k) && labels[k] === selector[k]);
}

/** Later maps win; undefined entries are skipped. Returns a fresh object. */
export function mergeLabels(...maps: Array<Labels | undefined>): Labels {
  const out: Labels = {};
  for (const m of maps) if (m) for (const [k, v] of Object.entries(m)) out[k] = String(v);
  return out;
}

/** A copy of a user-given label map keeping only string-convertible values, or undefined when empty. */
export function cleanLabels(m: unknown): Labels | undefined {
  if (!m || typeof m !== 'object') return undefined;
  const out: Labels = {};
  for (const [k, v] of Object.entries(m as Record<string, unknown>)) {
    if (v === null || v === undefined || typeof v === 'object') continue;
    out[k] = String(v);
  }
  return Object.keys(out).length ? out : undefined;
}
