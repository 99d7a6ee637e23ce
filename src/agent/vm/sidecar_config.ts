/**
 * From the files `tsmesh vm bootstrap` wrote (cluster.env, mesh.yaml, hosts, root-cert.pem,
 * istio-token) to what the VM's sidecar runs: the Envoy bootstrap (node metadata as Istio's agent
 * builds it from ISTIO_META_* — AUTO_REGISTER_GROUP, LABELS, NETWORK, PROXY_CONFIG with the
 * readiness probe), the agent's CA address, and the capture settings (ISTIO_INBOUND_PORTS, ...).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildBootstrap } from '../bootstrap.ts';
import type { EnvoyJson } from '../../xds/types.ts';
import { probeProblem } from '../health/probe.ts';
import { LOCAL_EXCLUDE_PORTS, parseClusterEnv, parseHosts, parseMeshProxyConfig, VM_FILES } from './files.ts';

export interface VmSidecarConfig {
  bootstrap: EnvoyJson;
  namespace: string;
  serviceAccount: string;
  trustDomain: string;
  /** The CA (host:port, the hosts file applied). */
  caAddress: string;
  tokenFile: string;
  rootCertFile: string;
  /**
   * For `tsmesh init`'s rules: Istio's ISTIO_INBOUND_PORTS, ISTIO_LOCAL_EXCLUDE_PORTS,
   * ISTIO_SERVICE_CIDR, and whether DNS goes to the agent (ISTIO_META_DNS_CAPTURE).
   */
  capture: { inboundPorts: string; localExcludePorts: string; serviceCidr: string; dnsCapture: boolean };
}

export interface VmSidecarOptions {
  configDir: string;
  /** The VM's address (INSTANCE_IPS). */
  ip: string;
  podName: string;
  adminPort: number;
  sdsSocket: string;
  interception: 'REDIRECT' | 'NONE';
}

/** "host:port" with the host looked up in the hosts file (the VM's /etc/hosts may not have it). */
function resolveAddress(address: string, hosts: Map<string, string>, what: string): string {
  const m = /^(\[[^\]]+\]|[^:]+):(\d+)$/.exec(address);
  if (!m) throw new Error(`${what}: expected host:port, got ${JSON.stringify(address)}`);
  const host = m[1]!;
  const ip = hosts.get(host);
  if (ip) return `${ip.includes(':') ? `[${ip}]` : ip}:${m[2]}`;
  return address;
}

export function readVmSidecarConfig(o: VmSidecarOptions): VmSidecarConfig {
  const file = (f: string) => join(o.configDir, f);
  for (const f of Object.values(VM_FILES)) if (!existsSync(file(f))) throw new Error(`${file(f)} is missing: write the VM's files with tsmesh vm bootstrap --workload-group <file> -o ${o.configDir}`);
  const env = parseClusterEnv(readFileSync(file(VM_FILES.clusterEnv), 'utf8'));
  const pc = parseMeshProxyConfig(readFileSync(file(VM_FILES.mesh), 'utf8'));
  const hosts = parseHosts(readFileSync(file(VM_FILES.hosts), 'utf8'));
  const namespace = env.POD_NAMESPACE || env.ISTIO_NAMESPACE;
  if (!namespace) throw new Error(`${file(VM_FILES.clusterEnv)}: no POD_NAMESPACE (the workload's namespace)`);
  const serviceAccount = env.SERVICE_ACCOUNT || 'default';
  let labels: Record<string, string> = {};
  if (env.ISTIO_METAJSON_LABELS) {
    try {
      labels = JSON.parse(env.ISTIO_METAJSON_LABELS) as Record<string, string>;
    } catch (e) {
      throw new Error(`${file(VM_FILES.clusterEnv)}: ISTIO_METAJSON_LABELS is not JSON: ${(e as Error).message}`);
    }
  }
  if (!pc.discoveryAddress) throw new Error(`${file(VM_FILES.mesh)}: defaultConfig.discoveryAddress is missing`);
  if (pc.readinessProbe !== undefined) {
    const problem = probeProblem(pc.readinessProbe);
    if (problem) throw new Error(`${file(VM_FILES.mesh)}: defaultConfig.readinessProbe: ${problem}`);
  }
  const xds = resolveAddress(pc.discoveryAddress, hosts, 'mesh.yaml defaultConfig.discoveryAddress');
  const caAddr = pc.proxyMetadata?.CA_ADDR ?? env.CA_ADDR ?? `${pc.discoveryAddress.replace(/:\d+$/, '')}:15012`;
  const caAddress = resolveAddress(caAddr, hosts, 'CA_ADDR');
  const [xh, xp] = [xds.replace(/:(\d+)$/, '').replace(/^\[|\]$/g, ''), Number(/:(\d+)$/.exec(xds)![1])];
  // A name the hosts file lacks is left to the system resolver (the VM's /etc/hosts, as Istio's docs have the user append it).
  // Every ISTIO_META_X of cluster.env is node metadata X, as Istio's agent reads its environment.
  const metadata: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(env)) if (k.startsWith('ISTIO_META_') && v !== '') metadata[k.slice('ISTIO_META_'.length)] = v;
  if (env.CANONICAL_SERVICE) labels = { 'service.istio.io/canonical-name': env.CANONICAL_SERVICE, ...labels };
  if (env.CANONICAL_REVISION) labels = { 'service.istio.io/canonical-revision': env.CANONICAL_REVISION, ...labels };
  const workloadName = env.ISTIO_META_WORKLOAD_NAME || o.podName;
  metadata.PROXY_CONFIG = { proxyAdminPort: o.adminPort, discoveryAddress: pc.discoveryAddress, ...(pc.readinessProbe ? { readinessProbe: pc.readinessProbe } : {}) };
  const ports = (env.ISTIO_INBOUND_PORTS ?? '*') === '*' ? [] : env.ISTIO_INBOUND_PORTS!.split(',').map((p) => Number(p.trim())).filter((n) => Number.isInteger(n) && n > 0 && n < 65536);
  const bootstrap = buildBootstrap({
    type: 'sidecar',
    ip: o.ip,
    pod: o.podName,
    namespace,
    app: labels.app ?? workloadName,
    labels,
    serviceAccount,
    workloadName,
    ...(ports.length ? { ports: ports.map((containerPort) => ({ containerPort })) } : {}),
    interception: o.interception,
    admin: { host: '127.0.0.1', port: o.adminPort },
    xds: { host: xh, port: xp },
    ...(env.ISTIO_META_CLUSTER_ID ? { clusterId: env.ISTIO_META_CLUSTER_ID } : {}),
    ...(env.ISTIO_META_MESH_ID || pc.meshId ? { meshId: env.ISTIO_META_MESH_ID || pc.meshId! } : {}),
    metadata,
    sdsSocket: o.sdsSocket,
    prometheusPort: 15090,
  });
  return {
    bootstrap,
    namespace,
    serviceAccount,
    trustDomain: env.TRUST_DOMAIN || 'cluster.local',
    caAddress,
    tokenFile: file(VM_FILES.token),
    rootCertFile: file(VM_FILES.rootCert),
    capture: {
      inboundPorts: env.ISTIO_INBOUND_PORTS ?? '*',
      localExcludePorts: env.ISTIO_LOCAL_EXCLUDE_PORTS ?? LOCAL_EXCLUDE_PORTS,
      serviceCidr: env.ISTIO_SERVICE_CIDR ?? '*',
      dnsCapture: env.ISTIO_META_DNS_CAPTURE === 'true',
    },
  };
}
