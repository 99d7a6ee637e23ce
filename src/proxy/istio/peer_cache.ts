/**
 * Decoded peer metadata by (header value, principal): a peer sends the same
 * x-envoy-peer-metadata on every request, so it is decoded once and the same PeerInfo object
 * comes back (which lets the stats filter cache its label values per peer). Bounded: cleared
 * wholesale when full, so hostile or churning headers cost memory only up to the cap.
 */
import type { PeerInfo } from './peer_info.ts';
import { peerFromMetadata, UNKNOWN } from './node_peer.ts';
import { decodeStruct } from './proto_struct.ts';

const MAX_ENTRIES = 1024;
/** Longer headers are not peer metadata we accept (Istio's are a few hundred bytes). */
const MAX_HEADER_BYTES = 8192;
const cache = new Map<string, PeerInfo | null>();
const unknownByPrincipal = new Map<string, PeerInfo>();

/** Peer metadata from a base64 Struct header, with the certificate's principal; undefined when malformed. */
export function peerFromHeader(header: string, principal: string | undefined): PeerInfo | undefined {
  const key = principal ? `${header}\u0000${principal}` : header;
  let p = cache.get(key);
  if (p === undefined) {
    p = null;
    if (header.length <= MAX_HEADER_BYTES) {
      const md = decodeStruct(Buffer.from(header, 'base64'));
      if (md && (md.WORKLOAD_NAME || md.NAME || md.NAMESPACE)) {
        p = peerFromMetadata(md);
        if (principal) {
          p.principal = principal;
          p.namespace = sanNamespace(principal) ?? p.namespace;
        }
        const sa = md.SERVICE_ACCOUNT;
        if (typeof sa === 'string') serviceAccounts.set(p, sa);
      }
    }
    if (cache.size >= MAX_ENTRIES) cache.clear();
    cache.set(key, p);
  }
  return p ?? undefined;
}

/** The service account a peer claimed (SERVICE_ACCOUNT), for matching its certificate. */
export const serviceAccounts = new WeakMap<PeerInfo, string>();

/**
 * The namespace of a SPIFFE id (spiffe://<td>/ns/<ns>/sa/<sa>): Istio labels a peer's namespace
 * from its certificate first and only then from what the peer says.
 */
export function sanNamespace(principal: string | undefined): string | undefined {
  if (!principal) return undefined;
  const i = principal.indexOf('/ns/');
  if (i < 0) return undefined;
  const end = principal.indexOf('/', i + 4);
  return end > i + 4 ? principal.slice(i + 4, end) : undefined;
}

/**
 * A peer known only by its certificate (or not at all): every label unknown but the principal and
 * the namespace it names (canonical revision "latest", as Istio's labels default it).
 */
export function unknownPeer(principal: string | undefined): PeerInfo {
  const k = principal ?? '';
  let p = unknownByPrincipal.get(k);
  if (!p) {
    p = { workload: UNKNOWN, namespace: sanNamespace(principal) ?? UNKNOWN, canonicalRevision: 'latest', ...(principal ? { principal } : {}) };
    if (unknownByPrincipal.size >= MAX_ENTRIES) unknownByPrincipal.clear();
    unknownByPrincipal.set(k, p);
  }
  return p;
}

/** The same peer with a principal, and the namespace it names (cached per peer object and principal). */
const withPrincipalCache = new WeakMap<PeerInfo, Map<string, PeerInfo>>();
export function withPrincipal(p: PeerInfo, principal: string | undefined): PeerInfo {
  if (!principal || p.principal === principal) return p;
  let m = withPrincipalCache.get(p);
  if (!m) withPrincipalCache.set(p, (m = new Map()));
  let q = m.get(principal);
  if (!q) {
    if (m.size >= 16) m.clear();
    m.set(principal, (q = { ...p, principal, namespace: sanNamespace(principal) ?? p.namespace }));
  }
  return q;
}
