/**
 * What both ends of an HTTP/2 connection do (RFC 9113), shared by the downstream server session
 * (./server_session.ts) and the upstream client session (../../upstream/http2/client_session.ts):
 * frames parsed where they lie in each read, every frame of one event-loop turn in one socket
 * write, SETTINGS, PING, WINDOW_UPDATE and flow control both ways, header blocks with their
 * CONTINUATIONs, padding, and GOAWAY. A subclass says what a header block, a DATA frame for a
 * stream it does not know, a reset and a GOAWAY mean on its side.
 *
 * Connection errors send GOAWAY and close; stream errors reset the stream.
 */
import type { Socket } from 'node:net';
import type { HeaderMap } from '../../interfaces.ts';
import { HpackDecoder, HpackEncoder, HpackError } from './hpack.ts';
import { DEFAULT_WINDOW, ErrorCode, Flag, frame, FRAME_HEADER, frameU32, FrameType, goawayFrame, MAX_MAX_FRAME, MAX_WINDOW, MIN_MAX_FRAME, PREFACE, Setting, settingsFrame } from './frame.ts';

/** The connection-level receive window we keep open (stream windows stay at the default). */
const CONNECTION_WINDOW = 1 << 20;
/** Above this many bytes queued in the socket, a peer that provokes control frames and never reads is cut off. */
const MAX_QUEUED = 16 << 20;
/** Streams we reset are remembered this long (by count), so their in-flight frames are ignored. */
const RECENT_RESETS = 128;
const EMPTY = Buffer.alloc(0);

export class ConnectionError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

/** One stream's flow-control and end-of-stream state. */
export class StreamState {
  /** What the peer lets us send on this stream. */
  sendWindow: number;
  /** What we let the peer send, and what it sent that we have not re-opened yet. */
  recvWindow = DEFAULT_WINDOW;
  unacked = 0;
  /** Body bytes received so far, against a declared content-length (-1: none or not checked). */
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
    readonly id: number,
    initialWindow: number,
  ) {
    this.sendWindow = initialWindow;
  }
}

export abstract class Http2Session<S extends StreamState> {
  protected readonly socket: Socket;
  protected readonly decoder: HpackDecoder;
  protected readonly encoder = new HpackEncoder();
  protected readonly streams = new Map<number, S>();
  /** The highest stream id the peer opened (server) or we opened (client). */
  protected lastStream = 0;
  protected goawaySent = false;
  protected peerGoaway = false;
  protected closed = false;
  peerInitialWindow = DEFAULT_WINDOW;
  /** SETTINGS_MAX_CONCURRENT_STREAMS from the peer; undefined until it names one. */
  protected peerMaxStreams: number | undefined;
  readonly #resetByUs: number[] = [];
  readonly #waitingDrain = new Set<S>();
  readonly #isServer: boolean;
  #rest: Buffer | undefined;
  #prefaceSeen: boolean;
  #settingsSeen = false;
  #out: Buffer[] = [];
  #flushQueued = false;
  #congested = false;
  #sendWindow = DEFAULT_WINDOW;
  #peerMaxFrame = MIN_MAX_FRAME;
  #recvWindow = CONNECTION_WINDOW;
  #recvUnacked = 0;
  #continuation: { stream: number; flags: number; parts: Buffer[]; size: number } | undefined;
  readonly #maxHeaderBlock: number;

  constructor(socket: Socket, isServer: boolean, settings: [number, number][], maxHeaderBlock: number) {
    this.socket = socket;
    this.#isServer = isServer;
    this.#prefaceSeen = !isServer;
    this.#maxHeaderBlock = maxHeaderBlock;
    this.decoder = new HpackDecoder(4096);
    if (!isServer) this.queue(PREFACE);
    this.queue(settingsFrame(settings));
    this.queue(frameU32(FrameType.WINDOW_UPDATE, 0, CONNECTION_WINDOW - DEFAULT_WINDOW));
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('close', () => this.#onClose());
    socket.on('drain', () => this.#onDrain());
  }

  // ---------- what a side decides ----------

  /** A complete header block for stream `id` (HEADERS plus any CONTINUATIONs). */
  protected abstract onHeaderBlock(id: number, flags: number, buf: Buffer, start: number, end: number): void;
  /** Body bytes for a known stream (already counted against the windows and content-length). */
  protected abstract onStreamData(st: S, chunk: Buffer, endStream: boolean): void;
  /** The stream ended both ways or was reset (by either side); it is out of `streams` already. */
  protected abstract onStreamClosed(st: S, resetCode: number | undefined, byPeer: boolean): void;
  /** The peer's GOAWAY. */
  protected abstract onGoaway(lastStreamId: number, code: number): void;
  /** After each SETTINGS from the peer (the first one completes the client's connection). */
  protected onSettings(_first: boolean): void {}
  /** The socket closed; every stream has been closed before this is called. */
  protected onSocketClosed(): void {}

  // ---------- reading ----------

  #onData(chunk: Buffer): void {
    if (this.closed) return;
    const buf = this.#rest ? Buffer.concat([this.#rest, chunk]) : chunk;
    this.#rest = undefined;
    let pos = 0;
    try {
      if (!this.#prefaceSeen) {
        const n = Math.min(buf.length, PREFACE.length);
        if (buf.compare(PREFACE, 0, n, 0, n) !== 0) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'not the HTTP/2 connection preface');
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
        if (this.closed) return;
      }
    } catch (e) {
      if (e instanceof ConnectionError) return this.connectionError(e.code, e.message);
      throw e;
    }
    // What remains is under one frame: copied, so the read's buffer is not kept.
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
        if (end - start !== 5) return this.streamError(id, ErrorCode.FRAME_SIZE_ERROR);
        return;
      case FrameType.RST_STREAM:
        return this.#onReset(id, buf, start, end);
      case FrameType.SETTINGS:
        return this.#onSettings(flags, id, buf, start, end);
      case FrameType.PUSH_PROMISE:
        // Servers never receive it; we tell servers SETTINGS_ENABLE_PUSH 0.
        throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'PUSH_PROMISE');
      case FrameType.PING:
        if (id !== 0) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'PING on a stream');
        if (end - start !== 8) throw new ConnectionError(ErrorCode.FRAME_SIZE_ERROR, 'PING not 8 bytes');
        if (!(flags & Flag.ACK)) this.#queueControl(frame(FrameType.PING, Flag.ACK, 0, buf, start, end));
        return;
      case FrameType.GOAWAY:
        if (id !== 0) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'GOAWAY on a stream');
        if (end - start < 8) throw new ConnectionError(ErrorCode.FRAME_SIZE_ERROR, 'GOAWAY under 8 bytes');
        this.peerGoaway = true;
        return this.onGoaway(buf.readUInt32BE(start) & 0x7fffffff, buf.readUInt32BE(start + 4));
      case FrameType.WINDOW_UPDATE:
        return this.#onWindowUpdate(id, buf, start, end);
      case FrameType.CONTINUATION:
        return this.#onContinuation(flags, id, buf, start, end);
      default:
        // Unknown frame types are ignored (RFC 9113 4.1).
        return;
    }
  }

  /** The payload's end without its padding (RFC 9113 6.1, 6.2). */
  #unpad(flags: number, buf: Buffer, start: number, end: number): number {
    if (!(flags & Flag.PADDED)) return end;
    if (start >= end) throw new ConnectionError(ErrorCode.FRAME_SIZE_ERROR, 'padded frame without a pad length');
    const pad = buf[start]!;
    if (pad >= end - start) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'padding longer than the payload');
    return end - pad;
  }

  /** A stream id at or below the highest opened, not open now: closed, or reset by us a moment ago. */
  protected wasReset(id: number): boolean {
    return this.#resetByUs.includes(id);
  }

  /** Whether `id` names a stream that was never opened (RFC 9113 5.1 idle). */
  protected isIdle(id: number): boolean {
    return id > this.lastStream;
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
    this.#ackConnection();
    const st = this.streams.get(id);
    if (!st || st.remoteEnded) {
      if (this.isIdle(id)) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'DATA on an idle stream');
      if (!this.wasReset(id)) this.streamError(id, ErrorCode.STREAM_CLOSED);
      return;
    }
    st.recvWindow -= flow;
    if (st.recvWindow < 0) return this.streamError(id, ErrorCode.FLOW_CONTROL_ERROR);
    const endStream = (flags & Flag.END_STREAM) !== 0;
    const n = dataEnd - dataStart;
    st.received += n;
    if (st.contentLength >= 0 && (st.received > st.contentLength || (endStream && st.received !== st.contentLength))) return this.streamError(id, ErrorCode.PROTOCOL_ERROR);
    if (endStream) st.remoteEnded = true;
    else st.unacked += flow;
    if (n > 0 || endStream) this.onStreamData(st, n > 0 ? Buffer.from(buf.subarray(dataStart, dataEnd)) : EMPTY, endStream);
    if (endStream) this.maybeClose(st);
    else this.ackStream(st);
  }

  /** Re-opens the connection window once half of it is used. */
  #ackConnection(): void {
    if (this.#recvUnacked < CONNECTION_WINDOW / 2) return;
    this.queue(frameU32(FrameType.WINDOW_UPDATE, 0, this.#recvUnacked));
    this.#recvWindow += this.#recvUnacked;
    this.#recvUnacked = 0;
  }

  /** Re-opens a stream's window once half of it is used, unless the stream stopped reading. */
  ackStream(st: S): void {
    if (st.readDisabled || st.remoteEnded || st.closed || st.unacked < DEFAULT_WINDOW / 2) return;
    this.queue(frameU32(FrameType.WINDOW_UPDATE, st.id, st.unacked));
    st.recvWindow += st.unacked;
    st.unacked = 0;
  }

  #onHeadersFrame(flags: number, id: number, buf: Buffer, start: number, end: number): void {
    if (id === 0) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'HEADERS on stream 0');
    const blockEnd = this.#unpad(flags, buf, start, end);
    let blockStart = flags & Flag.PADDED ? start + 1 : start;
    if (flags & Flag.PRIORITY) {
      if (blockEnd - blockStart < 5) throw new ConnectionError(ErrorCode.FRAME_SIZE_ERROR, 'HEADERS priority truncated');
      if ((buf.readUInt32BE(blockStart) & 0x7fffffff) === id) return this.streamError(id, ErrorCode.PROTOCOL_ERROR);
      blockStart += 5;
    }
    if (flags & Flag.END_HEADERS) return this.onHeaderBlock(id, flags, buf, blockStart, blockEnd);
    const part = Buffer.from(buf.subarray(blockStart, blockEnd));
    this.#continuation = { stream: id, flags, parts: [part], size: part.length };
  }

  #onContinuation(flags: number, id: number, buf: Buffer, start: number, end: number): void {
    const c = this.#continuation;
    if (!c || c.stream !== id) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'CONTINUATION without HEADERS');
    c.size += end - start;
    // A block far past the header limit is a flood (CVE-2024-27316 and kin), not a message.
    if (c.size > this.#maxHeaderBlock) throw new ConnectionError(ErrorCode.ENHANCE_YOUR_CALM, 'header block too large');
    c.parts.push(Buffer.from(buf.subarray(start, end)));
    if (!(flags & Flag.END_HEADERS)) return;
    this.#continuation = undefined;
    const block = Buffer.concat(c.parts, c.size);
    this.onHeaderBlock(id, c.flags, block, 0, block.length);
  }

  /**
   * A header block after the head: trailers must end the stream, be well formed and come after
   * a body that matches its content-length. False when they do not (the stream is reset).
   */
  protected acceptTrailers(st: S, malformed: boolean, endStream: boolean): boolean {
    if (st.remoteEnded) throw new ConnectionError(ErrorCode.STREAM_CLOSED, 'HEADERS after the end of the stream');
    if (!endStream || malformed || (st.contentLength >= 0 && st.received !== st.contentLength)) {
      this.streamError(st.id, ErrorCode.PROTOCOL_ERROR);
      return false;
    }
    st.remoteEnded = true;
    return true;
  }

  /** Decodes a header block into `add` (always, even for a stream about to be refused: the table must stay in step). */
  protected decodeBlock(buf: Buffer, start: number, end: number, add: (name: string, value: string) => void): void {
    try {
      this.decoder.decode(buf, start, end, add);
    } catch (e) {
      if (e instanceof HpackError) throw new ConnectionError(ErrorCode.COMPRESSION_ERROR, e.message);
      throw e;
    }
  }

  #onReset(id: number, buf: Buffer, start: number, end: number): void {
    if (id === 0) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'RST_STREAM on stream 0');
    if (end - start !== 4) throw new ConnectionError(ErrorCode.FRAME_SIZE_ERROR, 'RST_STREAM not 4 bytes');
    if (this.isIdle(id)) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'RST_STREAM on an idle stream');
    const st = this.streams.get(id);
    if (st) this.closeStream(st, buf.readUInt32BE(start), true);
  }

  #onSettings(flags: number, id: number, buf: Buffer, start: number, end: number): void {
    if (id !== 0) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'SETTINGS on a stream');
    if (flags & Flag.ACK) {
      if (end !== start) throw new ConnectionError(ErrorCode.FRAME_SIZE_ERROR, 'SETTINGS ACK with a payload');
      return;
    }
    if ((end - start) % 6 !== 0) throw new ConnectionError(ErrorCode.FRAME_SIZE_ERROR, 'SETTINGS not a multiple of 6 bytes');
    const first = !this.#settingsSeen;
    this.#settingsSeen = true;
    for (let p = start; p < end; p += 6) {
      const key = buf.readUInt16BE(p);
      const v = buf.readUInt32BE(p + 2);
      if (key === Setting.ENABLE_PUSH && v > 1) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'SETTINGS_ENABLE_PUSH not 0 or 1');
      if (key === Setting.INITIAL_WINDOW_SIZE) {
        if (v > MAX_WINDOW) throw new ConnectionError(ErrorCode.FLOW_CONTROL_ERROR, 'SETTINGS_INITIAL_WINDOW_SIZE above 2^31-1');
        const delta = v - this.peerInitialWindow;
        this.peerInitialWindow = v;
        for (const st of this.streams.values()) {
          st.sendWindow += delta;
          if (st.sendWindow > MAX_WINDOW) throw new ConnectionError(ErrorCode.FLOW_CONTROL_ERROR, 'a stream window above 2^31-1');
        }
      } else if (key === Setting.MAX_FRAME_SIZE) {
        if (v < MIN_MAX_FRAME || v > MAX_MAX_FRAME) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'SETTINGS_MAX_FRAME_SIZE out of range');
        this.#peerMaxFrame = v;
      } else if (key === Setting.MAX_CONCURRENT_STREAMS) this.peerMaxStreams = v;
      // HEADER_TABLE_SIZE: our encoder never uses the dynamic table. Unknown settings are ignored.
    }
    this.#queueControl(frame(FrameType.SETTINGS, Flag.ACK, 0));
    for (const st of this.streams.values()) if (st.pending.length) this.#sendPending(st);
    this.onSettings(first);
  }

  #onWindowUpdate(id: number, buf: Buffer, start: number, end: number): void {
    if (end - start !== 4) throw new ConnectionError(ErrorCode.FRAME_SIZE_ERROR, 'WINDOW_UPDATE not 4 bytes');
    const inc = buf.readUInt32BE(start) & 0x7fffffff;
    if (id === 0) {
      if (inc === 0) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'WINDOW_UPDATE of 0');
      this.#sendWindow += inc;
      if (this.#sendWindow > MAX_WINDOW) throw new ConnectionError(ErrorCode.FLOW_CONTROL_ERROR, 'connection window above 2^31-1');
      for (const st of this.streams.values()) if (st.pending.length) this.#sendPending(st);
      return;
    }
    if (this.isIdle(id)) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'WINDOW_UPDATE on an idle stream');
    const st = this.streams.get(id);
    if (!st) return;
    if (inc === 0) return this.streamError(id, ErrorCode.PROTOCOL_ERROR);
    st.sendWindow += inc;
    if (st.sendWindow > MAX_WINDOW) return this.streamError(id, ErrorCode.FLOW_CONTROL_ERROR);
    if (st.pending.length) this.#sendPending(st);
  }

  // ---------- writing ----------

  /** A header block (as the encoder holds it) as HEADERS plus CONTINUATIONs when it exceeds the peer's frame size. */
  protected headerFrames(id: number, endStream: boolean, block: Buffer): void {
    const max = this.#peerMaxFrame;
    const es = endStream ? Flag.END_STREAM : 0;
    if (block.length <= max) return this.queue(frame(FrameType.HEADERS, Flag.END_HEADERS | es, id, block));
    this.queue(frame(FrameType.HEADERS, es, id, block, 0, max));
    for (let off = max; off < block.length; off += max) {
      const last = off + max >= block.length;
      this.queue(frame(FrameType.CONTINUATION, last ? Flag.END_HEADERS : 0, id, block, off, Math.min(off + max, block.length)));
    }
  }

  /** Trailers end the stream; behind queued body they wait for it. */
  writeTrailers(st: S, trailers: HeaderMap): void {
    if (st.closed || st.localEnded) return;
    if (st.pending.length) {
      st.pendingTrailers = trailers;
      return;
    }
    const enc = this.encoder;
    enc.begin();
    enc.fields(trailers);
    this.headerFrames(st.id, true, enc.end());
    this.localEnd(st);
  }

  /** Returns false while the stream or the socket is backed up; the stream hears `onWritable` later. */
  writeData(st: S, chunk: Buffer, endStream: boolean): boolean {
    if (st.closed || st.localEnded) return true;
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

  /** A stream that got false from writeData may write again. */
  protected abstract onWritable(st: S): void;

  #dataFrames(st: S, chunk: Buffer, endStream: boolean): void {
    const max = this.#peerMaxFrame;
    let off = 0;
    do {
      const n = Math.min(chunk.length - off, max);
      const last = off + n === chunk.length;
      this.queue(frame(FrameType.DATA, last && endStream ? Flag.END_STREAM : 0, st.id, chunk, off, off + n));
      off += n;
    } while (off < chunk.length);
    st.sendWindow -= chunk.length;
    this.#sendWindow -= chunk.length;
    if (endStream) this.localEnd(st);
  }

  /** Sends what the windows allow of a stream's queued body, then its trailers once all is out. */
  #sendPending(st: S): void {
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
    if (!this.#congested && this.#waitingDrain.delete(st)) this.onWritable(st);
  }

  // ---------- stream and connection ends ----------

  protected localEnd(st: S): void {
    st.localEnded = true;
    this.maybeClose(st);
  }

  protected maybeClose(st: S): void {
    if (st.localEnded && st.remoteEnded) this.closeStream(st, undefined, false);
  }

  protected closeStream(st: S, resetCode: number | undefined, byPeer: boolean): void {
    if (st.closed) return;
    st.closed = true;
    this.streams.delete(st.id);
    this.#waitingDrain.delete(st);
    this.onStreamClosed(st, resetCode, byPeer);
  }

  /** RST_STREAM with `code`; the stream, if open, closes. */
  streamError(id: number, code: number): void {
    this.queue(frameU32(FrameType.RST_STREAM, id, code));
    this.#resetByUs.push(id);
    if (this.#resetByUs.length > RECENT_RESETS) this.#resetByUs.shift();
    const st = this.streams.get(id);
    if (st) this.closeStream(st, code, false);
  }

  /** GOAWAY with `code` and close; the open streams end as protocol errors, as Envoy's codec client resets them. */
  protected connectionError(code: number, _reason: string): void {
    this.goaway(code);
    for (const st of [...this.streams.values()]) this.closeStream(st, ErrorCode.PROTOCOL_ERROR, false);
    this.destroy();
  }

  /** GOAWAY once; with NO_ERROR the streams already open finish and then the connection closes. */
  goaway(code: number): void {
    if (this.goawaySent || this.closed) return;
    this.goawaySent = true;
    this.onGoawaySent(code);
    this.queue(goawayFrame(this.#isServer ? this.lastStream : 0, code));
    this.closeIfDone();
  }

  protected onGoawaySent(_code: number): void {}

  protected closeIfDone(): void {
    if ((this.goawaySent || this.peerGoaway) && this.streams.size === 0 && !this.closed) {
      this.flush();
      this.closed = true;
      this.socket.end();
    }
  }

  /** Sends what is queued, ends the socket (destroying it if the peer does not close soon) and closes every stream. */
  destroy(): void {
    this.flush();
    this.closed = true;
    this.socket.end();
    setTimeout(destroySocket, 1000, this.socket).unref();
    this.#onClose();
  }

  #onClose(): void {
    this.closed = true;
    for (const st of [...this.streams.values()]) this.closeStream(st, undefined, false);
    this.onSocketClosed();
  }

  #onDrain(): void {
    this.#congested = false;
    for (const st of [...this.#waitingDrain]) {
      if (st.pending.length) continue;
      this.#waitingDrain.delete(st);
      this.onWritable(st);
    }
  }

  // ---------- the write queue ----------

  protected queue(b: Buffer): void {
    this.#out.push(b);
    if (!this.#flushQueued) {
      this.#flushQueued = true;
      process.nextTick(flushSession, this);
    }
  }

  /** Control frames the peer provokes (PING, SETTINGS): a peer that never reads is cut off. */
  #queueControl(b: Buffer): void {
    if (this.socket.writableLength > MAX_QUEUED) throw new ConnectionError(ErrorCode.ENHANCE_YOUR_CALM, 'the peer does not read');
    this.queue(b);
  }

  flush(): void {
    this.#flushQueued = false;
    const out = this.#out;
    if (out.length === 0 || this.socket.destroyed || this.socket.writableEnded) return;
    this.#out = [];
    if (!this.socket.write(out.length === 1 ? out[0]! : Buffer.concat(out))) this.#congested = true;
  }
}

function flushSession(s: Http2Session<StreamState>): void {
  s.flush();
}

function destroySocket(s: Socket): void {
  s.destroy();
}
