/**
 * How an HTTP/2 stream that ended without a complete response maps to Envoy's reset reasons:
 * REFUSED_STREAM (also what a GOAWAY does to streams past its last stream id) is retryable
 * under retry_on refused-stream; any other RST_STREAM is a remote reset; a stream that died with
 * its connection is a connection termination.
 */
import { constants } from 'node:http2';
import type { Http1ResetReason } from '../http1/errors.ts';

export function h2ResetReason(rstCode: number | undefined, sessionGone: boolean): Http1ResetReason {
  if (rstCode === constants.NGHTTP2_REFUSED_STREAM) return 'remote refused stream reset';
  if (sessionGone || rstCode === undefined || rstCode === constants.NGHTTP2_NO_ERROR) return 'connection termination';
  if (rstCode === constants.NGHTTP2_PROTOCOL_ERROR || rstCode === constants.NGHTTP2_FRAME_SIZE_ERROR || rstCode === constants.NGHTTP2_COMPRESSION_ERROR) return 'protocol error';
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
