/**
 * Envoy's CEL attribute vocabulary (what Istio's Telemetry filters and tag overrides read:
 * request.*, response.*, connection.*, source.*, destination.*, upstream.*, xds.*, and the
 * Istio stats plugin's downstream_peer.* / upstream_peer.*), as lazy views
 * over one StreamInfo: an attribute is computed only when an expression reads it, so an
 * activation costs one small object per evaluation and nothing for the attributes nobody uses.
 * The field tables below are also the type declarations the compiler checks expressions against
 * (./expression.ts), so an attribute that is not here is rejected at config time, never silently
 * false at run time. Types follow Envoy's attribute docs, except response.flags and connection.id
 * (uint64 there) which are int here so `response.flags == 0` type-checks.
 */
import { lazyModule } from '../../common/lazy_module.ts';
import type { HeaderMap, PeerInfo, StreamInfo } from '../interfaces.ts';

/** The CEL library, loaded with the first expression (./expression.ts): most proxies have none. */
export const celJs = lazyModule<typeof import('@marcbachmann/cel-js')>('@marcbachmann/cel-js');

// The library does not export its Duration class; one literal gives us its constructor (on first use).
type DurationCtor = new (seconds: bigint, nanos?: number) => unknown;
let durationCtor: DurationCtor | undefined;
const Duration = (): DurationCtor => (durationCtor ??= (celJs().evaluate('duration("0s")') as object).constructor as DurationCtor);

/** Envoy's ResponseFlag bit positions (StreamInfo::CoreResponseFlag order), for response.flags. */
const FLAG_BITS: Record<string, number> = {
  LH: 0, UH: 1, UT: 2, LR: 3, UR: 4, UF: 5, UC: 6, UO: 7, NR: 8, DI: 9, FI: 10, RL: 11, UAEX: 12, RLSE: 13,
  DC: 14, URX: 15, SI: 16, IH: 17, DPE: 18, UMSDR: 19, RFCF: 20, NFCF: 21, DT: 22, UPE: 23, NC: 24, OM: 25, DF: 26, DO: 27,
};

/** Header map → CEL map<string,string> (repeated values joined with "," as Envoy does). */
function headerMap(h: HeaderMap | undefined): Map<string, string> {
  const m = new Map<string, string>();
  if (h) for (const [k, v] of h) m.set(k, typeof v === 'string' ? v : v.join(','));
  return m;
}

function header(h: HeaderMap | undefined, name: string): string | undefined {
  const v = h?.get(name);
  return v === undefined ? undefined : typeof v === 'string' ? v : v.join(',');
}

/** Approximate uncompressed header bytes, as Envoy's request.total_size / response.total_size count them. */
function headerBytes(h: HeaderMap | undefined): number {
  let n = 0;
  if (h) for (const [k, v] of h) n += k.length + (typeof v === 'string' ? v.length : v.join(',').length);
  return n;
}

function int(n: number | undefined): bigint | undefined {
  return n === undefined || !Number.isFinite(n) ? undefined : BigInt(Math.trunc(n));
}

/** "ip:port" or "[v6]:port" → [ip, port]. */
function splitHostPort(a: string | undefined): [string, number] | undefined {
  if (!a) return undefined;
  const i = a.lastIndexOf(':');
  if (i < 0) return undefined;
  const ip = a.startsWith('[') ? a.slice(1, i - 1) : a.slice(0, i);
  return [ip, Number(a.slice(i + 1))];
}

export class RequestAttributes {
  constructor(private readonly i: StreamInfo) {}
  get path(): string | undefined { return header(this.i.requestHeaders, ':path'); }
  get url_path(): string | undefined {
    const p = this.path;
    if (p === undefined) return undefined;
    const q = p.indexOf('?');
    return q < 0 ? p : p.slice(0, q);
  }
  get query(): string | undefined {
    const p = this.path;
    if (p === undefined) return undefined;
    const q = p.indexOf('?');
    return q < 0 ? '' : p.slice(q + 1);
  }
  get host(): string | undefined { return header(this.i.requestHeaders, ':authority'); }
  get scheme(): string | undefined { return header(this.i.requestHeaders, ':scheme'); }
  get method(): string | undefined { return header(this.i.requestHeaders, ':method'); }
  get headers(): Map<string, string> | undefined { return this.i.requestHeaders && headerMap(this.i.requestHeaders); }
  get referer(): string | undefined { return header(this.i.requestHeaders, 'referer'); }
  get useragent(): string | undefined { return header(this.i.requestHeaders, 'user-agent'); }
  get time(): Date { return new Date(this.i.startTime); }
  get id(): string | undefined { return header(this.i.requestHeaders, 'x-request-id') ?? this.i.requestId; }
  get protocol(): string | undefined { return this.i.protocol; }
  get duration(): unknown {
    if (this.i.endTime === undefined) return undefined;
    const ms = Math.max(0, this.i.endTime - this.i.startTime);
    return new (Duration())(BigInt(Math.floor(ms / 1000)), Math.round((ms % 1000) * 1e6));
  }
  get size(): bigint { return BigInt(this.i.bytesReceived); }
  get total_size(): bigint { return BigInt(this.i.bytesReceived + headerBytes(this.i.requestHeaders)); }
}

export class ResponseAttributes {
  constructor(private readonly i: StreamInfo) {}
  get code(): bigint | undefined { return int(this.i.responseCode); }
  get code_details(): string | undefined { return this.i.responseCodeDetails; }
  get flags(): bigint {
    let f = 0;
    for (const fl of this.i.responseFlags) {
      const b = FLAG_BITS[fl];
      if (b !== undefined) f += 2 ** b;
    }
    return BigInt(f);
  }
  get grpc_status(): bigint | undefined {
    const s = header(this.i.responseTrailers, 'grpc-status') ?? header(this.i.responseHeaders, 'grpc-status');
    return s === undefined || !/^\d+$/.test(s) ? undefined : BigInt(s);
  }
  get headers(): Map<string, string> | undefined { return this.i.responseHeaders && headerMap(this.i.responseHeaders); }
  get trailers(): Map<string, string> { return headerMap(this.i.responseTrailers); }
  get size(): bigint { return BigInt(this.i.bytesSent); }
  get total_size(): bigint {
    return BigInt(this.i.bytesSent + headerBytes(this.i.responseHeaders) + headerBytes(this.i.responseTrailers));
  }
}

export class ConnectionAttributes {
  constructor(private readonly i: StreamInfo) {}
  get mtls(): boolean { return (this.i.connection.peerCertificateUris?.length ?? 0) > 0; }
  get requested_server_name(): string | undefined { return this.i.connection.serverName; }
  get termination_details(): string | undefined { return this.i.connectionTerminationDetails; }
}

/** source.* (the downstream peer) and destination.* (the address the connection was accepted on). */
export class PeerAddressAttributes {
  constructor(readonly address: string, readonly port: bigint) {}
}
// Distinct classes: the CEL library maps each registered type to its own constructor.
export class SourceAttributes extends PeerAddressAttributes {}
export class DestinationAttributes extends PeerAddressAttributes {}

export class UpstreamAttributes {
  constructor(private readonly i: StreamInfo) {}
  get address(): string | undefined { return this.i.upstreamHost?.ip ?? splitHostPort(this.i.upstreamHost?.address)?.[0]; }
  get port(): bigint | undefined { return int(this.i.upstreamHost?.port); }
  get local_address(): string | undefined { return this.i.upstreamLocalAddress; }
  get transport_failure_reason(): string | undefined { return this.i.upstreamTransportFailureReason; }
}

export class XdsAttributes {
  constructor(private readonly i: StreamInfo) {}
  get cluster_name(): string | undefined { return this.i.upstreamCluster; }
  get route_name(): string | undefined { return this.i.routeName; }
  get virtual_host_name(): string | undefined { return this.i.virtualHostName; }
}

/**
 * Istio's downstream_peer / upstream_peer (the stats plugin's peer attributes) from the peer
 * metadata exchange; an unknown peer has none (an evaluation error, as in Istio).
 */
export class PeerAttributes {
  constructor(private readonly p: PeerInfo) {}
  get name(): string { return this.p.workload; }
  get namespace(): string { return this.p.namespace; }
  get app(): string | undefined { return this.p.app; }
  get version(): string | undefined { return this.p.version; }
  get service(): string | undefined { return this.p.canonicalService; }
  get revision(): string | undefined { return this.p.canonicalRevision; }
  get cluster(): string | undefined { return this.p.cluster; }
  get labels(): Map<string, string> { return new Map(Object.entries(this.p.labels ?? {})); }
}
export class DownstreamPeerAttributes extends PeerAttributes {}
export class UpstreamPeerAttributes extends PeerAttributes {}

/** Per-evaluation extras a caller may know beyond StreamInfo (reserved; none needed today). */
export interface CelExtra {
  responseTrailers?: HeaderMap;
}

/** One evaluation's activation: each root is built on first read. */
export class CelAttributes {
  constructor(private readonly i: StreamInfo) {}
  get request(): RequestAttributes { return new RequestAttributes(this.i); }
  get response(): ResponseAttributes { return new ResponseAttributes(this.i); }
  get connection(): ConnectionAttributes { return new ConnectionAttributes(this.i); }
  get source(): SourceAttributes {
    const c = this.i.connection;
    return new SourceAttributes(c.remoteAddress, BigInt(c.remotePort));
  }
  get destination(): DestinationAttributes {
    const c = this.i.connection;
    return new DestinationAttributes(c.localAddress, BigInt(c.localPort));
  }
  get upstream(): UpstreamAttributes { return new UpstreamAttributes(this.i); }
  get xds(): XdsAttributes { return new XdsAttributes(this.i); }
  get downstream_peer(): DownstreamPeerAttributes | undefined {
    return this.i.downstreamPeer && new DownstreamPeerAttributes(this.i.downstreamPeer);
  }
  get upstream_peer(): UpstreamPeerAttributes | undefined {
    return this.i.upstreamPeer && new UpstreamPeerAttributes(this.i.upstreamPeer);
  }
}

/** The activation for one finished (or in-flight) stream. */
export function celAttributes(info: StreamInfo, extra?: CelExtra): CelAttributes {
  if (extra?.responseTrailers && !info.responseTrailers) info.responseTrailers = extra.responseTrailers;
  return new CelAttributes(info);
}

const PEER_FIELDS = { name: 'string', namespace: 'string', app: 'string', version: 'string', service: 'string', revision: 'string', cluster: 'string', labels: 'map<string, string>' } as const;

/** The declared vocabulary: root variable → CEL type name, class and field types. */
export const CEL_VOCABULARY = [
  {
    root: 'request', type: 'envoy.Request', ctor: RequestAttributes,
    fields: {
      path: 'string', url_path: 'string', host: 'string', scheme: 'string', method: 'string', headers: 'map<string, string>',
      referer: 'string', useragent: 'string', time: 'google.protobuf.Timestamp', id: 'string', protocol: 'string',
      duration: 'google.protobuf.Duration', size: 'int', total_size: 'int', query: 'string',
    },
  },
  {
    root: 'response', type: 'envoy.Response', ctor: ResponseAttributes,
    fields: {
      code: 'int', code_details: 'string', flags: 'int', grpc_status: 'int', headers: 'map<string, string>',
      trailers: 'map<string, string>', size: 'int', total_size: 'int',
    },
  },
  { root: 'connection', type: 'envoy.Connection', ctor: ConnectionAttributes, fields: { mtls: 'bool', requested_server_name: 'string', termination_details: 'string' } },
  { root: 'source', type: 'envoy.Source', ctor: SourceAttributes, fields: { address: 'string', port: 'int' } },
  { root: 'destination', type: 'envoy.Destination', ctor: DestinationAttributes, fields: { address: 'string', port: 'int' } },
  { root: 'upstream', type: 'envoy.Upstream', ctor: UpstreamAttributes, fields: { address: 'string', port: 'int', local_address: 'string', transport_failure_reason: 'string' } },
  { root: 'xds', type: 'envoy.Xds', ctor: XdsAttributes, fields: { cluster_name: 'string', route_name: 'string', virtual_host_name: 'string' } },
  { root: 'downstream_peer', type: 'istio.DownstreamPeer', ctor: DownstreamPeerAttributes, fields: PEER_FIELDS },
  { root: 'upstream_peer', type: 'istio.UpstreamPeer', ctor: UpstreamPeerAttributes, fields: PEER_FIELDS },
] as const;
