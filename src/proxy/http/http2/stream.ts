/** One downstream HTTP/2 stream as the connection manager sees it (../conn_manager/codec.ts). */
import type { HeaderMap } from '../../interfaces.ts';
import type { DownstreamCodecStream, DownstreamProtocol } from '../conn_manager/codec.ts';
import type { ActiveStream } from '../conn_manager/active_stream.ts';
import { ErrorCode } from './frame.ts';
import { StreamState } from './session.ts';
import type { H2ServerSession } from './server_session.ts';

export class H2Stream extends StreamState implements DownstreamCodecStream {
  readonly protocol: DownstreamProtocol = 'HTTP/2';
  active: ActiveStream | undefined;

  constructor(
    private readonly session: H2ServerSession,
    id: number,
  ) {
    super(id, session.peerInitialWindow);
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
