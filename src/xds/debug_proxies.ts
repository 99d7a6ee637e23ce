/**
 * Who is connected, as istiod's debug API names them: the short proxy name `<pod>.<namespace>`
 * (the node id's third part), istiod's legacy SyncStatus fields per connection (what
 * `istioctl proxy-status` reads from /debug/syncz), and resolving a name a user typed (full node
 * id, `<pod>.<namespace>`, or a bare pod name) to a connected proxy.
 */
import { nearest } from '../api/nearest.ts';
import type { ConnectionStatus } from './server/connection.ts';
import type { NodeJson } from './types.ts';
import { EXTENSION_CONFIG, RESOURCE } from './type_urls.ts';
import { buildVersionString, TSMESH_USER_AGENT } from '../common/version.ts';

/** Envoy's ExtensionConfigDiscovery type: tsmesh's pilot never sends it (ECDS is NOT SENT). */
export const ECDS_TYPE = EXTENSION_CONFIG;

/** `sidecar~ip~<pod>.<ns>~<domain>` → `<pod>.<ns>`; an id of another shape is its own short name. */
export function shortProxyName(proxyId: string): string {
  const parts = proxyId.split('~');
  return parts.length === 4 && parts[2] ? parts[2] : proxyId;
}

/**
 * The version a proxy reports: a tsmesh proxy's own build (user_agent_name "tsmesh" with
 * user_agent_build_version), else its node metadata's ISTIO_VERSION (a real Envoy, as istioctl
 * reads it); '' when neither is there.
 */
export function proxyVersion(node: NodeJson | undefined): string {
  if (node?.user_agent_name === TSMESH_USER_AGENT) {
    const v = buildVersionString(node.user_agent_build_version);
    if (v) return v;
  }
  const md = (node?.metadata ?? {}) as Record<string, unknown>;
  return typeof md.ISTIO_VERSION === 'string' ? md.ISTIO_VERSION : '';
}

/** istiod's per-type fields of model.SyncStatus: `<prefix>_sent` / `<prefix>_acked` hold nonces. */
const SYNC_FIELDS: Array<[string, string]> = [
  ['cluster', RESOURCE.CLUSTER],
  ['listener', RESOURCE.LISTENER],
  ['route', RESOURCE.ROUTE],
  ['endpoint', RESOURCE.ENDPOINT],
  ['extensionconfig', ECDS_TYPE],
];

export interface SyncIdentity {
  /** This control plane's instance name (istiod's pod name): the ISTIOD column. */
  istiod: string;
  /** The cluster id proxies are assumed in when their node metadata has no CLUSTER_ID. */
  clusterId: string;
}

/**
 * istiod's SyncStatus JSON for one connection (cluster_id, proxy, proxy_type, istio_version as
 * proxyVersion reads it, <type>_sent / <type>_acked nonces), beside tsmesh's own per-type view.
 */
export function syncStatusFields(c: ConnectionStatus, node: NodeJson | undefined, id: SyncIdentity): Record<string, unknown> {
  const md = (node?.metadata ?? {}) as Record<string, unknown>;
  const out: Record<string, unknown> = {
    cluster_id: typeof md.CLUSTER_ID === 'string' && md.CLUSTER_ID ? md.CLUSTER_ID : id.clusterId,
    proxy: shortProxyName(c.proxyId),
    proxy_type: c.proxyId.split('~')[0],
    istio_version: proxyVersion(node),
    proxy_version: node?.user_agent_name ?? '',
    istiod: id.istiod,
  };
  for (const [prefix, type] of SYNC_FIELDS) {
    const w = c.types[type];
    if (!w || w.sentNonce === '') continue;
    out[`${prefix}_sent`] = w.sentNonce;
    if (w.ackedNonce) out[`${prefix}_acked`] = w.ackedNonce;
  }
  return out;
}

/** kubectl's kinds a pod argument may carry (as src/cli/pod_ref.ts parsePodArg takes them). */
export const DEPLOYMENT_KINDS: readonly string[] = ['deploy', 'deployment', 'deployments', 'deployment.apps', 'deployments.apps'];
export const POD_KINDS: readonly string[] = ['po', 'pod', 'pods'];

/**
 * The connected proxy id a user means: a full node id, `<pod>.<namespace>` (as istiod accepts),
 * a bare pod name when one namespace has it (or `namespace` says which), `pod/<name>`, or
 * `deploy/<name>[.<namespace>]` for a connected proxy of that workload (`workloadOf` names a
 * proxy's workload; the first by id when it has several pods). Else an error naming the close ones.
 */
export function resolveProxyId(name: string, connected: readonly string[], o: { namespace?: string; workloadOf?: (id: string) => string | undefined } = {}): { id: string } | { error: string } {
  if (connected.includes(name)) return { id: name };
  const slash = name.indexOf('/');
  if (slash >= 0) {
    const kind = name.slice(0, slash).toLowerCase();
    const rest = name.slice(slash + 1);
    if (POD_KINDS.includes(kind)) return resolveProxyId(rest, connected, o);
    if (!DEPLOYMENT_KINDS.includes(kind)) return { error: `${name}: give a pod (<pod>[.<namespace>]) or deploy/<name>, not ${kind}/` };
    const dot = rest.indexOf('.');
    const workload = dot > 0 ? rest.slice(0, dot) : rest;
    const ns = dot > 0 ? rest.slice(dot + 1) : o.namespace ?? 'default';
    const pods = connected.filter((id) => shortProxyName(id).split('.')[1] === ns && o.workloadOf?.(id) === workload).sort();
    if (pods.length > 0) return { id: pods[0]! };
    const workloads = [...new Set(connected.filter((id) => shortProxyName(id).split('.')[1] === ns).map((id) => o.workloadOf?.(id)).filter((w): w is string => !!w))].sort();
    return { error: `no connected proxy of deployment ${workload} in namespace ${ns}; deployments connected there: ${workloads.join(', ') || 'none'}` };
  }
  const byShort = connected.filter((id) => shortProxyName(id) === name);
  if (byShort.length >= 1) return { id: byShort[0]! };
  const inNs = o.namespace === undefined || name.includes('.') ? [] : connected.filter((id) => shortProxyName(id) === `${name}.${o.namespace}`);
  if (inNs.length >= 1) return { id: inNs[0]! };
  const byPod = o.namespace === undefined ? connected.filter((id) => shortProxyName(id).split('.')[0] === name) : [];
  if (byPod.length === 1) return { id: byPod[0]! };
  const shorts = [...new Set(connected.map(shortProxyName))].sort();
  if (byPod.length > 1) return { error: `proxy ${name} is ambiguous: it is connected in several namespaces (${byPod.map(shortProxyName).join(', ')}); give <pod>.<namespace>` };
  const typed = o.namespace !== undefined && !name.includes('.') ? `${name}.${o.namespace}` : name;
  return { error: `proxy ${typed} is not connected to this control plane${closeNames(typed, shorts)}` };
}

/** "; did you mean …? connected: …" for an unknown name. */
export function closeNames(name: string, known: readonly string[]): string {
  if (known.length === 0) return '; no proxy is connected';
  const near = nearest(name, known) ?? nearest(name.split('.')[0]!, known.map((k) => k.split('.')[0]!));
  const guess = near ? `; did you mean ${known.find((k) => k === near || k.split('.')[0] === near)}?` : '';
  const contains = known.filter((k) => k.includes(name.split('.')[0]!) || name.includes(k.split('.')[0]!));
  const list = (contains.length > 0 ? contains : known).slice(0, 10);
  return `${guess} connected: ${list.join(', ')}${known.length > list.length && contains.length === 0 ? ', ...' : ''}`;
}
