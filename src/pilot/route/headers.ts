/**
 * VirtualService `headers` operations → Envoy header mutations. `set` overwrites, `add` appends;
 * pseudo-headers are never touched, and setting Host/:authority is a host rewrite instead (as
 * Istio does, since Envoy refuses to mutate :authority through headers_to_add).
 */
import type { EnvoyJson } from '../../xds/types.ts';
import type { HeaderOperations, Headers } from '../../api/networking.ts';

export interface HeaderMutations {
  request_headers_to_add?: EnvoyJson[];
  request_headers_to_remove?: string[];
  response_headers_to_add?: EnvoyJson[];
  response_headers_to_remove?: string[];
}

export interface TranslatedHeaders {
  mutations: HeaderMutations;
  /** A request `set` of Host or :authority. */
  authority?: string;
}

function isAuthority(name: string): boolean {
  const n = name.toLowerCase();
  return n === 'host' || n === ':authority';
}

function toAdd(ops: HeaderOperations | undefined, allowAuthority: boolean): { add: EnvoyJson[]; authority?: string } {
  const add: EnvoyJson[] = [];
  let authority: string | undefined;
  const push = (m: Record<string, string> | undefined, action: string) => {
    for (const key of Object.keys(m ?? {}).sort()) {
      const value = String(m![key]);
      if (isAuthority(key)) {
        if (allowAuthority && action === 'OVERWRITE_IF_EXISTS_OR_ADD') authority = value;
        continue;
      }
      if (key.startsWith(':')) continue;
      add.push({ header: { key, value }, append_action: action });
    }
  };
  push(ops?.set, 'OVERWRITE_IF_EXISTS_OR_ADD');
  push(ops?.add, 'APPEND_IF_EXISTS_OR_ADD');
  return { add, authority };
}

function toRemove(ops: HeaderOperations | undefined): string[] {
  return (ops?.remove ?? []).filter((h) => !h.startsWith(':') && !isAuthority(h));
}

/** Header operations of a route or of one destination. */
export function translateHeaders(h: Headers | undefined): TranslatedHeaders {
  const req = toAdd(h?.request, true);
  const resp = toAdd(h?.response, false);
  const mutations: HeaderMutations = {};
  if (req.add.length) mutations.request_headers_to_add = req.add;
  const reqRemove = toRemove(h?.request);
  if (reqRemove.length) mutations.request_headers_to_remove = reqRemove;
  if (resp.add.length) mutations.response_headers_to_add = resp.add;
  const respRemove = toRemove(h?.response);
  if (respRemove.length) mutations.response_headers_to_remove = respRemove;
  return { mutations, authority: req.authority };
}

/** Appends `more` to `into` field by field (route-level plus a single destination's). */
export function appendMutations(into: EnvoyJson, more: HeaderMutations): void {
  for (const [k, v] of Object.entries(more) as Array<[keyof HeaderMutations, unknown[]]>) {
    if (!v || v.length === 0) continue;
    into[k] = [...((into[k] as unknown[]) ?? []), ...v];
  }
}
