/**
 * Local replies as Envoy builds them: text/plain body (or none), and for gRPC requests a
 * trailers-only response (HTTP 200, grpc-status mapped from the HTTP status per the gRPC spec,
 * grpc-message carrying the body). Bodies are Envoy's strings so clients see the same text.
 */
import type { HeaderMap } from '../../interfaces.ts';
import { httpToGrpcStatus } from './grpc_status.ts';

export { httpToGrpcStatus };

export const LocalReplyBody = {
  noHealthyUpstream: 'no healthy upstream',
  upstreamTimeout: 'upstream request timeout',
  streamIdleTimeout: 'stream timeout',
  requestTimeout: 'request timeout',
  maxDurationTimeout: 'downstream duration timeout',
  faultAbort: 'fault filter abort',
  faultDelayedAbort: 'fault filter abort',
  clusterNotFound: '',
  routeNotFound: '',
  upstreamReset: (reason: string) => `upstream connect error or disconnect/reset before headers. reset reason: ${reason}`,
  overflow: 'upstream connect error or disconnect/reset before headers. reset reason: overflow',
  upgradeFailed: 'upgrade failed',
  dnsResolutionFailure: 'DNS resolution failure',
  dnsCacheOverflow: 'DNS cache overflow',
  dnsPendingOverflow: 'Dynamic forward proxy pending request overflow',
} as const;

/** gRPC status → HTTP (used for retry decisions and stats on trailers-only responses). */
export function grpcMessageEncode(s: string): string {
  // grpc-message is percent-encoded outside printable ASCII (gRPC over HTTP/2 spec).
  return s.replace(/[^\x20-\x24\x26-\x7e]/g, (ch) => encodeURIComponent(ch));
}

export interface LocalReply {
  status: number;
  headers: HeaderMap;
  body?: Buffer;
}

export function buildLocalReply(status: number, body: string, grpc: boolean, extra?: Record<string, string>, grpcStatus?: number): LocalReply {
  const headers: HeaderMap = new Map();
  if (grpc) {
    headers.set('content-type', 'application/grpc');
    headers.set('grpc-status', String(grpcStatus ?? httpToGrpcStatus(status)));
    if (body) headers.set('grpc-message', grpcMessageEncode(body));
    if (extra) for (const k in extra) headers.set(k.toLowerCase(), extra[k]);
    return { status: 200, headers };
  }
  const buf = body ? Buffer.from(body) : undefined;
  if (buf) headers.set('content-type', 'text/plain');
  headers.set('content-length', String(buf ? buf.length : 0));
  if (extra) for (const k in extra) headers.set(k.toLowerCase(), extra[k]);
  return { status, headers, body: buf };
}
