/**
 * istioctl proxy-config's tables, computed from an Envoy config dump (and /clusters for
 * endpoints): which rows, which columns, which filters. Pure functions: the command fetches,
 * these shape. Column names, cell texts and filter meanings follow istioctl's.
 */
import { X509Certificate } from 'node:crypto';
import type { EnvoyJson } from '../xds/types.ts';
import { dumpSection, type ConfigDump } from './proxy_config_source.ts';

export interface Table {
  header: string[];
  rows: string[][];
}

const HCM = 'envoy.filters.network.http_connection_manager';
const TCP_PROXY = 'envoy.filters.network.tcp_proxy';
const isHcm = (f: EnvoyJson) => f.name === HCM || String(f.typed_config?.['@type'] ?? '').endsWith('.HttpConnectionManager');
const isTcp = (f: EnvoyJson) => f.name === TCP_PROXY || String(f.typed_config?.['@type'] ?? '').endsWith('.TcpProxy');

/** Istio's config path in filter_metadata.istio.config → `<name>.<namespace>` (istioctl's describeManagement). */
export function describeManagement(metadata: EnvoyJson | undefined): string {
  const path = metadata?.filter_metadata?.istio?.config;
  if (typeof path !== 'string' || path === '') return '';
  const m = /^\/apis\/networking\.istio\.io\/[^/]+\/namespaces\/([^/]+)\/[^/]+\/([^/]+)$/.exec(path);
  return m ? `${m[2]}.${m[1]}` : '<unknown>';
}

// ---------------- clusters ----------------

export interface ClusterFilter {
  fqdn?: string;
  port?: number;
  subset?: string;
  direction?: string;
}

/** Dynamic active clusters then static ones, as istioctl lists them. */
export function dumpClusters(dump: ConfigDump): EnvoyJson[] {
  const s = dumpSection(dump, 'ClustersConfigDump');
  return [...(s?.dynamic_active_clusters ?? []), ...(s?.static_clusters ?? [])].map((c: EnvoyJson) => c.cluster).filter(Boolean);
}

/** `outbound|9080|v1|reviews.default.svc.cluster.local` → direction, port, subset, fqdn. */
export function parseClusterName(name: string): { direction: string; port: number; subset: string; fqdn: string } | undefined {
  const parts = name.split('|');
  if (parts.length < 4) return undefined;
  return { direction: parts[0]!, port: Number(parts[1]) || 0, subset: parts[2]!, fqdn: parts.slice(3).join('|') };
}

export function clusterMatches(c: EnvoyJson, f: ClusterFilter): boolean {
  const name = String(c.name ?? '');
  if (f.fqdn && !name.includes(f.fqdn)) return false;
  if (f.direction && !name.includes(f.direction)) return false;
  if (f.subset && !name.includes(f.subset)) return false;
  if (f.port && !name.includes(`|${f.port}|`)) return false;
  return true;
}

function clusterType(c: EnvoyJson): string {
  return c.type ?? (c.cluster_type?.name ? String(c.cluster_type.name) : 'STATIC');
}

export function sortedClusters(clusters: EnvoyJson[]): EnvoyJson[] {
  const key = (c: EnvoyJson) => parseClusterName(String(c.name)) ?? { direction: '', port: 0, subset: '', fqdn: String(c.name) };
  return [...clusters].sort((a, b) => {
    const x = key(a);
    const y = key(b);
    if (x.fqdn !== y.fqdn) return x.fqdn < y.fqdn ? -1 : 1;
    if (x.subset !== y.subset) return x.subset < y.subset ? -1 : 1;
    if (x.port !== y.port) return x.port - y.port;
    return x.direction < y.direction ? -1 : x.direction > y.direction ? 1 : 0;
  });
}

export function clusterTable(clusters: EnvoyJson[], f: ClusterFilter): Table {
  const rows = sortedClusters(clusters)
    .filter((c) => clusterMatches(c, f))
    .map((c) => {
      const p = parseClusterName(String(c.name));
      return p ? [p.fqdn, String(p.port), p.subset || '-', p.direction, clusterType(c), describeManagement(c.metadata)] : [String(c.name), '-', '-', '-', clusterType(c), describeManagement(c.metadata)];
    });
  return { header: ['SERVICE FQDN', 'PORT', 'SUBSET', 'DIRECTION', 'TYPE', 'DESTINATION RULE'], rows };
}

// ---------------- listeners ----------------

export interface ListenerFilter {
  address?: string;
  port?: number;
  type?: string;
}

export function dumpListeners(dump: ConfigDump): EnvoyJson[] {
  const s = dumpSection(dump, 'ListenersConfigDump');
  const dyn = (s?.dynamic_listeners ?? []).filter((l: EnvoyJson) => l.active_state?.listener).map((l: EnvoyJson) => l.active_state.listener);
  return [...dyn, ...(s?.static_listeners ?? []).map((l: EnvoyJson) => l.listener).filter(Boolean)];
}

function listenerAddresses(l: EnvoyJson): string[] {
  const main = l.address?.socket_address?.address ?? '';
  const extra = (l.additional_addresses ?? []).map((a: EnvoyJson) => a.address?.socket_address?.address).filter(Boolean);
  return [main, ...extra];
}
const listenerPort = (l: EnvoyJson): number => Number(l.address?.socket_address?.port_value ?? 0);

function filterChains(l: EnvoyJson): EnvoyJson[] {
  return [...(l.filter_chains ?? []), ...(l.default_filter_chain ? [l.default_filter_chain] : [])];
}

/** HTTP, TCP, HTTP+TCP or UNKNOWN (a tcp_proxy to the BlackHoleCluster does not count). */
export function listenerType(l: EnvoyJson): string {
  let http = 0;
  let tcp = 0;
  for (const fc of filterChains(l)) {
    for (const f of fc.filters ?? []) {
      if (isHcm(f)) http++;
      else if (isTcp(f) && f.typed_config?.cluster !== 'BlackHoleCluster') tcp++;
    }
  }
  if (http > 0) return tcp === 0 ? 'HTTP' : 'HTTP+TCP';
  return tcp > 0 ? 'TCP' : 'UNKNOWN';
}

export function listenerMatches(l: EnvoyJson, f: ListenerFilter): boolean {
  if (f.address && !listenerAddresses(l).some((a) => a.toLowerCase() === f.address!.toLowerCase())) return false;
  if (f.port && listenerPort(l) !== f.port) return false;
  if (f.type && listenerType(l).toLowerCase() !== f.type.toLowerCase()) return false;
  return true;
}

const PROTOCOL_NAMES: Array<[string, string[]]> = [
  ['App: HTTP TLS', ['http/1.0', 'http/1.1', 'h2c', 'istio-http/1.0', 'istio-http/1.1', 'istio-h2']],
  ['App: Istio HTTP Plain', ['istio', 'istio-http/1.0', 'istio-http/1.1', 'istio-h2']],
  ['App: TCP TLS', ['istio-peer-exchange', 'istio']],
  ['App: HTTP', ['http/1.0', 'http/1.1', 'h2c']],
];

function describeChainMatch(m: EnvoyJson | undefined): string {
  const match = m ?? {};
  const out: string[] = [];
  if (match.server_names?.length) out.push(`SNI: ${match.server_names.join(',')}`);
  if (match.transport_protocol) out.push(`Trans: ${match.transport_protocol}`);
  const apps: string[] = match.application_protocols ?? [];
  if (apps.length) out.push(PROTOCOL_NAMES.find(([, p]) => p.length === apps.length && p.every((x, i) => x === apps[i]))?.[0] ?? `App: ${apps.join(',')}`);
  const port = match.destination_port !== undefined ? `:${match.destination_port}` : '';
  if (match.prefix_ranges?.length) out.push(`Addr: ${match.prefix_ranges.map((p: EnvoyJson) => `${p.address_prefix}/${p.prefix_len ?? 0}`).join(',')}${port}`);
  else if (port) out.push(`Addr: *${port}`);
  return out.length ? out.join('; ') : 'ALL';
}

function describeDestination(filters: EnvoyJson[]): string {
  for (const f of filters) {
    if (isHcm(f)) {
      const hcm = f.typed_config ?? {};
      if (hcm.route_config) return describeInlineRoute(hcm.route_config);
      if (hcm.rds?.route_config_name) return `Route: ${hcm.rds.route_config_name}`;
      return 'HTTP';
    }
    if (isTcp(f) && f.typed_config?.cluster !== 'BlackHoleCluster') {
      const cluster = String(f.typed_config?.cluster ?? '');
      if (!cluster && f.typed_config?.weighted_clusters) return `WeightedCluster: ${(f.typed_config.weighted_clusters.clusters ?? []).map((c: EnvoyJson) => c.name).join(',')}`;
      return cluster.includes('Cluster') ? cluster : `Cluster: ${cluster}`;
    }
  }
  return 'Non-HTTP/Non-TCP';
}

function describeInlineRoute(rc: EnvoyJson): string {
  const vhs: EnvoyJson[] = rc.virtual_hosts ?? [];
  if (vhs.length === 1 && vhs[0]!.domains?.length === 1 && vhs[0]!.domains[0] === '*' && vhs[0]!.routes?.length === 1 && vhs[0]!.routes[0].match?.prefix === '/' && vhs[0]!.routes[0].route?.cluster) {
    const c = String(vhs[0]!.routes[0].route.cluster);
    return c.includes('Cluster') ? c : `Cluster: ${c}`;
  }
  const parts = vhs.map((vh) => {
    const domains = vh.domains?.length === 1 && vh.domains[0] === '*' ? '' : (vh.domains ?? []).join('/');
    const routes = (vh.routes ?? []).map((r: EnvoyJson) => describeMatch(r.match)).join(', ');
    return domains ? `${domains} ${routes}` : routes;
  });
  return `Inline Route: ${parts.join('; ')}`;
}

export function listenerTable(listeners: EnvoyJson[], f: ListenerFilter, verbose: boolean): Table {
  const picked = listeners.filter((l) => listenerMatches(l, f));
  picked.sort((a, b) => listenerPort(a) - listenerPort(b) || cmp(listenerAddresses(a).join(','), listenerAddresses(b).join(',')) || cmp(listenerType(a), listenerType(b)));
  if (!verbose) return { header: ['ADDRESSES', 'PORT', 'TYPE'], rows: picked.map((l) => [listenerAddresses(l).join(','), String(listenerPort(l)), listenerType(l)]) };
  const rows: string[][] = [];
  for (const l of picked) {
    const chains = filterChains(l).map((fc) => ({ match: describeChainMatch(fc.filter_chain_match), destination: describeDestination(fc.filters ?? []) }));
    chains.sort((a, b) => cmp(b.destination, a.destination));
    for (const c of chains) rows.push([listenerAddresses(l).join(','), String(listenerPort(l)), c.match, c.destination]);
  }
  return { header: ['ADDRESSES', 'PORT', 'MATCH', 'DESTINATION'], rows };
}

// ---------------- routes ----------------

export function dumpRoutes(dump: ConfigDump): EnvoyJson[] {
  const s = dumpSection(dump, 'RoutesConfigDump');
  const dyn = (s?.dynamic_route_configs ?? []).map((r: EnvoyJson) => r.route_config).filter(Boolean);
  const stat = (s?.static_route_configs ?? []).map((r: EnvoyJson) => r.route_config).filter(Boolean);
  // Numeric names (outbound ports) in numeric order, the others as they come (istioctl's sort).
  const all = [...dyn, ...stat];
  const numeric = all.filter((r) => /^\d+$/.test(String(r.name))).sort((a, b) => Number(a.name) - Number(b.name));
  return [...numeric, ...all.filter((r) => !/^\d+$/.test(String(r.name)))];
}

export function describeMatch(m: EnvoyJson | undefined): string {
  const out: string[] = [];
  if (m?.prefix !== undefined && m.prefix !== '') out.push(`${m.prefix}*`);
  if (m?.path_separated_prefix) out.push(`PathPrefix:${m.path_separated_prefix}`);
  if (m?.path) out.push(m.path);
  if (m?.safe_regex) out.push(`regex ${m.safe_regex.regex}`);
  return out.join(' ');
}

/** One domain, or the shortest non-port ones (at most two, "+ N more..."), as istioctl shows a virtual host's domains. */
export function describeRouteDomains(domains: string[] | undefined): string {
  if (!domains || domains.length === 0) return '';
  if (domains.length === 1) return domains[0]!;
  const noPort = domains.filter((d) => !d.includes(':') || (d.split(':').length > 3 && d.endsWith(']')));
  // An HTTP-proxy route's virtual hosts carry only host:port domains: shorten those instead.
  const candidates = noPort.length > 0 ? noPort : domains;
  const set = new Set(candidates);
  const strip = (d: string, suffix: string) => {
    const m = /^(.*?)(:\d+)?$/.exec(d)!;
    return m[1]!.endsWith(suffix) ? m[1]!.slice(0, -suffix.length) + (m[2] ?? '') : d;
  };
  const kept = candidates.filter((d) => {
    const full = strip(d, '.svc.cluster.local');
    const partial = strip(d, '.svc');
    return !((full !== d && set.has(full)) || (partial !== d && set.has(partial)));
  });
  if (kept.length > 2) return `${kept.slice(0, 2).join(', ')} + ${kept.length - 2} more...`;
  return kept.join(', ');
}

const isPassthrough = (r: EnvoyJson) => r.route?.cluster === 'PassthroughCluster';

export function routeTable(routes: EnvoyJson[], verbose: boolean): Table {
  if (!verbose) return { header: ['NAME', 'VIRTUAL HOSTS'], rows: routes.map((r) => [String(r.name ?? ''), String((r.virtual_hosts ?? []).length)]) };
  const rows: string[][] = [];
  for (const rc of routes) {
    for (const vh of rc.virtual_hosts ?? []) {
      for (const r of vh.routes ?? []) if (!isPassthrough(r)) rows.push([String(rc.name ?? ''), String(vh.name ?? ''), describeRouteDomains(vh.domains), describeMatch(r.match), describeManagement(r.metadata)]);
      if ((vh.routes ?? []).length === 0) rows.push([String(rc.name ?? ''), String(vh.name ?? ''), describeRouteDomains(vh.domains), '/*', '404']);
    }
  }
  return { header: ['NAME', 'VHOST NAME', 'DOMAINS', 'MATCH', 'VIRTUAL SERVICE'], rows };
}

/**
 * --name: the route configuration of that name. A sidecar that takes outbound HTTP as an HTTP
 * proxy (the demo's, interception NONE) has no per-port route "9080": Istio's port routes are
 * merged into one "http_proxy" route whose virtual hosts carry ":<port>" domains. For a port
 * name with no route of its own, that route narrowed to the port's virtual hosts is shown, with
 * a note saying so.
 */
export function selectRoutes(routes: EnvoyJson[], name: string | undefined): { routes: EnvoyJson[]; note?: string } {
  if (!name) return { routes };
  const exact = routes.filter((r) => r.name === name);
  if (exact.length > 0 || !/^\d+$/.test(name)) return { routes: exact };
  const narrowed = routes
    .filter((r) => r.name === 'http_proxy')
    .map((r) => ({ ...r, virtual_hosts: (r.virtual_hosts ?? []).filter((vh: EnvoyJson) => (vh.domains ?? []).some((d: string) => d.endsWith(`:${name}`))) }))
    .filter((r) => r.virtual_hosts.length > 0);
  if (narrowed.length === 0) return { routes: [] };
  return { routes: narrowed, note: `no route named ${name}: this proxy takes outbound HTTP as an HTTP proxy (route http_proxy, Istio's port routes merged); showing http_proxy's virtual hosts for port ${name}` };
}

// ---------------- endpoints ----------------

export interface EndpointFilter {
  address?: string;
  port?: number;
  cluster?: string;
  status?: string;
}

export interface EndpointRow {
  address: string;
  port: number;
  status: string;
  outlier: string;
  cluster: string;
}

/** From /clusters?format=json (what istioctl reads for endpoints). */
export function endpointsFromClusters(clusters: EnvoyJson): EndpointRow[] {
  const out: EndpointRow[] = [];
  for (const c of clusters.cluster_statuses ?? []) {
    for (const h of c.host_statuses ?? []) {
      const sa = h.address?.socket_address ?? {};
      const hs = h.health_status ?? {};
      const failed = hs.failed_active_health_check || hs.failed_outlier_check;
      out.push({ address: String(sa.address ?? h.address?.pipe?.path ?? ''), port: Number(sa.port_value ?? 0), status: failed && hs.eds_health_status === 'HEALTHY' ? 'UNHEALTHY' : String(hs.eds_health_status ?? 'HEALTHY'), outlier: hs.failed_outlier_check ? 'FAILED' : 'OK', cluster: String(c.name) });
    }
  }
  return out;
}

/** From a saved config dump's EndpointsConfigDump (a dump taken with ?include_eds). */
export function endpointsFromDump(dump: ConfigDump): EndpointRow[] {
  const s = dumpSection(dump, 'EndpointsConfigDump');
  const out: EndpointRow[] = [];
  for (const e of [...(s?.dynamic_endpoint_configs ?? []), ...(s?.static_endpoint_configs ?? [])]) {
    const cla = e.endpoint_config ?? {};
    for (const group of cla.endpoints ?? []) {
      for (const lb of group.lb_endpoints ?? []) {
        const sa = lb.endpoint?.address?.socket_address ?? {};
        out.push({ address: String(sa.address ?? ''), port: Number(sa.port_value ?? 0), status: String(lb.health_status ?? 'HEALTHY'), outlier: 'OK', cluster: String(cla.cluster_name ?? '') });
      }
    }
  }
  return out;
}

export function endpointMatches(e: EndpointRow, f: EndpointFilter): boolean {
  if (f.address && e.address !== f.address) return false;
  if (f.port && e.port !== f.port) return false;
  if (f.cluster && e.cluster !== f.cluster) return false;
  if (f.status && e.status.toLowerCase() !== f.status.toLowerCase()) return false;
  return true;
}

export function endpointTable(rows: EndpointRow[], f: EndpointFilter): Table {
  const picked = rows.filter((e) => endpointMatches(e, f)).sort((a, b) => cmp(a.cluster, b.cluster) || cmp(a.address, b.address) || a.port - b.port);
  return { header: ['ENDPOINT', 'STATUS', 'OUTLIER CHECK', 'CLUSTER'], rows: picked.map((e) => [`${e.address}:${e.port}`, e.status, e.outlier, e.cluster]) };
}

// ---------------- secrets ----------------

function pemOf(ds: EnvoyJson | undefined): string | undefined {
  if (!ds) return undefined;
  if (typeof ds.inline_string === 'string') return ds.inline_string;
  if (typeof ds.inline_bytes === 'string') return Buffer.from(ds.inline_bytes, 'base64').toString('utf8');
  return undefined;
}

/** RFC 3339 without fractions, as Go prints a time.Time. */
const rfc3339 = (d: Date) => d.toISOString().replace(/\.\d{3}Z$/, 'Z');

export function secretTable(dump: ConfigDump, now = new Date()): Table {
  const s = dumpSection(dump, 'SecretsConfigDump');
  const entries: Array<{ name: string; status: string; secret: EnvoyJson }> = [
    ...(s?.dynamic_active_secrets ?? []).map((x: EnvoyJson) => ({ name: x.name, status: 'ACTIVE', secret: x.secret })),
    ...(s?.dynamic_warming_secrets ?? []).map((x: EnvoyJson) => ({ name: x.name, status: 'WARMING', secret: x.secret })),
    ...(s?.static_secrets ?? []).map((x: EnvoyJson) => ({ name: x.name, status: 'ACTIVE', secret: x.secret })),
  ];
  const rows = entries.map((e) => {
    const isCa = !!e.secret?.validation_context;
    const pem = isCa ? pemOf(e.secret.validation_context.trusted_ca) : pemOf(e.secret?.tls_certificate?.certificate_chain);
    const type = isCa ? 'CA' : 'Cert Chain';
    if (!pem) return [String(e.name), type, e.status, 'false', '', '', ''];
    try {
      const cert = new X509Certificate(pem);
      const notAfter = new Date(cert.validTo);
      const notBefore = new Date(cert.validFrom);
      const valid = now >= notBefore && now <= notAfter;
      return [String(e.name), type, e.status, String(valid), BigInt(`0x${cert.serialNumber}`).toString(), rfc3339(notAfter), rfc3339(notBefore)];
    } catch {
      return [String(e.name), type, e.status, 'false', '', '', ''];
    }
  });
  return { header: ['RESOURCE NAME', 'TYPE', 'STATUS', 'VALID CERT', 'SERIAL NUMBER', 'NOT AFTER', 'NOT BEFORE'], rows };
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
