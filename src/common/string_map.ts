/**
 * A node-metadata map (LABELS, ANNOTATIONS) as strings: Envoy sends it as a Struct (an object),
 * some bootstraps as a JSON string. Scalars are kept as text; nested values are dropped.
 */
export function stringMapOf(v: unknown): Record<string, string> {
  let o: unknown = v;
  if (typeof o === 'string') {
    try {
      o = JSON.parse(o);
    } catch {
      return {};
    }
  }
  if (!o || typeof o !== 'object' || Array.isArray(o)) return {};
  const out: Record<string, string> = {};
  for (const [k, x] of Object.entries(o)) if (typeof x === 'string' || typeof x === 'number' || typeof x === 'boolean') out[k] = String(x);
  return out;
}
