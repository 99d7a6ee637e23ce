/**
 * go-control-plane's snapshot consistency check for one proxy's full set of resources: every
 * EDS name a cluster uses has a ClusterLoadAssignment, every RDS name a listener uses has a
 * RouteConfiguration, and every cluster a listener or route sends to exists.
 */
import type { EnvoyJson, NamedResource } from '../xds/types.ts';
import { HCM_TYPE } from './listener/filters.ts';

export interface ResourceSet {
  clusters: NamedResource[];
  endpoints: NamedResource[];
  listeners: NamedResource[];
  routes: NamedResource[];
}

/** Problems found, one line each; empty when consistent. */
export function checkConsistency(set: ResourceSet): string[] {
  const errors: string[] = [];
  const clusterNames = new Set(set.clusters.map((c) => c.name));
  const endpointNames = new Set(set.endpoints.map((e) => e.name));
  const routeNames = new Set(set.routes.map((r) => r.name));
  for (const { name, resource } of set.clusters) {
    if (resource.type !== 'EDS') continue;
    const eds = resource.eds_cluster_config?.service_name ?? name;
    if (!endpointNames.has(eds)) errors.push(`cluster ${name}: EDS resource ${eds} missing`);
  }
  for (const { name, resource } of set.listeners) {
    for (const r of listenerRouteNames([resource])) if (!routeNames.has(r)) errors.push(`listener ${name}: route configuration ${r} missing`);
    for (const c of referencedClusters(resource)) if (!clusterNames.has(c)) errors.push(`listener ${name}: cluster ${c} missing`);
  }
  for (const { name, resource } of set.routes) {
    for (const c of referencedClusters(resource)) if (!clusterNames.has(c)) errors.push(`route ${name}: cluster ${c} missing`);
  }
  return errors;
}

/** RDS names used by listeners (filter chains and gRPC API listeners). */
export function listenerRouteNames(listeners: EnvoyJson[]): string[] {
  const out: string[] = [];
  const visit = (hcm: EnvoyJson | undefined) => {
    if (hcm?.['@type'] === HCM_TYPE && hcm.rds?.route_config_name !== undefined) out.push(hcm.rds.route_config_name);
  };
  for (const l of listeners) {
    visit(l.api_listener?.api_listener);
    for (const fc of [...(l.filter_chains ?? []), ...(l.default_filter_chain ? [l.default_filter_chain] : [])]) {
      for (const f of fc.filters ?? []) visit(f.typed_config);
    }
  }
  return out;
}

/** Every `cluster` / weighted cluster `name` under a resource (tcp_proxy, inline or RDS routes). */
export function referencedClusters(resource: unknown): string[] {
  const out = new Set<string>();
  const walk = (v: unknown, key?: string): void => {
    if (Array.isArray(v)) {
      for (const x of v) walk(x, key);
      return;
    }
    if (!v || typeof v !== 'object') return;
    const o = v as Record<string, unknown>;
    if (typeof o.cluster === 'string') out.add(o.cluster);
    if (key === 'clusters') {
      if (typeof o.name === 'string') out.add(o.name);
    }
    for (const [k, x] of Object.entries(o)) if (k !== 'cluster') walk(x, k);
  };
  walk(resource);
  return [...out].sort();
}
