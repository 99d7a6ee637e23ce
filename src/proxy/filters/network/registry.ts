/**
 * Network filter factories keyed by the typed_config type URL (Envoy's NamedNetworkFilterConfigFactory).
 * tcp_proxy registers here; the HTTP side registers the http_connection_manager. The listener
 * config validator asks `has()` so an unknown filter NACKs instead of failing at accept time.
 */
import type { NetworkFilterFactory } from '../../interfaces.ts';
import { TYPE_URL_PREFIX, TYPED_STRUCT } from '../../../xds/type_urls.ts';

const factories = new Map<string, NetworkFilterFactory>();

const PREFIX = TYPE_URL_PREFIX;

function key(typeUrl: string): string {
  return typeUrl.startsWith(PREFIX) ? typeUrl : PREFIX + typeUrl;
}

/** Registers a factory for a type URL (with or without the type.googleapis.com/ prefix). */
export function registerNetworkFilter(typeUrl: string, factory: NetworkFilterFactory): void {
  factories.set(key(typeUrl), factory);
}

export function networkFilterFactory(typeUrl: string): NetworkFilterFactory | undefined {
  return factories.get(key(typeUrl));
}

export function registeredNetworkFilters(): string[] {
  return [...factories.keys()].sort();
}

/**
 * TypedStruct-wrapped configs (how Istio's pilot sends Istio's own filters, e.g.
 * istio.metadata_exchange and istio.stats): unwrapped and handed to the factory its type_url names.
 */
const typedStructFactory: NetworkFilterFactory = {
  create(config, ctx) {
    const inner = String(config.type_url ?? '');
    const factory = inner ? factories.get(key(inner)) : undefined;
    if (!factory || factory === typedStructFactory) throw new Error(`unknown network filter type ${inner || '(TypedStruct without type_url)'}`);
    return factory.create({ '@type': key(inner), ...(config.value ?? {}) }, ctx);
  },
};
for (const t of TYPED_STRUCT) registerNetworkFilter(t, typedStructFactory);
