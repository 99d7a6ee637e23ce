/**
 * x-forwarded-client-cert (Envoy's ConnectionManagerUtility::mutateXfccRequestHeader):
 * forward_client_cert_details decides what happens to a client's XFCC header, and for
 * APPEND_FORWARD / SANITIZE_SET what this hop adds when the downstream is mutual TLS:
 * By=<our URI SANs>;Hash=<sha256 of the peer certificate>, then, as set_current_client_cert_details
 * asks, Subject="...", URI=..., DNS=..., Cert="<url-encoded PEM>", Chain="<url-encoded PEM chain>".
 *  - SANITIZE (default): the header is always removed.
 *  - FORWARD_ONLY / APPEND_FORWARD / SANITIZE_SET: without a client certificate it is removed;
 *    with one it is kept as is / appended to (",") / replaced.
 *  - ALWAYS_FORWARD_ONLY: kept as is, whatever the connection.
 */
import { createHash, X509Certificate } from 'node:crypto';
import type { TLSSocket, DetailedPeerCertificate } from 'node:tls';
import type { HeaderMap } from '../../interfaces.ts';
import type { EnvoyJson } from '../../../xds/types.ts';
import { getHeader } from '../common/header_utils.ts';

export type ForwardClientCert = 'SANITIZE' | 'FORWARD_ONLY' | 'APPEND_FORWARD' | 'SANITIZE_SET' | 'ALWAYS_FORWARD_ONLY';
const MODES = new Set<string>(['SANITIZE', 'FORWARD_ONLY', 'APPEND_FORWARD', 'SANITIZE_SET', 'ALWAYS_FORWARD_ONLY']);
type Detail = 'Subject' | 'URI' | 'DNS' | 'Cert' | 'Chain';

export interface XfccConfig {
  mode: ForwardClientCert;
  /** In Envoy's order: Subject, URI, DNS, Cert, Chain. */
  details: Detail[];
}

const XFCC = 'x-forwarded-client-cert';

export function compileXfcc(c: EnvoyJson): XfccConfig {
  const mode = c.forward_client_cert_details ?? 'SANITIZE';
  if (!MODES.has(mode)) throw new Error(`HttpConnectionManager.forward_client_cert_details ${mode} is not supported`);
  const s = c.set_current_client_cert_details ?? {};
  const on = (v: unknown) => v === true || (typeof v === 'object' && v !== null && (v as { value?: unknown }).value === true);
  const details: Detail[] = [];
  if (on(s.subject)) details.push('Subject');
  if (s.uri === true) details.push('URI');
  if (s.dns === true) details.push('DNS');
  if (s.cert === true) details.push('Cert');
  if (s.chain === true) details.push('Chain');
  return { mode, details };
}

/** What one downstream TLS connection tells about its peer and us, computed on first use. */
export class DownstreamSsl {
  private peer?: X509Certificate | null;
  private local?: X509Certificate | null;
  constructor(private readonly socket: TLSSocket) {}

  peerCertificate(): X509Certificate | undefined {
    if (this.peer === undefined) this.peer = this.socket.getPeerX509Certificate() ?? null;
    return this.peer ?? undefined;
  }

  localCertificate(): X509Certificate | undefined {
    if (this.local === undefined) this.local = this.socket.getX509Certificate() ?? null;
    return this.local ?? undefined;
  }

  /** The peer's presented chain, leaf first (as far as node exposes it, without the trust anchor's self-loop). */
  peerChainPem(): string {
    const out: string[] = [];
    let c: DetailedPeerCertificate | undefined = this.socket.getPeerCertificate(true) as DetailedPeerCertificate;
    const seen = new Set<string>();
    while (c && c.raw && !seen.has(c.fingerprint256)) {
      seen.add(c.fingerprint256);
      out.push(new X509Certificate(c.raw).toString());
      c = c.issuerCertificate;
    }
    return out.join('');
  }
}

function sans(cert: X509Certificate | undefined, kind: 'URI' | 'DNS'): string[] {
  const alt = cert?.subjectAltName;
  if (!alt) return [];
  return alt
    .split(', ')
    .filter((s) => s.startsWith(`${kind}:`))
    .map((s) => s.slice(kind.length + 1));
}

/** RFC 2253 order (most specific first), as Envoy prints the subject. */
function subject(cert: X509Certificate): string {
  // Mesh workload certificates have an empty subject (the identity is the URI SAN): node 20
  // reports that as undefined, later releases as ''.
  return (cert.subject ?? '').split('\n').filter(Boolean).reverse().join(',');
}

/** Applies forward_client_cert_details to the request headers. */
export function mutateXfcc(h: HeaderMap, cfg: XfccConfig, ssl: DownstreamSsl | undefined): void {
  if (cfg.mode === 'ALWAYS_FORWARD_ONLY') return;
  const peer = ssl?.peerCertificate();
  if (cfg.mode === 'SANITIZE' || !peer) {
    h.delete(XFCC);
    return;
  }
  if (cfg.mode === 'FORWARD_ONLY') return;
  const value = thisHop(cfg, ssl!, peer);
  const cur = cfg.mode === 'APPEND_FORWARD' ? getHeader(h, XFCC) : undefined;
  h.set(XFCC, cur ? `${cur},${value}` : value);
}

/**
 * This hop's XFCC element. It depends only on the connection's certificates and the HCM config,
 * so it is built once per connection and config, not per request (a SHA-256 and X.509 parsing).
 */
const hopCache = new WeakMap<DownstreamSsl, { cfg: XfccConfig; value: string }>();
function thisHop(cfg: XfccConfig, ssl: DownstreamSsl, peer: X509Certificate): string {
  const hit = hopCache.get(ssl);
  if (hit && hit.cfg === cfg) return hit.value;
  const parts: string[] = [];
  for (const uri of sans(ssl!.localCertificate(), 'URI')) parts.push(`By=${uri}`);
  parts.push(`Hash=${createHash('sha256').update(peer.raw).digest('hex')}`);
  for (const d of cfg.details) {
    switch (d) {
      case 'Subject':
        parts.push(`Subject="${subject(peer)}"`);
        break;
      case 'URI': {
        const uris = sans(peer, 'URI');
        if (uris.length) for (const u of uris) parts.push(`URI=${u}`);
        else parts.push('URI=');
        break;
      }
      case 'DNS':
        for (const dns of sans(peer, 'DNS')) parts.push(`DNS=${dns}`);
        break;
      case 'Cert':
        parts.push(`Cert="${encodeURIComponent(peer.toString())}"`);
        break;
      case 'Chain':
        parts.push(`Chain="${encodeURIComponent(ssl!.peerChainPem())}"`);
        break;
    }
  }
  const value = parts.join(';');
  hopCache.set(ssl, { cfg, value });
  return value;
}
