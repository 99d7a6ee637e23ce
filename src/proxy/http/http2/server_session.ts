/**
 * The downstream HTTP/2 connection (RFC 9113, server side) on a socket the listener accepted:
 * h2c prior knowledge or ALPN h2 over TLS. The frame work is ./session.ts; this side turns
 * request header blocks into connection-manager streams (`H2Stream`, ../conn_manager/codec.ts)
 * and adds Envoy's downstream behaviour: header count and size limits answered 431, a missing
 * :authority answered 400, SETTINGS_MAX_CONCURRENT_STREAMS (REFUSED_STREAM), rapid-reset
 * protection (too many client resets in a window: GOAWAY ENHANCE_YOUR_CALM), the connection
 * idle timeout, and GOAWAY when the listener drains.
 */
import type { Socket } from 'node:net';
import type { HeaderMap } from '../../interfaces.ts';
import type { HcmConfig } from '../conn_manager/config.ts';
import type { ConnContext } from '../conn_manager/connection.ts';
import { ActiveStream } from '../conn_manager/active_stream.ts';
import { ErrorCode, Flag, MAX_WINDOW, Setting } from './frame.ts';
import { ConnectionError, Http2Session } from './session.ts';
import { FieldBlock } from './fields.ts';
import { H2Stream } from './stream.ts';
import { IdleDeadline } from '../../../common/idle_deadline.ts';

export class H2ServerSession extends Http2Session<H2Stream> {
  readonly #hcm: HcmConfig;
  readonly #conn: ConnContext;
  /** The connection's idle_timeout: GOAWAY after that long with no stream open. */
  readonly #idle: IdleDeadline;
  #resetWindowStart = 0;
  #resets = 0;

  constructor(socket: Socket, hcm: HcmConfig, conn: ConnContext) {
    super(
      socket,
      true,
      [
        [Setting.MAX_CONCURRENT_STREAMS, Math.min(hcm.maxConcurrentStreams, MAX_WINDOW)],
        [Setting.MAX_HEADER_LIST_SIZE, hcm.maxRequestHeadersBytes + 1024],
        [Setting.ENABLE_PUSH, 0],
      ],
      2 * hcm.maxRequestHeadersBytes + 65536,
    );
    this.#hcm = hcm;
    this.#conn = conn;
    hcm.stats.cxHttp2Total.inc();
    this.#idle = new IdleDeadline(hcm.clock, this.#onIdle);
    this.#idle.start(hcm.idleTimeoutMs);
  }

  protected onHeaderBlock(id: number, flags: number, buf: Buffer, start: number, end: number): void {
    const existing = this.streams.get(id);
    const fields = new FieldBlock(existing ? 'trailers' : 'request');
    this.decodeBlock(buf, start, end, fields.add);
    const endStream = (flags & Flag.END_STREAM) !== 0;
    if (existing) return this.#onTrailers(existing, fields, endStream);
    if (id <= this.lastStream) {
      if (this.wasReset(id)) return;
      throw new ConnectionError(ErrorCode.STREAM_CLOSED, 'HEADERS on a closed stream');
    }
    if ((id & 1) === 0) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'a client stream with an even id');
    this.lastStream = id;
    const hcm = this.#hcm;
    if (this.goawaySent || this.peerGoaway || this.streams.size >= hcm.maxConcurrentStreams) return this.streamError(id, ErrorCode.REFUSED_STREAM);
    if (fields.finishRequest()) {
      hcm.stats.cxProtocolError.inc();
      return this.streamError(id, ErrorCode.PROTOCOL_ERROR);
    }
    const st = new H2Stream(this, id);
    st.remoteEnded = endStream;
    st.contentLength = fields.contentLength;
    if (endStream && st.contentLength > 0) return this.streamError(id, ErrorCode.PROTOCOL_ERROR);
    this.streams.set(id, st);
    const h = fields.headers;
    if (fields.count > hcm.maxHeadersCount || fields.bytes > hcm.maxRequestHeadersBytes) {
      (fields.count > hcm.maxHeadersCount ? hcm.stats.rqHeadersTooMany : hcm.stats.rqTooLarge).inc();
      return this.#localReply(st, 431);
    }
    if (!h.has(':authority') && h.get(':method') !== 'CONNECT') {
      hcm.stats.cxProtocolError.inc();
      return this.#localReply(st, 400);
    }
    st.active = new ActiveStream(hcm, this.#conn.state, st, this.#conn.info, h);
    st.active.decodeHeaders(endStream);
    if (hcm.ctx.draining()) this.goaway(ErrorCode.NO_ERROR);
  }

  #onTrailers(st: H2Stream, fields: FieldBlock, endStream: boolean): void {
    if (!this.acceptTrailers(st, fields.error !== undefined, endStream)) return;
    st.active?.decodeTrailers(fields.headers);
    this.maybeClose(st);
  }

  #localReply(st: H2Stream, status: number): void {
    // The request is not read: the stream ends with our answer (and a reset if its body was coming).
    this.writeHeaders(st, status, new Map([['content-length', '0'], ['server', this.#hcm.serverName]]), true);
  }

  /**
   * The response is complete. A request still coming is not wanted: RST_STREAM NO_ERROR (RFC 9113
   * 8.1), as Envoy resets it, so the stream does not stay half-open holding a slot of the peer's
   * stream limit until the client ends it.
   */
  protected override localEnd(st: H2Stream): void {
    super.localEnd(st);
    if (!st.closed && !st.remoteEnded) this.streamError(st.id, ErrorCode.NO_ERROR);
  }

  protected onStreamData(st: H2Stream, chunk: Buffer, endStream: boolean): void {
    st.active?.decodeData(chunk, endStream);
  }

  protected onWritable(st: H2Stream): void {
    st.active?.onCodecDrain();
  }

  protected onStreamClosed(st: H2Stream, _resetCode: number | undefined, byPeer: boolean): void {
    // After the current call returns, as node's 'close' event was: the stream may be mid-write.
    if (st.active) process.nextTick(closeActive, st.active);
    if (byPeer) this.#onPeerReset();
    if (this.#hcm.ctx.draining()) this.goaway(ErrorCode.NO_ERROR);
    this.closeIfDone();
    // Idle from the last stream's end; a timer that fired while streams were open is armed again.
    if (this.streams.size === 0 && !this.closed) this.#idle.start(this.#hcm.idleTimeoutMs);
  }

  /** Counts client resets; too many in one window is CVE-2023-44487's pattern. */
  #onPeerReset(): void {
    const hcm = this.#hcm;
    hcm.stats.h2RxReset.inc();
    const now = hcm.clock.now();
    if (now - this.#resetWindowStart > hcm.resetWindowMs) {
      this.#resetWindowStart = now;
      this.#resets = 0;
    }
    if (++this.#resets > hcm.maxResetsPerWindow && !this.goawaySent) {
      hcm.stats.h2RapidResetGoaway.inc();
      this.goaway(ErrorCode.ENHANCE_YOUR_CALM);
      this.destroy();
    }
  }

  protected onGoaway(): void {
    this.closeIfDone();
  }

  protected onGoawaySent(code: number): void {
    const stats = this.#hcm.stats;
    stats.h2GoawaySent.inc();
    if (code === ErrorCode.NO_ERROR) stats.cxDrainClose.inc();
  }

  protected connectionError(code: number, reason: string): void {
    this.#hcm.stats.cxProtocolError.inc();
    super.connectionError(code, reason);
  }

  protected onSocketClosed(): void {
    this.#idle.stop();
  }

  writeHeaders(st: H2Stream, status: number, headers: HeaderMap, endStream: boolean): void {
    if (st.closed) return;
    const enc = this.encoder;
    enc.begin();
    enc.status(status);
    enc.fields(headers);
    this.headerFrames(st.id, endStream, enc.end());
    if (endStream) this.localEnd(st);
  }

  resetStream(st: H2Stream, code: number): void {
    if (!st.closed) this.streamError(st.id, code);
  }

  /** Only a connection with no stream open is idle; the last stream's end starts the deadline again. */
  readonly #onIdle = (): void => {
    if (this.streams.size === 0 && !this.closed) this.goaway(ErrorCode.NO_ERROR);
  };
}

function closeActive(a: ActiveStream): void {
  a.onCodecReset();
}
