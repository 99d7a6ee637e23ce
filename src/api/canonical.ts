/**
 * Canonical JSON: object keys sorted at every level (arrays keep their order, which is
 * meaningful in Envoy and Istio config), so equal content always gives equal text however it was
 * built. The stores, the registry and pilot all decide "did anything change?" with it.
 */

/** A deep copy with object keys sorted and undefined values dropped; Maps become objects. */
export function sortKeys(value: unknown): unknown {
  if (value instanceof Map) return sortKeys(Object.fromEntries([...value.entries()].map(([k, v]) => [String(k), v])));
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(value).sort()) {
      const v = (value as Record<string, unknown>)[k];
      if (v !== undefined) out[k] = sortKeys(v);
    }
    return out;
  }
  return value;
}

/** JSON of `sortKeys(value)`. */
export function stableStringify(value: unknown, indent?: number): string {
  return JSON.stringify(sortKeys(value), null, indent) ?? 'null';
}
