/**
 * /config_dump in Envoy's shape (envoy.admin.v3.*ConfigDump messages with "@type"), so
 * istioctl-style tooling and humans who know Envoy read it as they would Envoy's: bootstrap,
 * clusters (static / dynamic active / warming), listeners (static / dynamic with active, warming
 * and draining state), routes, secrets (private keys redacted) and, with ?include_eds, endpoints.
 */
import { TYPE, type EnvoyJson } from '../../xds/types.ts';
import type { ProxyServer } from '../server.ts';
import { ADMIN_PREFIX } from '../../xds/type_urls.ts';

const ADMIN = ADMIN_PREFIX;

function typed(typeUrl: string, r: EnvoyJson): EnvoyJson {
  const { '@type': _t, ...rest } = r;
  return { '@type': typeUrl, ...rest };
}

function redact(o: unknown): unknown {
  if (Array.isArray(o)) return o.map(redact);
  if (!o || typeof o !== 'object') return o;
  const out: EnvoyJson = {};
  for (const [k, v] of Object.entries(o)) out[k] = k === 'private_key' ? { inline_string: '[redacted]' } : redact(v);
  return out;
}

export function clustersDump(s: ProxyServer): EnvoyJson {
  const cm = s.clusters;
  const out: EnvoyJson = { '@type': ADMIN + 'ClustersConfigDump', version_info: s.xds.versions.get(TYPE.CLUSTER) ?? '', static_clusters: [], dynamic_active_clusters: [], dynamic_warming_clusters: [] };
  for (const [name, e] of [...cm.entries].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const cluster = typed(TYPE.CLUSTER, e.config);
    if (e.isStatic) out.static_clusters.push({ cluster, last_updated: e.lastUpdated });
    else if (cm.active.has(name) && !cm.warming.has(name)) out.dynamic_active_clusters.push({ version_info: e.version, cluster, last_updated: e.lastUpdated });
    else out.dynamic_warming_clusters.push({ version_info: e.version, cluster, last_updated: e.lastUpdated });
  }
  return out;
}

export function listenersDump(s: ProxyServer): EnvoyJson {
  const lm = s.listeners;
  const dyn = s.xds.dynamic.get(TYPE.LISTENER);
  const out: EnvoyJson = { '@type': ADMIN + 'ListenersConfigDump', version_info: s.xds.versions.get(TYPE.LISTENER) ?? '', static_listeners: [], dynamic_listeners: [] };
  const names = [...new Set([...lm.active.keys(), ...lm.warming.keys()])].sort();
  for (const name of names) {
    const a = lm.active.get(name);
    const w = lm.warming.get(name);
    if (a && !dyn?.has(name) && !w) {
      out.static_listeners.push({ listener: typed(TYPE.LISTENER, a.config), last_updated: a.lastUpdated });
      continue;
    }
    const entry: EnvoyJson = { name };
    if (a) entry.active_state = { version_info: a.version, listener: typed(TYPE.LISTENER, a.config), last_updated: a.lastUpdated };
    if (w) entry.warming_state = { version_info: w.version, listener: typed(TYPE.LISTENER, w.config), last_updated: w.lastUpdated };
    out.dynamic_listeners.push(entry);
  }
  return out;
}

export function routesDump(s: ProxyServer): EnvoyJson {
  const out: EnvoyJson = { '@type': ADMIN + 'RoutesConfigDump', static_route_configs: [], dynamic_route_configs: [] };
  for (const [, e] of [...s.routes.routes].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const route_config = typed(TYPE.ROUTE, e.resource);
    if (e.isStatic) out.static_route_configs.push({ route_config, last_updated: e.lastUpdated });
    else out.dynamic_route_configs.push({ version_info: e.version, route_config, last_updated: e.lastUpdated });
  }
  return out;
}

export function secretsDump(s: ProxyServer): EnvoyJson {
  const out: EnvoyJson = { '@type': ADMIN + 'SecretsConfigDump', static_secrets: [], dynamic_active_secrets: [], dynamic_warming_secrets: [] };
  for (const [name, e] of [...s.secrets.secrets].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const secret = redact(typed(TYPE.SECRET, e.resource));
    if (e.isStatic) out.static_secrets.push({ name, last_updated: e.lastUpdated, secret });
    else out.dynamic_active_secrets.push({ name, version_info: e.version, last_updated: e.lastUpdated, secret });
  }
  return out;
}

export function endpointsDump(s: ProxyServer): EnvoyJson {
  const out: EnvoyJson = { '@type': ADMIN + 'EndpointsConfigDump', static_endpoint_configs: [], dynamic_endpoint_configs: [] };
  for (const e of [...s.clusters.entries.values()].filter((x) => x.isStatic && x.config.load_assignment)) {
    out.static_endpoint_configs.push({ endpoint_config: typed(TYPE.ENDPOINT, e.config.load_assignment), last_updated: e.lastUpdated });
  }
  for (const [, e] of [...s.clusters.endpoints].sort(([a], [b]) => (a < b ? -1 : 1))) {
    out.dynamic_endpoint_configs.push({ version_info: e.version, endpoint_config: typed(TYPE.ENDPOINT, e.resource), last_updated: e.lastUpdated });
  }
  return out;
}

export function bootstrapDump(s: ProxyServer): EnvoyJson {
  return { '@type': ADMIN + 'BootstrapConfigDump', bootstrap: redact(s.opts.bootstrap.bootstrap), last_updated: new Date(s.startTime).toISOString() };
}

/** The whole dump; `resource` narrows to one field of one dump (Envoy's ?resource=). */
export function configDump(s: ProxyServer, q: URLSearchParams): EnvoyJson {
  const configs = [bootstrapDump(s), clustersDump(s), listenersDump(s), routesDump(s), secretsDump(s)];
  if (q.has('include_eds')) configs.splice(2, 0, endpointsDump(s));
  const resource = q.get('resource');
  if (resource) {
    const items: EnvoyJson[] = [];
    for (const c of configs) if (Array.isArray(c[resource])) items.push(...c[resource]);
    return { configs: items };
  }
  return { configs };
}
