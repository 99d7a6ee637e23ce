/**
 * HTTP filter registry keyed by type URL (and by Envoy's well-known filter name, for configs that
 * still use names), as Envoy's and grpc-js-xds's registries are. The built-in filters are in it
 * from the start (static imports, builtin.ts). The HCM looks each http_filters entry up here once
 * per config; unknown non-optional filters reject the config (NACK). Route configurations compile
 * their typed_per_filter_config here too, so a bad per-route config is rejected with the route.
 */
import type { HttpFilterFactory } from '../../interfaces.ts';
import type { EnvoyJson } from '../../../xds/types.ts';
import { HTTP_FILTER, TYPED_STRUCT } from '../../../xds/type_urls.ts';
import { ERR, TsmeshError } from '../../../api/errors.ts';
import { BUILTIN_HTTP_FILTERS } from './builtin.ts';

const byType = new Map<string, HttpFilterFactory>();
const byName = new Map<string, HttpFilterFactory>();
/** Per-route config type URL -> the factory that compiles it. */
const byRouteType = new Map<string, HttpFilterFactory>();

export const TYPED_STRUCT_URLS: ReadonlySet<string> = new Set(TYPED_STRUCT);

/** Registers a factory under its type URL and, optionally, Envoy's canonical filter name. */
export function registerHttpFilter(typeUrl: string, factory: HttpFilterFactory, name?: string, perRouteTypeUrls: readonly string[] = []): void {
  byType.set(typeUrl, factory);
  if (name) byName.set(name, factory);
  for (const t of perRouteTypeUrls) byRouteType.set(t, factory);
}

for (const f of BUILTIN_HTTP_FILTERS) registerHttpFilter(f.typeUrl, f.factory, f.name, f.perRouteTypeUrls);

export function httpFilterFactory(typeUrl: string): HttpFilterFactory | undefined {
  return byType.get(typeUrl);
}

/** TypedStruct-wrapped configs become {'@type': inner, ...fields}. */
function unwrap(config: EnvoyJson): EnvoyJson {
  const t = config['@type'];
  if (t && TYPED_STRUCT_URLS.has(t)) return { '@type': config.type_url, ...(config.value ?? {}) };
  return config;
}

/**
 * Resolves one HttpFilter entry ({name, typed_config, is_optional, disabled}) to its factory and
 * the config to give it (TypedStruct unwrapped). undefined means "skip this filter".
 */
export function resolveHttpFilter(entry: EnvoyJson): { factory: HttpFilterFactory; config: EnvoyJson } | undefined {
  if (entry.disabled === true) return undefined;
  const config = unwrap(entry.typed_config ?? {});
  const typeUrl: string | undefined = config['@type'];
  const factory = (typeUrl ? byType.get(typeUrl) : undefined) ?? byName.get(String(entry.name ?? ''));
  if (!factory) {
    if (entry.is_optional === true) return undefined;
    throw new Error(`http filter ${entry.name ?? '?'}: unsupported type ${typeUrl ?? '(none)'}`);
  }
  return { factory, config };
}

const compiledMaps = new WeakMap<EnvoyJson, ReadonlyMap<string, unknown>>();
const EMPTY: ReadonlyMap<string, unknown> = new Map();

/**
 * Compiles a typed_per_filter_config map (filter name -> Any, possibly wrapped in route.v3
 * FilterConfig) with each filter's routeConfig(). A value no registered filter understands is
 * rejected unless marked is_optional; `path` names the field in errors. Cached per map object, so a
 * virtual host's map compiles once for all its routes.
 */
export function compilePerFilterConfigs(map: EnvoyJson | undefined, path: string): ReadonlyMap<string, unknown> {
  if (!map) return EMPTY;
  const hit = compiledMaps.get(map);
  if (hit) return hit;
  const out = new Map<string, unknown>();
  for (const [name, raw] of Object.entries(map as Record<string, EnvoyJson>)) {
    let value = unwrap(raw ?? {});
    let optional = false;
    if (value['@type'] === HTTP_FILTER.ROUTE_FILTER_CONFIG) {
      optional = value.is_optional === true;
      if (value.disabled === true) continue;
      value = unwrap(value.config ?? {});
    }
    const typeUrl = String(value['@type'] ?? '');
    const factory = byRouteType.get(typeUrl);
    if (!factory?.routeConfig) {
      if (optional) continue;
      throw new TsmeshError(ERR.UNSUPPORTED_FIELD, `${path}.${name}: per-route config of type ${typeUrl || '(none)'} is not supported`);
    }
    try {
      out.set(name, factory.routeConfig(value));
    } catch (e) {
      const err = e as Error & { code?: string };
      throw err.code ? Object.assign(err, { message: `${path}.${name}: ${err.message}` }) : new Error(`${path}.${name}: ${err.message}`);
    }
  }
  compiledMaps.set(map, out);
  return out;
}

export function registeredHttpFilters(): string[] {
  return [...byType.keys()].sort();
}
