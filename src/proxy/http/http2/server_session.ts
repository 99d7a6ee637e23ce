/**
 * The downstream HTTP/2 connection (RFC 9113, server side) on a socket the listener accepted:
 * h2c prior knowledge or ALPN h2 over TLS. Frames are parsed where they lie in each read, and
 * every frame written in one turn of the event loop leaves in one socket write.
 *
 * Streams surface to the connection manager as `H2Stream`s (../conn_manager/codec.ts); what
 * this file adds beyond the RFC is Envoy's downstream behaviour: header count and size limits
 * answered 431, a missing :authority answered 400, rapid-reset protection (too many client
 * resets in a window: GOAWAY ENHANCE_YOUR_CALM), the connection idle timeout, and GOAWAY when
 * the listener drains. Connection errors send GOAWAY and close; stream errors reset the stream.
 */
import type { Socket } from 'node:net';
import type { HeaderMap } from '../../interfaces.ts';
import type { HcmConfig } from '../conn_manager/config.ts';
import type { ConnContext } from '../conn_manager/connection.ts';
import { ActiveStream } from '../conn_manager/active_stream.ts';
import { HpackDecoder, HpackEncoder, HpackError } from './hpack.ts';
import { DEFAULT_WINDOW, ErrorCode, Flag, frame, FRAME_HEADER, frameU32, FrameType, goawayFrame, MAX_MAX_FRAME, MAX_WINDOW, MIN_MAX_FRAME, PREFACE, Setting, settingsFrame } from './frame.ts';
import { RequestFields } from './request_fields.ts';
import { H2Stream } from './stream.ts';

/** The connection-level receive window we keep open (the stream windows stay at the default). */
const CONNECTION_WINDOW = 1 << 20;
/** Above this many bytes queued in the socket, a peer that sends control frames and never reads is cut off. */
const MAX_QUEUED = 16 << 20;
/** Streams we reset are remembered this long (by count), so their in-flight frames are ignored. */
const RECENT_RESETS = 128;

class ConnectionError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

export class H2ServerSession {
  readonly #socket: Socket;
  readonly #hcm: HcmConfig;
  readonly #conn: ConnContext;
  readonly #decoder: HpackDecoder;
  readonly #encoder = new HpackEncoder();
  readonly #streams = new Map<number, H2Stream>();
  readonly #resetByUs: number[] = [];
  #rest: Buffer | undefined;
  #prefaceSeen = false;
  #settingsSeen = false;
  #out: Buffer[] = [];
  #flushQueued = false;
  #congested = false;
  readonly #waitingDrain = new Set<H2Stream>();

  /** What the peer lets us send (RFC 9113 6.9). */
  #sendWindow = DEFAULT_WINDOW;
  peerInitialWindow = DEFAULT_WINDOW;
  #peerMaxFrame = MIN_MAX_FRAME;
  /** What we let the peer send on the connection, and what it sent that we have not yet re-opened. */
  #recvWindow = CONNECTION_WINDOW;
  #recvUnacked = 0;

  #lastStream = 0;
  #continuation: { stream: number; flags: number; parts: Buffer[]; size: number } | undefined;
  #goawaySent = false;
  #peerGoaway = false;
  #closed = false;
  #idle: { cancel(): void } | undefined;
  /** When the connection last had no stream open. */
  #idleSince = 0;
  #resetWindowStart = 0;
  #resets = 0;

  constructor(socket: Socket, hcm: HcmConfig, conn: ConnContext) {
    this.#socket = socket;
    this.#hcm = hcm;
    this.#conn = conn;
    this.#decoder = new HpackDecoder(4096);
    hcm.stats.cxHttp2Total.inc();
    this.#queue(
      settingsFrame([
        [Setting.MAX_CONCURRENT_STREAMS, Math.min(hcm.maxConcurrentStreams, MAX_WINDOW)],
        [Setting.MAX_HEADER_LIST_SIZE, hcm.maxRequestHeadersBytes + 1024],
        [Setting.ENABLE_PUSH, 0],
      ]),
    );
    this.#queue(frameU32(FrameType.WINDOW_UPDATE, 0, CONNECTION_WINDOW - DEFAULT_WINDOW));
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('close', () => this.#onClose());
    socket.on('drain', () => this.#onDrain());
    this.#idleSince = hcm.clock.now();
    this.#armIdle();
  }

  // ---------- reading ----------

  #onData(chunk: Buffer): void {
    if (this.#closed) return;
    const buf = this.#rest ? Buffer.concat([this.#rest, chunk]) : chunk;
    this.#rest = undefined;
    let pos = 0;
    try {
      if (!this.#prefaceSeen) {
        const n = Math.min(buf.length, PREFACE.length);
        if (buf.compare(PREFACE, 0, n, 0, n) !== 0) return this.#destroy();
        if (n < PREFACE.length) {
          this.#rest = buf;
          return;
        }
        this.#prefaceSeen = true;
        pos = PREFACE.length;
      }
      while (buf.length - pos >= FRAME_HEADER) {
        const len = (buf[pos]! << 16) | (buf[pos + 1]! << 8) | buf[pos + 2]!;
        // We never raise SETTINGS_MAX_FRAME_SIZE above its floor.
        if (len > MIN_MAX_FRAME) throw new ConnectionError(ErrorCode.FRAME_SIZE_ERROR, `frame of ${len} bytes`);
        if (buf.length - pos - FRAME_HEADER < len) break;
        const start = pos + FRAME_HEADER;
        this.#frame(buf[pos + 3]!, buf[pos + 4]!, buf.readUInt32BE(pos + 5) & 0x7fffffff, buf, start, start + len);
        pos = start + len;
        if (this.#closed) return;
      }
    } catch (e) {
      if (e instanceof ConnectionError) return this.#connectionError(e.code, e.message);
      throw e;
    }
    // What remains is at most one frame's worth: copied, so the read's buffer is not kept.
    if (pos < buf.length) this.#rest = Buffer.from(buf.subarray(pos));
  }

  #frame(type: number, flags: number, id: number, buf: Buffer, start: number, end: number): void {
    if (!this.#settingsSeen && type !== FrameType.SETTINGS) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'the first frame is not SETTINGS');
    if (this.#continuation && type !== FrameType.CONTINUATION) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'a header block interrupted');
    switch (type) {
      case FrameType.DATA:
        return this.#onDataFrame(flags, id, buf, start, end);
      case FrameType.HEADERS:
        return this.#onHeadersFrame(flags, id, buf, start, end);
      case FrameType.PRIORITY:
        if (id === 0) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'PRIORITY on stream 0');
        if (end - start !== 5) return this.#streamError(id, ErrorCode.FRAME_SIZE_ERROR);
        return;
      case FrameType.RST_STREAM:
        return this.#onReset(id, end - start);
      case FrameType.SETTINGS:
        return this.#onSettings(flags, id, buf, start, end);
      case FrameType.PUSH_PROMISE:
        throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'PUSH_PROMISE from a client');
      case FrameType.PING:
        if (id !== 0) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'PING on a stream');
        if (end - start !== 8) throw new ConnectionError(ErrorCode.FRAME_SIZE_ERROR, 'PING not 8 bytes');
        if (!(flags & Flag.ACK)) this.#queueControl(frame(FrameType.PING, Flag.ACK, 0, buf, start, end));
        return;
      case FrameType.GOAWAY:
        if (id !== 0) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'GOAWAY on a stream');
        if (end - start < 8) throw new ConnectionError(ErrorCode.FRAME_SIZE_ERROR, 'GOAWAY under 8 bytes');
        this.#peerGoaway = true;
        return this.#closeIfDone();
      case FrameType.WINDOW_UPDATE:
        return this.#onWindowUpdate(id, buf, start, end);
      case FrameType.CONTINUATION:
        return this.#onContinuation(flags, id, buf, start, end);
      default:
        // Unknown frame types are ignored (RFC 9113 4.1).
        return;
    }
  }

  /** The payload without its padding (RFC 9113 6.1, 6.2). */
  #unpad(flags: number, buf: Buffer, start: number, end: number): number {
    if (!(flags & Flag.PADDED)) return end;
    if (start >= end) throw new ConnectionError(ErrorCode.FRAME_SIZE_ERROR, 'padded frame without a pad length');
    const pad = buf[start]!;
    if (pad >= end - start) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'padding longer than the payload');
    return end - pad;
  }

  #onDataFrame(flags: number, id: number, buf: Buffer, start: number, end: number): void {
    if (id === 0) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'DATA on stream 0');
    const flow = end - start;
    const dataEnd = this.#unpad(flags, buf, start, end);
    const dataStart = flags & Flag.PADDED ? start + 1 : start;
    // The whole frame counts against both windows, padding included.
    this.#recvWindow -= flow;
    if (this.#recvWindow < 0) throw new ConnectionError(ErrorCode.FLOW_CONTROL_ERROR, 'connection window exceeded');
    this.#recvUnacked += flow;
    const st = this.#streams.get(id);
    if (!st || st.remoteEnded) {
      if (id > this.#lastStream) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'DATA on an idle stream');
      if (!this.#resetByUs.includes(id)) this.#streamError(id, ErrorCode.STREAM_CLOSED);
      this.#ackConnection();
      return;
    }
    st.recvWindow -= flow;
    if (st.recvWindow < 0) {
      this.#ackConnection();
      return this.#streamError(id, ErrorCode.FLOW_CONTROL_ERROR);
    }
    const endStream = (flags & Flag.END_STREAM) !== 0;
    const n = dataEnd - dataStart;
    st.received += n;
    if (st.contentLength >= 0 && (st.received > st.contentLength || (endStream && st.received !== st.contentLength))) {
      this.#ackConnection();
      return this.#streamError(id, ErrorCode.PROTOCOL_ERROR);
    }
    if (endStream) st.remoteEnded = true;
    else st.unacked += flow;
    this.#ackConnection();
    if (st.active) {
      if (n > 0 || endStream) st.active.decodeData(n > 0 ? Buffer.from(buf.subarray(dataStart, dataEnd)) : EMPTY, endStream);
      if (!endStream) this.ackStream(st);
    }
    if (endStream) this.#maybeClose(st);
  }

  /** Re-opens the connection window once half of it is used. */
  #ackConnection(): void {
    if (this.#recvUnacked < CONNECTION_WINDOW / 2) return;
    this.#queue(frameU32(FrameType.WINDOW_UPDATE, 0, this.#recvUnacked));
    this.#recvWindow += this.#recvUnacked;
    this.#recvUnacked = 0;
  }

  /** Re-opens a stream's window once half of it is used, unless the stream stopped reading. */
  ackStream(st: H2Stream): void {
    if (st.readDisabled || st.remoteEnded || st.unacked < DEFAULT_WINDOW / 2 || st.closed) return;
    this.#queue(frameU32(FrameType.WINDOW_UPDATE, st.id, st.unacked));
    st.recvWindow += st.unacked;
    st.unacked = 0;
  }

  #onHeadersFrame(flags: number, id: number, buf: Buffer, start: number, end: number): void {
    if (id === 0) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'HEADERS on stream 0');
    const blockEnd = this.#unpad(flags, buf, start, end);
    let blockStart = flags & Flag.PADDED ? start + 1 : start;
    if (flags & Flag.PRIORITY) {
      if (blockEnd - blockStart < 5) throw new ConnectionError(ErrorCode.FRAME_SIZE_ERROR, 'HEADERS priority truncated');
      if ((buf.readUInt32BE(blockStart) & 0x7fffffff) === id) return this.#streamError(id, ErrorCode.PROTOCOL_ERROR);
      blockStart += 5;
    }
    if (flags & Flag.END_HEADERS) return this.#onHeaderBlock(id, flags, buf, blockStart, blockEnd);
    const part = Buffer.from(buf.subarray(blockStart, blockEnd));
    this.#continuation = { stream: id, flags, parts: [part], size: part.length };
  }

  #onContinuation(flags: number, id: number, buf: Buffer, start: number, end: number): void {
    const c = this.#continuation;
    if (!c || c.stream !== id) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'CONTINUATION without HEADERS');
    c.size += end - start;
    // A block far past the header limit is a flood (CVE-2024-27316 and kin), not a request.
    if (c.size > 2 * this.#hcm.maxRequestHeadersBytes + 65536) throw new ConnectionError(ErrorCode.ENHANCE_YOUR_CALM, 'header block too large');
    c.parts.push(Buffer.from(buf.subarray(start, end)));
    if (!(flags & Flag.END_HEADERS)) return;
    this.#continuation = undefined;
    const block = Buffer.concat(c.parts, c.size);
    this.#onHeaderBlock(id, c.flags, block, 0, block.length);
  }

  #onHeaderBlock(id: number, flags: number, buf: Buffer, start: number, end: number): void {
    const existing = this.#streams.get(id);
    const fields = new RequestFields(existing !== undefined);
    try {
      // Always decoded, even for a stream about to be refused: the table must stay in step.
      this.#decoder.decode(buf, start, end, fields.add);
    } catch (e) {
      if (e instanceof HpackError) throw new ConnectionError(ErrorCode.COMPRESSION_ERROR, e.message);
      throw e;
    }
    const endStream = (flags & Flag.END_STREAM) !== 0;
    if (existing) return this.#onTrailers(existing, fields, endStream);
    if (id <= this.#lastStream) {
      if (this.#resetByUs.includes(id)) return;
      throw new ConnectionError(ErrorCode.STREAM_CLOSED, 'HEADERS on a closed stream');
    }
    if ((id & 1) === 0) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'a client stream with an even id');
    this.#lastStream = id;
    const hcm = this.#hcm;
    if (this.#goawaySent || this.#peerGoaway) return this.#streamError(id, ErrorCode.REFUSED_STREAM);
    if (this.#streams.size >= hcm.maxConcurrentStreams) return this.#streamError(id, ErrorCode.REFUSED_STREAM);
    const malformed = fields.finishRequest();
    if (malformed) {
      hcm.stats.cxProtocolError.inc();
      return this.#streamError(id, ErrorCode.PROTOCOL_ERROR);
    }
    const st = new H2Stream(this, id);
    st.remoteEnded = endStream;
    st.contentLength = fields.contentLength;
    if (endStream && st.contentLength > 0) return this.#streamError(id, ErrorCode.PROTOCOL_ERROR);
    this.#streams.set(id, st);
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

  #onTrailers(st: H2Stream, fields: RequestFields, endStream: boolean): void {
    if (st.remoteEnded) throw new ConnectionError(ErrorCode.STREAM_CLOSED, 'HEADERS after the end of the stream');
    if (!endStream || fields.error) return this.#streamError(st.id, ErrorCode.PROTOCOL_ERROR);
    if (st.contentLength >= 0 && st.received !== st.contentLength) return this.#streamError(st.id, ErrorCode.PROTOCOL_ERROR);
    st.remoteEnded = true;
    st.active?.decodeTrailers(fields.headers);
    this.#maybeClose(st);
  }

  #localReply(st: H2Stream, status: number): void {
    // The request is not read: the stream ends with our answer (and a reset if its body was coming).
    this.writeHeaders(st, status, new Map([['content-length', '0'], ['server', this.#hcm.serverName]]), true);
    if (!st.remoteEnded) this.#streamError(st.id, ErrorCode.NO_ERROR);
  }

  #onReset(id: number, len: number): void {
    if (id === 0) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'RST_STREAM on stream 0');
    if (len !== 4) throw new ConnectionError(ErrorCode.FRAME_SIZE_ERROR, 'RST_STREAM not 4 bytes');
    if (id > this.#lastStream) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'RST_STREAM on an idle stream');
    const st = this.#streams.get(id);
    if (!st) return;
    const hcm = this.#hcm;
    hcm.stats.h2RxReset.inc();
    this.#close(st);
    const now = Date.now();
    if (now - this.#resetWindowStart > hcm.resetWindowMs) {
      this.#resetWindowStart = now;
      this.#resets = 0;
    }
    // CVE-2023-44487: streams opened and reset at once cost us a request each.
    if (++this.#resets > hcm.maxResetsPerWindow && !this.#goawaySent) {
      hcm.stats.h2RapidResetGoaway.inc();
      this.goaway(ErrorCode.ENHANCE_YOUR_CALM);
      this.#destroy();
    }
  }

  #onSettings(flags: number, id: number, buf: Buffer, start: number, end: number): void {
    if (id !== 0) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'SETTINGS on a stream');
    if (flags & Flag.ACK) {
      if (end !== start) throw new ConnectionError(ErrorCode.FRAME_SIZE_ERROR, 'SETTINGS ACK with a payload');
      return;
    }
    if ((end - start) % 6 !== 0) throw new ConnectionError(ErrorCode.FRAME_SIZE_ERROR, 'SETTINGS not a multiple of 6 bytes');
    this.#settingsSeen = true;
    for (let p = start; p < end; p += 6) {
      const key = buf.readUInt16BE(p);
      const v = buf.readUInt32BE(p + 2);
      if (key === Setting.ENABLE_PUSH && v > 1) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'SETTINGS_ENABLE_PUSH not 0 or 1');
      if (key === Setting.INITIAL_WINDOW_SIZE) {
        if (v > MAX_WINDOW) throw new ConnectionError(ErrorCode.FLOW_CONTROL_ERROR, 'SETTINGS_INITIAL_WINDOW_SIZE above 2^31-1');
        const delta = v - this.peerInitialWindow;
        this.peerInitialWindow = v;
        for (const st of this.#streams.values()) {
          st.sendWindow += delta;
          if (st.sendWindow > MAX_WINDOW) throw new ConnectionError(ErrorCode.FLOW_CONTROL_ERROR, 'a stream window above 2^31-1');
        }
      } else if (key === Setting.MAX_FRAME_SIZE) {
        if (v < MIN_MAX_FRAME || v > MAX_MAX_FRAME) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'SETTINGS_MAX_FRAME_SIZE out of range');
        this.#peerMaxFrame = v;
      }
      // HEADER_TABLE_SIZE: our encoder never uses the dynamic table. Unknown settings are ignored.
    }
    this.#queueControl(frame(FrameType.SETTINGS, Flag.ACK, 0));
    for (const st of this.#streams.values()) if (st.pending.length) this.#sendPending(st);
  }

  #onWindowUpdate(id: number, buf: Buffer, start: number, end: number): void {
    if (end - start !== 4) throw new ConnectionError(ErrorCode.FRAME_SIZE_ERROR, 'WINDOW_UPDATE not 4 bytes');
    const inc = buf.readUInt32BE(start) & 0x7fffffff;
    if (id === 0) {
      if (inc === 0) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'WINDOW_UPDATE of 0');
      this.#sendWindow += inc;
      if (this.#sendWindow > MAX_WINDOW) throw new ConnectionError(ErrorCode.FLOW_CONTROL_ERROR, 'connection window above 2^31-1');
      for (const st of this.#streams.values()) if (st.pending.length) this.#sendPending(st);
      return;
    }
    if (id > this.#lastStream) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'WINDOW_UPDATE on an idle stream');
    const st = this.#streams.get(id);
    if (!st) return;
    if (inc === 0) return this.#streamError(id, ErrorCode.PROTOCOL_ERROR);
    st.sendWindow += inc;
    if (st.sendWindow > MAX_WINDOW) return this.#streamError(id, ErrorCode.FLOW_CONTROL_ERROR);
    if (st.pending.length) this.#sendPending(st);
  }

  // ---------- writing (H2Stream calls these) ----------

  writeHeaders(st: H2Stream, status: number, headers: HeaderMap, endStream: boolean): void {
    if (st.closed) return;
    const enc = this.#encoder;
    enc.begin();
    enc.status(status);
    for (const [k, v] of headers) {
      // Connection-specific fields may not appear in HTTP/2 (RFC 9113 8.2.2).
      if (k.charCodeAt(0) === 58 || k === 'connection' || k === 'keep-alive' || k === 'proxy-connection' || k === 'transfer-encoding' || k === 'upgrade' || k === 'http2-settings') continue;
      if (typeof v === 'string') enc.field(k, v);
      else for (const x of v) enc.field(k, x);
    }
    this.#headerFrames(st.id, endStream, enc.end());
    if (endStream) this.#localEnd(st);
  }

  writeTrailers(st: H2Stream, trailers: HeaderMap): void {
    if (st.closed) return;
    if (st.pending.length) {
      st.pendingTrailers = trailers;
      return;
    }
    const enc = this.#encoder;
    enc.begin();
    for (const [k, v] of trailers) {
      if (k.charCodeAt(0) === 58) continue;
      if (typeof v === 'string') enc.field(k, v);
      else for (const x of v) enc.field(k, x);
    }
    this.#headerFrames(st.id, true, enc.end());
    this.#localEnd(st);
  }

  /** A header block as HEADERS plus CONTINUATIONs when it exceeds the peer's frame size. */
  #headerFrames(id: number, endStream: boolean, block: Buffer): void {
    const max = this.#peerMaxFrame;
    const es = endStream ? Flag.END_STREAM : 0;
    if (block.length <= max) return this.#queue(frame(FrameType.HEADERS, Flag.END_HEADERS | es, id, block));
    this.#queue(frame(FrameType.HEADERS, es, id, block, 0, max));
    for (let off = max; off < block.length; off += max) {
      const last = off + max >= block.length;
      this.#queue(frame(FrameType.CONTINUATION, last ? Flag.END_HEADERS : 0, id, block, off, Math.min(off + max, block.length)));
    }
  }

  /** Returns false while the stream or the socket is backed up; the stream hears onCodecDrain later. */
  writeData(st: H2Stream, chunk: Buffer, endStream: boolean): boolean {
    if (st.closed) return true;
    if (st.pending.length || chunk.length > Math.min(st.sendWindow, this.#sendWindow)) {
      st.pending.push(chunk);
      if (endStream) st.pendingEnd = true;
      this.#sendPending(st);
    } else this.#dataFrames(st, chunk, endStream);
    if (st.pending.length || this.#congested) {
      this.#waitingDrain.add(st);
      return false;
    }
    return true;
  }

  #dataFrames(st: H2Stream, chunk: Buffer, endStream: boolean): void {
    const max = this.#peerMaxFrame;
    let off = 0;
    do {
      const n = Math.min(chunk.length - off, max);
      const last = off + n === chunk.length;
      this.#queue(frame(FrameType.DATA, last && endStream ? Flag.END_STREAM : 0, st.id, chunk, off, off + n));
      off += n;
    } while (off < chunk.length);
    st.sendWindow -= chunk.length;
    this.#sendWindow -= chunk.length;
    if (endStream) this.#localEnd(st);
  }

  /** Sends what the windows allow of a stream's queued body, then its trailers once all is out. */
  #sendPending(st: H2Stream): void {
    while (st.pending.length) {
      const room = Math.min(st.sendWindow, this.#sendWindow);
      if (room <= 0) return;
      const c = st.pending[0]!;
      if (c.length <= room) {
        st.pending.shift();
        this.#dataFrames(st, c, st.pending.length === 0 && st.pendingEnd);
      } else {
        st.pending[0] = c.subarray(room);
        this.#dataFrames(st, c.subarray(0, room), false);
      }
    }
    if (st.pendingTrailers) {
      const t = st.pendingTrailers;
      st.pendingTrailers = undefined;
      this.writeTrailers(st, t);
    }
    if (!this.#congested && this.#waitingDrain.delete(st)) st.active?.onCodecDrain();
  }

  resetStream(st: H2Stream, code: number): void {
    if (!st.closed) this.#streamError(st.id, code);
  }

  // ---------- stream and connection ends ----------

  #localEnd(st: H2Stream): void {
    st.localEnded = true;
    this.#maybeClose(st);
  }

  #maybeClose(st: H2Stream): void {
    if (st.localEnded && st.remoteEnded) this.#close(st);
  }

  #close(st: H2Stream): void {
    if (st.closed) return;
    st.closed = true;
    this.#streams.delete(st.id);
    this.#waitingDrain.delete(st);
    // After the current call returns, as node's 'close' event was: the stream may be mid-write.
    if (st.active) process.nextTick(closeActive, st.active);
    if (this.#hcm.ctx.draining()) this.goaway(ErrorCode.NO_ERROR);
    this.#closeIfDone();
    if (this.#streams.size === 0) this.#idleSince = this.#hcm.clock.now();
  }

  #streamError(id: number, code: number): void {
    this.#queue(frameU32(FrameType.RST_STREAM, id, code));
    this.#resetByUs.push(id);
    if (this.#resetByUs.length > RECENT_RESETS) this.#resetByUs.shift();
    const st = this.#streams.get(id);
    if (st) this.#close(st);
  }

  #connectionError(code: number, _reason: string): void {
    this.#hcm.stats.cxProtocolError.inc();
    this.goaway(code);
    this.#destroy();
  }

  /** GOAWAY once; with NO_ERROR the streams already open finish and then the connection closes. */
  goaway(code: number): void {
    if (this.#goawaySent || this.#closed) return;
    this.#goawaySent = true;
    const stats = this.#hcm.stats;
    stats.h2GoawaySent.inc();
    if (code === ErrorCode.NO_ERROR) stats.cxDrainClose.inc();
    this.#queue(goawayFrame(this.#lastStream, code));
    this.#closeIfDone();
  }

  #closeIfDone(): void {
    if ((this.#goawaySent || this.#peerGoaway) && this.#streams.size === 0 && !this.#closed) {
      this.#flush();
      this.#closed = true;
      this.#socket.end();
    }
  }

  /**
   * The connection's idle_timeout: GOAWAY after that long with no stream open. One timer, re-armed
   * only when it fires, rather than one per stream.
   */
  #armIdle(after = this.#hcm.idleTimeoutMs): void {
    if (this.#hcm.idleTimeoutMs <= 0 || this.#closed) return;
    this.#idle = this.#hcm.clock.after(after, () => {
      this.#idle = undefined;
      const ms = this.#hcm.idleTimeoutMs;
      const idleFor = this.#hcm.clock.now() - this.#idleSince;
      if (this.#streams.size === 0 && idleFor >= ms) this.goaway(ErrorCode.NO_ERROR);
      else this.#armIdle(this.#streams.size === 0 ? ms - idleFor : ms);
    });
  }

  #destroy(): void {
    this.#flush();
    this.#closed = true;
    // end() first so the GOAWAY leaves; destroy if the peer does not close within a moment.
    this.#socket.end();
    setTimeout(() => this.#socket.destroy(), 1000).unref();
    this.#onClose();
  }

  #onClose(): void {
    this.#closed = true;
    this.#idle?.cancel();
    this.#idle = undefined;
    for (const st of [...this.#streams.values()]) this.#close(st);
  }

  #onDrain(): void {
    this.#congested = false;
    for (const st of [...this.#waitingDrain]) {
      if (st.pending.length) continue;
      this.#waitingDrain.delete(st);
      st.active?.onCodecDrain();
    }
  }

  // ---------- the write queue ----------

  #queue(b: Buffer): void {
    this.#out.push(b);
    if (!this.#flushQueued) {
      this.#flushQueued = true;
      process.nextTick(flushSession, this);
    }
  }

  /** Control frames the peer provokes (PING, SETTINGS): a peer that never reads is cut off. */
  #queueControl(b: Buffer): void {
    if (this.#socket.writableLength > MAX_QUEUED) throw new ConnectionError(ErrorCode.ENHANCE_YOUR_CALM, 'the peer does not read');
    this.#queue(b);
  }

  flush(): void {
    this.#flushQueued = false;
    this.#flush();
  }

  #flush(): void {
    const out = this.#out;
    if (out.length === 0 || this.#socket.destroyed || this.#socket.writableEnded) return;
    this.#out = [];
    if (!this.#socket.write(out.length === 1 ? out[0]! : Buffer.concat(out))) this.#congested = true;
  }
}

const EMPTY = Buffer.alloc(0);

function flushSession(s: H2ServerSession): void {
  s.flush();
}

function closeActive(a: ActiveStream): void {
  a.onCodecReset();
}
