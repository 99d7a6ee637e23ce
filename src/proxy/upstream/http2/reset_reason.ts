/**
 * How an HTTP/2 stream that ended without a complete response maps to Envoy's reset reasons:
 * REFUSED_STREAM (also what a GOAWAY does to streams past its last stream id) is retryable
 * under retry_on refused-stream; any other RST_STREAM from the peer is a remote reset; one we
 * sent for a malformed response (or a connection error) is a protocol error; a stream that died
 * with its connection (no code) is a connection termination.
 */
import type { Http1ResetReason } from '../http1/errors.ts';
import { ErrorCode } from '../../http/http2/frame.ts';

export function h2ResetReason(rstCode: number | undefined, byPeer: boolean): Http1ResetReason {
  if (rstCode === ErrorCode.REFUSED_STREAM) return 'remote refused stream reset';
  if (rstCode === undefined || rstCode === ErrorCode.NO_ERROR) return 'connection termination';
  if (byPeer) return 'remote reset';
  if (rstCode === ErrorCode.PROTOCOL_ERROR || rstCode === ErrorCode.FRAME_SIZE_ERROR || rstCode === ErrorCode.COMPRESSION_ERROR) return 'protocol error';
  return 'remote reset';
}

/** The error a handler gets with that reason. */
export class Http2StreamError extends Error {
  constructor(
    message: string,
    readonly code: string,
    readonly rstCode?: number,
  ) {
    super(message);
  }
}
