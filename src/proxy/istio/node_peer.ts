/**
 * Istio's peer metadata from both ends: what this proxy says about itself (its node metadata, as
 * the peer-metadata filter and the TCP exchange send it) and how a received Struct becomes a
 * PeerInfo. Field names are Istio's node metadata names (NAME, NAMESPACE, LABELS, APP_CONTAINERS,
 * CLUSTER_ID, INSTANCE_IPS, MESH_ID, WORKLOAD_NAME, OWNER, SERVICE_ACCOUNT). Canonical service and
 * revision fall back as Istio's do: service.istio.io/canonical-name, app.kubernetes.io/name, app,
 * workload name; service.istio.io/canonical-revision, app.kubernetes.io/version, version, "latest".
 */
import type { EnvoyJson } from '../../xds/types.ts';
import type { PeerInfo } from './peer_info.ts';
import { encodeAnyStruct, encodeStruct } from './proto_struct.ts';

/** What Istio reports for a label it cannot know. */
export const UNKNOWN = 'unknown';

/** The metadata fields a peer sends (Istio's exchanged keys). */
const EXCHANGED = ['NAME', 'NAMESPACE', 'LABELS', 'APP_CONTAINERS', 'CLUSTER_ID', 'INSTANCE_IPS', 'MESH_ID', 'WORKLOAD_NAME', 'OWNER', 'SERVICE_ACCOUNT', 'PLATFORM_METADATA'];

/** This proxy as peers see it, computed once per node. */
export interface LocalPeer {
  info: PeerInfo;
  /** x-envoy-peer-metadata: base64 of the serialized Struct. */
  header: string;
  /** x-envoy-peer-metadata-id: the node id. */
  id: string;
  /** The TCP exchange's payload: serialized Any(Struct). */
  anyStruct: Buffer;
}

const cache = new WeakMap<object, LocalPeer>();

/** The exchanged subset of a node's metadata (OWNER filled as Istio's agent does when absent). */
export function exchangedMetadata(node: EnvoyJson | undefined): Record<string, unknown> {
  const md = (node?.metadata ?? {}) as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const k of EXCHANGED) if (md[k] !== undefined && md[k] !== '') out[k] = md[k];
  if (!out.OWNER && typeof md.WORKLOAD_NAME === 'string' && typeof md.NAMESPACE === 'string') {
    out.OWNER = `kubernetes://apis/apps/v1/namespaces/${md.NAMESPACE}/deployments/${md.WORKLOAD_NAME}`;
  }
  return out;
}

export function localPeer(node: EnvoyJson | undefined): LocalPeer {
  const key = (node ?? EMPTY_NODE) as object;
  let p = cache.get(key);
  if (!p) {
    const md = exchangedMetadata(node);
    const info = peerFromMetadata(md);
    // Our own principal is what our certificate says; Istio derives it from the service account.
    const sa = md.SERVICE_ACCOUNT;
    if (typeof sa === 'string' && sa && info.namespace !== UNKNOWN) info.principal = `spiffe://${trustDomain(node)}/ns/${info.namespace}/sa/${sa}`;
    p = { info, header: encodeStruct(md).toString('base64'), id: String(node?.id ?? ''), anyStruct: encodeAnyStruct(md) };
    cache.set(key, p);
  }
  return p;
}
const EMPTY_NODE = {};

function trustDomain(node: EnvoyJson | undefined): string {
  const td = node?.metadata?.TRUST_DOMAIN;
  return typeof td === 'string' && td ? td : 'cluster.local';
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}

/** A received (or local) metadata Struct as PeerInfo; the principal is left to the caller (certificate). */
export function peerFromMetadata(md: Record<string, unknown>): PeerInfo {
  const labels: Record<string, string> = {};
  const raw = md.LABELS;
  if (raw && typeof raw === 'object') for (const [k, v] of Object.entries(raw)) if (typeof v === 'string') labels[k] = v;
  const workload = str(md.WORKLOAD_NAME) ?? str(md.NAME) ?? UNKNOWN;
  const app = labels.app ?? labels['app.kubernetes.io/name'];
  const version = labels.version ?? labels['app.kubernetes.io/version'];
  return {
    workload,
    namespace: str(md.NAMESPACE) ?? UNKNOWN,
    ...(app ? { app } : {}),
    ...(version ? { version } : {}),
    canonicalService: labels['service.istio.io/canonical-name'] ?? labels['app.kubernetes.io/name'] ?? labels.app ?? workload,
    canonicalRevision: labels['service.istio.io/canonical-revision'] ?? labels['app.kubernetes.io/version'] ?? labels.version ?? 'latest',
    ...(str(md.CLUSTER_ID) ? { cluster: str(md.CLUSTER_ID) } : {}),
    ...(str(md.MESH_ID) ? { meshId: str(md.MESH_ID) } : {}),
    labels,
  };
}

/**
 * Istio's endpoint metadata `istio.workload` ("<workload>;<namespace>;<canonical service>;
 * <canonical revision>;<cluster>"), the fallback when the peer did not exchange metadata.
 */
export function peerFromWorkloadMetadata(s: unknown): PeerInfo | undefined {
  if (typeof s !== 'string' || !s) return undefined;
  const [workload, namespace, cs, cr, cluster] = s.split(';');
  if (!workload) return undefined;
  return { workload, namespace: namespace || UNKNOWN, ...(cs ? { canonicalService: cs, app: cs } : {}), ...(cr ? { canonicalRevision: cr, version: cr === 'latest' ? undefined : cr } : {}), ...(cluster ? { cluster } : {}) };
}

/** The first SPIFFE id among a certificate's URI SANs. */
export function spiffePrincipal(uris: readonly string[] | undefined): string | undefined {
  if (!uris) return undefined;
  for (const u of uris) if (u.startsWith('spiffe://')) return u;
  return undefined;
}
