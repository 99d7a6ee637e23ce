/**
 * How long a stream may live on its route (Envoy's ActiveStream::refreshDurationTimeout): the
 * route's max_stream_duration, or, when grpc_timeout_header_max is set and the request carries a
 * grpc-timeout header, that header limited to grpc_timeout_header_max (0: unlimited) minus
 * grpc_timeout_header_offset. Counted from the stream's start, so the time already spent
 * (e.g. receiving a body, a filter's delay) is deducted. undefined: no cap.
 */
import type { HeaderMap } from '../../interfaces.ts';
import { getHeader } from '../common/header_utils.ts';
import type { StreamDuration } from '../router/route_entry.ts';
import { parseGrpcTimeout } from '../router/timeouts.ts';

export function streamDurationMs(d: StreamDuration | undefined, headers: HeaderMap): number | undefined {
  if (!d) return undefined;
  const grpc = d.grpcHeaderMaxMs === undefined ? undefined : parseGrpcTimeout(getHeader(headers, 'grpc-timeout'));
  if (grpc === undefined) return d.maxMs ? d.maxMs : undefined;
  let t = grpc;
  if (d.grpcHeaderMaxMs! > 0 && t > d.grpcHeaderMaxMs!) t = d.grpcHeaderMaxMs!;
  return t > d.grpcHeaderOffsetMs ? t - d.grpcHeaderOffsetMs : 0;
}
