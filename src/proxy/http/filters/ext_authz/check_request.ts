/**
 * The CheckRequest of envoy.service.auth.v3 for one HTTP request (Envoy's CheckRequestUtils):
 * source and destination peers (addresses; the source principal is the client certificate's URI
 * SAN, its SPIFFE id in the mesh), the request time and the HTTP attributes, all headers
 * (pseudo-headers included, repeated values joined with ",", as Envoy does).
 */
import type { ConnectionInfo, HeaderMap, StreamInfo } from '../../../interfaces.ts';
import type { EnvoyJson } from '../../../../xds/types.ts';

function peer(ip: string, port: number, principal: string | undefined): EnvoyJson {
  const p: EnvoyJson = { address: { socket_address: { address: ip, port_value: port } } };
  if (principal) p.principal = principal;
  return p;
}

function one(h: HeaderMap, k: string): string {
  const v = h.get(k);
  return v === undefined ? '' : Array.isArray(v) ? v.join(',') : v;
}

/** The buffered request body under with_request_body. */
export interface CheckBody {
  bytes: Buffer;
  packAsBytes: boolean;
}

export function checkRequest(h: HeaderMap, conn: ConnectionInfo, info: StreamInfo, now: number, body?: CheckBody): EnvoyJson {
  const headers: Record<string, string> = {};
  for (const [k, v] of h) headers[k] = Array.isArray(v) ? v.join(',') : v;
  const size = Number(one(h, 'content-length'));
  const http: EnvoyJson = {
    id: info.requestId ?? one(h, 'x-request-id'),
    method: one(h, ':method'),
    headers,
    path: one(h, ':path'),
    host: one(h, ':authority') || one(h, 'host'),
    scheme: one(h, ':scheme') || (conn.transportProtocol === 'tls' ? 'https' : 'http'),
    size: Number.isFinite(size) && one(h, 'content-length') !== '' ? size : -1,
    protocol: info.protocol ?? 'HTTP/1.1',
  };
  if (body && body.bytes.length > 0) {
    if (body.packAsBytes) http.raw_body = body.bytes;
    else http.body = body.bytes.toString('utf8');
  }
  const attributes: EnvoyJson = {
    source: peer(info.downstreamRemoteAddress ?? conn.remoteAddress, conn.remotePort, conn.peerCertificateUris?.[0]),
    destination: peer(conn.localAddress, conn.localPort, undefined),
    request: { time: new Date(now).toISOString(), http },
  };
  if (conn.serverName) attributes.tls_session = { sni: conn.serverName };
  return { attributes };
}
