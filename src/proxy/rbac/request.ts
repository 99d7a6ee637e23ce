/**
 * What RBAC matchers look at for one HTTP request or one TCP connection (Envoy hands its engine
 * the connection, the request headers and the StreamInfo). Derived values (addresses as
 * integers, the path without its query) are computed on first use, once per evaluation.
 */
import type { TLSSocket } from 'node:tls';
import type { ConnectionInfo, HeaderMap, StreamInfo } from '../interfaces.ts';
import type { MatchInput } from '../http/router/route_match.ts';
import { ipBits } from '../listener/cidr.ts';

/** The downstream TLS peer as Envoy's Ssl::ConnectionInfo exposes it to rbac's `authenticated`. */
export interface PeerIdentity {
  uris: readonly string[];
  dns: readonly string[];
  /** RFC 2253 order ("CN=client,O=tsmesh"); empty without a certificate. */
  subject: string;
}

type Ip = ReturnType<typeof ipBits>;

const EMPTY_HEADERS: HeaderMap = new Map();
const noRandom = () => 0;

export class RbacRequest {
  private _urlPath: string | undefined | null = null;
  private _input: MatchInput | undefined;
  private _direct: Ip | null = null;
  private _remote: Ip | null = null;
  private _dest: Ip | null = null;

  /**
   * @param headers the request headers; undefined on the network filter, where Envoy matches
   *   header rules against an empty header map and url_path rules never match.
   * @param peer the TLS peer; undefined when the proxy did not terminate TLS on this connection.
   */
  constructor(
    readonly connection: ConnectionInfo,
    readonly headers: HeaderMap | undefined,
    readonly streamInfo: StreamInfo | undefined,
    readonly peer: PeerIdentity | undefined,
  ) {}

  /** :path without query and fragment (Envoy's PathUtil::removeQueryAndFragment); undefined without one. */
  get urlPath(): string | undefined {
    if (this._urlPath === null) {
      const raw = this.headers?.get(':path');
      const p = Array.isArray(raw) ? raw[0] : raw;
      if (p === undefined) this._urlPath = undefined;
      else {
        const q = p.search(/[?#]/);
        this._urlPath = q < 0 ? p : p.slice(0, q);
      }
    }
    return this._urlPath;
  }

  /** The header matchers' input (route_match.ts's MatchInput). */
  matchInput(): MatchInput {
    return (this._input ??= { headers: this.headers ?? EMPTY_HEADERS, path: this.urlPath ?? '', query: () => new URLSearchParams(), random: noRandom });
  }

  get metadata(): ReadonlyMap<string, Record<string, unknown>> | undefined {
    return this.streamInfo?.dynamicMetadata;
  }

  /** The physical peer (direct_remote_ip, source_ip). */
  get directRemoteIp(): Ip {
    if (this._direct === null) this._direct = ipBits(this.connection.remoteAddress);
    return this._direct;
  }

  /** The client as the HCM trusts it after x-forwarded-for (remote_ip); the physical peer on TCP. */
  get remoteIp(): Ip {
    if (this._remote === null) {
      const a = this.streamInfo?.downstreamRemoteAddress;
      this._remote = a === undefined ? this.directRemoteIp : ipBits(a);
    }
    return this._remote;
  }

  /** The connection's local address, i.e. the original destination when captured (destination_ip). */
  get destinationIp(): Ip {
    if (this._dest === null) this._dest = ipBits(this.connection.localAddress);
    return this._dest;
  }
}

/** RFC 2253 order, most specific first, as Envoy prints a certificate subject. */
function subjectOf(subject: string | undefined): string {
  return (subject ?? '').split('\n').filter(Boolean).reverse().join(',');
}

function sans(alt: string | undefined, kind: 'URI' | 'DNS'): string[] {
  if (!alt) return [];
  return alt
    .split(', ')
    .filter((s) => s.startsWith(`${kind}:`))
    .map((s) => s.slice(kind.length + 1));
}

/** The peer of a socket the listener terminated TLS on; undefined for plaintext. */
export function peerFromSocket(socket: unknown): PeerIdentity | undefined {
  const tls = socket as Partial<TLSSocket>;
  if (tls.encrypted !== true || typeof tls.getPeerX509Certificate !== 'function') return undefined;
  const cert = tls.getPeerX509Certificate();
  if (!cert) return { uris: [], dns: [], subject: '' };
  return { uris: sans(cert.subjectAltName, 'URI'), dns: sans(cert.subjectAltName, 'DNS'), subject: subjectOf(cert.subject) };
}

/**
 * The peer as an HTTP filter sees it, from ConnectionInfo: an HCM on a connection whose transport
 * is TLS runs behind the listener's TLS termination. ConnectionInfo carries the URI SANs only, so
 * DNS SANs and the subject are not available to `authenticated` on HTTP (mesh identities are URIs).
 */
export function peerFromConnection(c: ConnectionInfo): PeerIdentity | undefined {
  if (c.transportProtocol !== 'tls' && c.peerCertificateUris === undefined) return undefined;
  return { uris: c.peerCertificateUris ?? [], dns: [], subject: '' };
}
