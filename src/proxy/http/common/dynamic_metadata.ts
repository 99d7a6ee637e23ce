/**
 * Envoy's dynamic metadata on a stream: per-namespace structs that one filter writes and later
 * filters read (jwt_authn's payload for rbac's metadata matcher, rbac's shadow result for access
 * logs). Kept on StreamInfo so access logs see it after the stream ends.
 */
import type { StreamInfo } from '../../interfaces.ts';

/** Merges `fields` into namespace `ns` (Envoy's setDynamicMetadata merges at the top level). */
export function setDynamicMetadata(info: StreamInfo, ns: string, fields: Record<string, unknown>): void {
  const all = (info.dynamicMetadata ??= new Map());
  const cur = all.get(ns);
  all.set(ns, cur ? { ...cur, ...fields } : { ...fields });
}

/** The namespace's struct, or undefined. */
export function dynamicMetadata(info: StreamInfo, ns: string): Record<string, unknown> | undefined {
  return info.dynamicMetadata?.get(ns);
}

/**
 * The value at `path` (keys into nested structs) under namespace `ns`, as Envoy's MetadataMatcher
 * walks it; undefined when any step is missing or not a struct.
 */
export function metadataValue(info: StreamInfo, ns: string, path: readonly string[]): unknown {
  let v: unknown = info.dynamicMetadata?.get(ns);
  for (const k of path) {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return undefined;
    v = (v as Record<string, unknown>)[k];
  }
  return v;
}
