/**
 * The seam between the connection manager's streams and a downstream codec (HTTP/1.1 and HTTP/2,
 * both the proxy's own, on raw sockets). Codecs turn wire events into ActiveStream
 * calls and implement these writes; nothing above this file knows which protocol it speaks.
 */
import type { Duplex } from 'node:stream';
import type { HeaderMap } from '../../interfaces.ts';
import type { DownstreamSsl } from './xfcc.ts';
import type { StreamIdleTimers } from './stream_idle_timers.ts';

export type DownstreamProtocol = 'HTTP/1.0' | 'HTTP/1.1' | 'HTTP/2';

export interface DownstreamCodecStream {
  readonly protocol: DownstreamProtocol;
  /** Writes the response head; HeaderMap has no pseudo-headers other than ignored ones. */
  writeHeaders(status: number, headers: HeaderMap, endStream: boolean): void;
  /** Returns false when the downstream buffer is above its high-water mark. */
  writeData(chunk: Buffer, endStream: boolean): boolean;
  writeTrailers(trailers: HeaderMap): void;
  /** Abort this stream (h2: RST_STREAM; h1: close the connection). */
  reset(): void;
  /** Stop / resume reading the request body. */
  readDisable(disable: boolean): void;
  /** HTTP/1.1 upgrades only: write the 101 head and splice the raw socket with `upstream`. */
  upgrade?(upstream: Duplex, status: number, headers: HeaderMap): void;
}

/** Per-connection facts the streams share. */
export interface ConnectionState {
  /** "http" or "https" (TLS-terminated connection). */
  scheme: 'http' | 'https';
  /** Set when the connection will close after the current response (h1 drain / Connection: close). */
  closeAfterResponse: boolean;
  /** The TLS connection's certificates (for x-forwarded-client-cert); undefined on plaintext. */
  ssl?: DownstreamSsl;
  /** The streams' idle timeouts, one timer for the connection (made by its first stream). */
  streamIdle?: StreamIdleTimers;
}
