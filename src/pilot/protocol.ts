/**
 * Which service-port protocols pilot treats as HTTP. One definition for listeners, clusters and
 * the HTTP proxy route, so they agree. UNSUPPORTED (an unnamed port, which Istio sniffs) is TCP
 * here: tsmesh does not sniff, so such a port gets tcp_proxy, never an HTTP route.
 */
const HTTP_FAMILY: ReadonlySet<string> = new Set(['HTTP', 'HTTP2', 'GRPC', 'GRPC-WEB']);
const H2_FAMILY: ReadonlySet<string> = new Set(['HTTP2', 'GRPC', 'GRPC-WEB']);
const TLS_FAMILY: ReadonlySet<string> = new Set(['HTTPS', 'TLS']);

/** HTTP/1.1, HTTP/2 or gRPC: served through an HTTP connection manager. */
export function isHttpProtocol(protocol: string): boolean {
  return HTTP_FAMILY.has(protocol);
}

/** Protocols whose upstream speaks HTTP/2. */
export function isHttp2Protocol(protocol: string): boolean {
  return H2_FAMILY.has(protocol);
}

/** TLS carried opaquely; listeners may tell services apart by SNI. */
export function isTlsProtocol(protocol: string): boolean {
  return TLS_FAMILY.has(protocol);
}
