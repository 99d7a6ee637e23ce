/**
 * HTTP filter registry keyed by type URL (and by Envoy's well-known filter name, for configs that
 * still use names), as Envoy's and grpc-js-xds's registries are. The HCM looks each http_filters
 * entry up here once per config; unknown non-optional filters reject the config (NACK).
 */
import type { HttpFilterFactory } from '../../interfaces.ts';
import type { EnvoyJson } from '../../../xds/types.ts';

const byType = new Map<string, HttpFilterFactory>();
const byName = new Map<string, HttpFilterFactory>();

export const TYPED_STRUCT_URLS = new Set(['type.googleapis.com/udpa.type.v1.TypedStruct', 'type.googleapis.com/xds.type.v3.TypedStruct']);

/** Registers a factory under its type URL and, optionally, Envoy's canonical filter name. */
export function registerHttpFilter(typeUrl: string, factory: HttpFilterFactory, name?: string): void {
  byType.set(typeUrl, factory);
  if (name) byName.set(name, factory);
}

export function httpFilterFactory(typeUrl: string): HttpFilterFactory | undefined {
  return byType.get(typeUrl);
}

/**
 * Resolves one HttpFilter entry ({name, typed_config, is_optional, disabled}) to its factory and
 * the config to give it (TypedStruct unwrapped). undefined means "skip this filter".
 */
export function resolveHttpFilter(entry: EnvoyJson): { factory: HttpFilterFactory; config: EnvoyJson } | undefined {
  if (entry.disabled === true) return undefined;
  let config: EnvoyJson = entry.typed_config ?? {};
  let typeUrl: string | undefined = config['@type'];
  if (typeUrl && TYPED_STRUCT_URLS.has(typeUrl)) {
    typeUrl = config.type_url;
    config = { '@type': typeUrl, ...(config.value ?? {}) };
  }
  const factory = (typeUrl ? byType.get(typeUrl) : undefined) ?? byName.get(String(entry.name ?? ''));
  if (!factory) {
    if (entry.is_optional === true) return undefined;
    throw new Error(`http filter ${entry.name ?? '?'}: unsupported type ${typeUrl ?? '(none)'}`);
  }
  return { factory, config };
}

export function registeredHttpFilters(): string[] {
  return [...byType.keys()].sort();
}
