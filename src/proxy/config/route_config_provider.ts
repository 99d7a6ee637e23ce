/**
 * Route configurations by name (Envoy's RouteConfigProviderManager): dynamic ones from RDS,
 * inline ones (HttpConnectionManager.route_config) registered as static when a listener is
 * built. Each is compiled when it is set (it was validated by compiling it before it was
 * ACKed), so the HTTP connection manager's per-stream `get(name)` finds the compilation cached
 * and never compiles on a request; the listener manager waits for the RDS names a listener
 * needs (warming).
 */
import type { EnvoyJson } from '../../xds/types.ts';
import type { RouteConfigProvider } from '../interfaces.ts';
import { compileRouteConfig, type CompiledRouteConfig } from '../http/router/route_config.ts';
import { NETWORK_FILTER } from '../../xds/type_urls.ts';

export interface RouteEntry {
  resource: EnvoyJson;
  compiled: CompiledRouteConfig;
  version: string;
  lastUpdated: string;
  isStatic: boolean;
}

export class RouteConfigProviderImpl implements RouteConfigProvider {
  readonly routes = new Map<string, RouteEntry>();
  private readonly handlers = new Set<(name: string) => void>();

  get(name: string): EnvoyJson | undefined {
    return this.routes.get(name)?.resource;
  }

  /** The compiled configuration (what the router matches with). */
  compiled(name: string): CompiledRouteConfig | undefined {
    return this.routes.get(name)?.compiled;
  }

  has(name: string): boolean {
    return this.routes.has(name);
  }

  onChange(handler: (name: string) => void): () => void {
    this.handlers.add(handler);
    return () => this.handlers.delete(handler);
  }

  set(name: string, resource: EnvoyJson, version: string, isStatic = false): void {
    const prev = this.routes.get(name);
    if (prev && JSON.stringify(prev.resource) === JSON.stringify(resource)) {
      prev.version = version;
      return;
    }
    // Cached by object: the validation that ACKed `resource` compiled this same object.
    const compiled = compileRouteConfig(resource);
    this.routes.set(name, { resource, compiled, version, lastUpdated: new Date().toISOString(), isStatic });
    for (const h of this.handlers) h(name);
  }

  remove(name: string): void {
    if (this.routes.get(name)?.isStatic) return;
    if (this.routes.delete(name)) for (const h of this.handlers) h(name);
  }
}

export const HCM_TYPE = NETWORK_FILTER.HTTP_CONNECTION_MANAGER;

/** RDS names a listener's HTTP connection managers subscribe to. */
export function rdsNamesOfListener(listener: EnvoyJson): string[] {
  const out = new Set<string>();
  const chains = [...(listener.filter_chains ?? []), ...(listener.default_filter_chain ? [listener.default_filter_chain] : [])];
  for (const fc of chains) {
    for (const f of fc.filters ?? []) {
      const tc = f.typed_config;
      if (tc?.['@type'] === HCM_TYPE && tc.rds?.route_config_name) out.add(tc.rds.route_config_name);
    }
  }
  return [...out];
}

/** Inline route configs of a listener's HTTP connection managers. */
export function inlineRoutesOfListener(listener: EnvoyJson): EnvoyJson[] {
  const out: EnvoyJson[] = [];
  const chains = [...(listener.filter_chains ?? []), ...(listener.default_filter_chain ? [listener.default_filter_chain] : [])];
  for (const fc of chains) for (const f of fc.filters ?? []) if (f.typed_config?.['@type'] === HCM_TYPE && f.typed_config.route_config) out.push(f.typed_config.route_config);
  return out;
}
