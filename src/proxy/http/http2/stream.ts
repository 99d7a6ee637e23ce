/** One downstream HTTP/2 stream as the connection manager sees it (../conn_manager/codec.ts). */
import type { HeaderMap } from '../../interfaces.ts';
import type { DownstreamCodecStream, DownstreamProtocol } from '../conn_manager/codec.ts';
import type { ActiveStream } from '../conn_manager/active_stream.ts';
import { DEFAULT_WINDOW, ErrorCode } from './frame.ts';
import type { H2ServerSession } from './server_session.ts';

export class H2Stream implements DownstreamCodecStream {
  readonly protocol: DownstreamProtocol = 'HTTP/2';
  active: ActiveStream | undefined;
  /** What the peer lets us send on this stream. */
  sendWindow: number;
  /** What we let the peer send, and what it sent that we have not re-opened yet. */
  recvWindow = DEFAULT_WINDOW;
  unacked = 0;
  /** Request body bytes so far, against a declared content-length (-1: none). */
  received = 0;
  contentLength = -1;
  /** Body waiting for flow-control window, then its end or trailers. */
  pending: Buffer[] = [];
  pendingEnd = false;
  pendingTrailers: HeaderMap | undefined;
  remoteEnded = false;
  localEnded = false;
  closed = false;
  readDisabled = false;

  constructor(
    private readonly session: H2ServerSession,
    readonly id: number,
  ) {
    this.sendWindow = session.peerInitialWindow;
  }

  writeHeaders(status: number, headers: HeaderMap, endStream: boolean): void {
    this.session.writeHeaders(this, status, headers, endStream);
  }

  writeData(chunk: Buffer, endStream: boolean): boolean {
    return this.session.writeData(this, chunk, endStream);
  }

  writeTrailers(trailers: HeaderMap): void {
    this.session.writeTrailers(this, trailers);
  }

  reset(): void {
    this.session.resetStream(this, ErrorCode.INTERNAL_ERROR);
  }

  /** Withholds WINDOW_UPDATEs while disabled, so the client stops at the window's end. */
  readDisable(disable: boolean): void {
    this.readDisabled = disable;
    if (!disable) this.session.ackStream(this);
  }
}
