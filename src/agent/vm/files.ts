/**
 * The files a VM needs to join the mesh, as `istioctl x workload entry configure` writes them from
 * a WorkloadGroup: cluster.env (the agent's ISTIO_META_* environment), mesh.yaml (ProxyConfig with
 * the discovery address and the group's readiness probe), root-cert.pem, istio-token and hosts (the
 * control plane's name → address). `tsmesh vm bootstrap` writes them, `tsmesh sidecar` reads them.
 */
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import type { ReadinessProbe } from '../health/probe.ts';

export const VM_FILES = { clusterEnv: 'cluster.env', mesh: 'mesh.yaml', rootCert: 'root-cert.pem', token: 'istio-token', hosts: 'hosts' } as const;

/** istiod's name, which the hosts file maps to the control plane's address (and the CA's certificate names). */
export const ISTIOD_HOST = 'istiod.istio-system.svc';
/**
 * Never captured as inbound (Istio's ISTIO_LOCAL_EXCLUDE_PORTS, as istioctl writes it): SSH, so a
 * VM whose group has no ports (ISTIO_INBOUND_PORTS='*') stays reachable, and the ports the agent
 * and proxy themselves serve.
 */
export const LOCAL_EXCLUDE_PORTS = '22,15090,15021,15020';

/** What a WorkloadGroup gives the VM (already validated as Istio config). */
export interface GroupSpec {
  name: string;
  namespace: string;
  /** metadata.labels over template.labels. */
  labels: Record<string, string>;
  serviceAccount: string;
  network?: string;
  ports?: Record<string, number>;
  probe?: ReadinessProbe;
}

export interface VmFileOptions {
  group: GroupSpec;
  /** Control plane address (the hosts entry for istiod). */
  address: string;
  xdsPort: number;
  caPort: number;
  clusterId: string;
  meshId?: string;
  trustDomain: string;
  revision?: string;
  /** ISTIO_META_DNS_CAPTURE: the VM's DNS goes to the agent's DNS proxy (istioctl's --capture-dns, default true). */
  captureDns?: boolean;
  /** ISTIO_META_AUTO_REGISTER_GROUP (default true; istioctl's --autoregister). */
  autoRegister?: boolean;
}

/** Istio's canonical service/revision: the well-known labels, else the group's name and "latest". */
function canonical(g: GroupSpec): { service: string; revision: string } {
  const l = g.labels;
  return {
    service: l['service.istio.io/canonical-name'] ?? l['app.kubernetes.io/name'] ?? l.app ?? g.name,
    revision: l['service.istio.io/canonical-revision'] ?? l['app.kubernetes.io/version'] ?? l.version ?? 'latest',
  };
}

/** cluster.env: the environment Istio's VM agent starts from, one KEY='value' a line, sorted. */
export function clusterEnv(o: VmFileOptions): string {
  const g = o.group;
  const c = canonical(g);
  const env: Record<string, string> = {
    CANONICAL_REVISION: c.revision,
    CANONICAL_SERVICE: c.service,
    ISTIO_INBOUND_PORTS: g.ports && Object.keys(g.ports).length ? [...new Set(Object.values(g.ports))].sort((a, b) => a - b).join(',') : '*',
    ISTIO_LOCAL_EXCLUDE_PORTS: LOCAL_EXCLUDE_PORTS,
    ISTIO_METAJSON_LABELS: JSON.stringify(g.labels),
    ISTIO_META_CLUSTER_ID: o.clusterId,
    ISTIO_META_MESH_ID: o.meshId ?? o.trustDomain,
    ISTIO_META_NETWORK: g.network ?? '',
    ISTIO_META_WORKLOAD_NAME: g.name,
    ISTIO_NAMESPACE: g.namespace,
    ISTIO_SERVICE: `${c.service}.${g.namespace}`,
    ISTIO_SERVICE_CIDR: '*',
    POD_NAMESPACE: g.namespace,
    SERVICE_ACCOUNT: g.serviceAccount,
    TRUST_DOMAIN: o.trustDomain,
    ...(o.revision ? { ISTIO_META_REVISION: o.revision } : {}),
    ...(o.captureDns !== false ? { ISTIO_META_DNS_CAPTURE: 'true' } : {}),
    ...(o.autoRegister !== false ? { ISTIO_META_AUTO_REGISTER_GROUP: g.name } : {}),
  };
  return Object.keys(env)
    .sort()
    .map((k) => `${k}=${shellQuote(env[k]!)}`)
    .join('\n') + '\n';
}

/** mesh.yaml: the ProxyConfig (defaultConfig) a VM's agent reads. */
export function meshYaml(o: VmFileOptions): string {
  const defaultConfig: Record<string, unknown> = {
    discoveryAddress: `${ISTIOD_HOST}:${o.xdsPort}`,
    meshId: o.meshId ?? o.trustDomain,
    proxyMetadata: { CA_ADDR: `${ISTIOD_HOST}:${o.caPort}` },
    ...(o.group.probe ? { readinessProbe: o.group.probe } : {}),
  };
  return stringifyYaml({ defaultConfig });
}

export function hostsFile(o: VmFileOptions): string {
  return `${o.address} ${ISTIOD_HOST}\n`;
}

/** 'value' with single quotes escaped the shell's way (cluster.env is sourced by a shell on Istio's VMs). */
function shellQuote(v: string): string {
  return `'${v.replace(/'/g, `'\\''`)}'`;
}

/** Reads cluster.env back: KEY=value lines, single- or double-quoted or bare; # comments. */
export function parseClusterEnv(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const m = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
    if (!m) throw new Error(`cluster.env: cannot read line ${JSON.stringify(raw)} (expected KEY=value)`);
    out[m[1]!] = unquote(m[2]!);
  }
  return out;
}

function unquote(v: string): string {
  let out = '';
  let i = 0;
  while (i < v.length) {
    const ch = v[i]!;
    if (ch === "'") {
      const end = v.indexOf("'", i + 1);
      if (end < 0) throw new Error(`cluster.env: unterminated quote in ${v}`);
      out += v.slice(i + 1, end);
      i = end + 1;
    } else if (ch === '"') {
      const end = v.indexOf('"', i + 1);
      if (end < 0) throw new Error(`cluster.env: unterminated quote in ${v}`);
      out += v.slice(i + 1, end);
      i = end + 1;
    } else if (ch === '\\' && i + 1 < v.length) {
      out += v[i + 1];
      i += 2;
    } else {
      out += ch;
      i++;
    }
  }
  return out;
}

/** mesh.yaml's defaultConfig (ProxyConfig), or {} when it has none. */
export function parseMeshProxyConfig(text: string): { discoveryAddress?: string; meshId?: string; proxyMetadata?: Record<string, string>; readinessProbe?: ReadinessProbe } {
  const doc = parseYaml(text) as unknown;
  if (doc === null || doc === undefined) return {};
  if (typeof doc !== 'object' || Array.isArray(doc)) throw new Error('mesh.yaml: expected a mesh config object');
  const dc = (doc as Record<string, unknown>).defaultConfig;
  if (dc === undefined) return {};
  if (typeof dc !== 'object' || dc === null || Array.isArray(dc)) throw new Error('mesh.yaml: defaultConfig: expected an object');
  return dc as ReturnType<typeof parseMeshProxyConfig>;
}

/** The hosts file: name → first address. */
export function parseHosts(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const raw of text.split('\n')) {
    const [addr, ...names] = raw.replace(/#.*/, '').trim().split(/\s+/);
    if (!addr || names.length === 0) continue;
    for (const n of names) if (!out.has(n)) out.set(n, addr);
  }
  return out;
}
