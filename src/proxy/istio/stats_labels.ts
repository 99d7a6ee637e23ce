/**
 * The labels of Istio's standard metrics, in Istio's order, and the cached per-peer and
 * per-service parts they are assembled from. Label values are bounded: every value comes from
 * node metadata, certificates, cluster metadata or a small enumeration (codes, flags), never a
 * path or header, and strings longer than MAX_LABEL_LENGTH are truncated.
 */
import type { PeerInfo } from './peer_info.ts';
import { UNKNOWN } from './node_peer.ts';
import { KEY_SEP } from './metrics_registry.ts';
import type { DestinationService } from './destination_service.ts';

export const MAX_LABEL_LENGTH = 256;

/** HTTP/gRPC metrics' labels (Istio's order). */
export const HTTP_LABELS = [
  'reporter',
  'source_workload', 'source_canonical_service', 'source_canonical_revision', 'source_workload_namespace', 'source_principal', 'source_app', 'source_version', 'source_cluster',
  'destination_workload', 'destination_workload_namespace', 'destination_principal', 'destination_app', 'destination_version', 'destination_service',
  'destination_canonical_service', 'destination_canonical_revision', 'destination_service_name', 'destination_service_namespace', 'destination_cluster',
  'request_protocol', 'response_code', 'grpc_response_status', 'response_flags', 'connection_security_policy',
] as const;

/** TCP metrics carry no response_code / grpc_response_status. */
export const TCP_LABELS = HTTP_LABELS.filter((l) => l !== 'response_code' && l !== 'grpc_response_status');

export function bounded(v: string | undefined): string {
  if (v === undefined || v === '') return UNKNOWN;
  return v.length > MAX_LABEL_LENGTH ? v.slice(0, MAX_LABEL_LENGTH) : v;
}

/** A peer's eight label values (workload, namespace, principal, app, version, canonical service, canonical revision, cluster) and their key. */
export interface PeerLabels {
  v: readonly string[];
  key: string;
}
const peerLabels = new WeakMap<PeerInfo, PeerLabels>();

export function labelsOf(p: PeerInfo): PeerLabels {
  let l = peerLabels.get(p);
  if (!l) {
    // A peer without a canonical revision is "latest" in Istio's labels, not "unknown".
    const v = [p.workload, p.namespace, p.principal, p.app, p.version, p.canonicalService, p.canonicalRevision || 'latest', p.cluster].map(bounded);
    l = { v, key: v.join(KEY_SEP) };
    peerLabels.set(p, l);
  }
  return l;
}

export interface ServiceLabels {
  v: readonly [string, string, string];
  key: string;
}
const serviceLabels = new WeakMap<DestinationService, ServiceLabels>();

export function serviceLabelsOf(s: DestinationService): ServiceLabels {
  let l = serviceLabels.get(s);
  if (!l) {
    const v = [bounded(s.host), bounded(s.name), bounded(s.namespace)] as const;
    l = { v, key: v.join(KEY_SEP) };
    serviceLabels.set(s, l);
  }
  return l;
}

/** What one finished stream or connection is labelled with. */
export interface LabelInput {
  reporter: string;
  src: PeerLabels;
  dst: PeerLabels;
  svc: ServiceLabels;
  protocol: string;
  /** HTTP only. */
  code?: string;
  grpc?: string;
  flags: string;
  security: string;
}

/** The key of a series: unique per label tuple, built from the cached parts. */
export function seriesKey(x: LabelInput, http: boolean): string {
  const head = `${x.reporter}${KEY_SEP}${x.src.key}${KEY_SEP}${x.dst.key}${KEY_SEP}${x.svc.key}${KEY_SEP}${x.protocol}`;
  return http ? `${head}${KEY_SEP}${x.code}${KEY_SEP}${x.grpc}${KEY_SEP}${x.flags}${KEY_SEP}${x.security}` : `${head}${KEY_SEP}${x.flags}${KEY_SEP}${x.security}`;
}

/** The label values in HTTP_LABELS (http) or TCP_LABELS order; only for a new series. */
export function labelValues(x: LabelInput, http: boolean): string[] {
  const s = x.src.v;
  const d = x.dst.v;
  const out = [x.reporter, s[0]!, s[5]!, s[6]!, s[1]!, s[2]!, s[3]!, s[4]!, s[7]!, d[0]!, d[1]!, d[2]!, d[3]!, d[4]!, x.svc.v[0], d[5]!, d[6]!, x.svc.v[1], x.svc.v[2], d[7]!, x.protocol];
  if (http) out.push(x.code!, x.grpc!);
  out.push(x.flags, x.security);
  return out;
}
