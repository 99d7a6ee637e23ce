/**
 * HTTP/1.1 downstream codec on the raw socket (Envoy's Http1::ServerConnectionImpl): our strict
 * request parser (src/proxy/http/http1/) turns bytes into ActiveStream calls, the response writer
 * turns the stream's writes back into bytes. One request at a time per connection: a pipelined
 * request is parsed only once the previous response is complete, so responses never interleave.
 * Malformed requests get 400 (431 for header limits) and the connection closes; the connection
 * closes after a response when either side asked for it (Connection: close, HTTP/1.0, drain).
 */
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { HeaderMap } from '../../interfaces.ts';
import type { HcmConfig } from './config.ts';
import type { DownstreamCodecStream, DownstreamProtocol } from './codec.ts';
import { ActiveStream } from './active_stream.ts';
import { connOf, type ConnContext } from './connection.ts';
import { HeaderWatch, type HeaderTimeoutConfig } from './header_timeout.ts';
import { getHeader, HOP_BY_HOP } from '../common/header_utils.ts';
import { BODY_NONE, RequestParser, type RequestHandler } from '../http1/request_parser.ts';
import { ResponseWriter, rawHead } from '../http1/response_writer.ts';
import { log } from '../../logger.ts';
import { IdleDeadline } from '../../../common/idle_deadline.ts';

const EMPTY = Buffer.alloc(0);

const REASONS: Record<number, string> = { 400: 'Bad Request', 408: 'Request Timeout', 431: 'Request Header Fields Too Large' };

/** Writes a bare error response on a socket the parser gave up on, then closes it. */
export function rejectSocket(socket: Duplex, status: number, serverName: string): void {
  if (socket.destroyed) return;
  if (socket.writable) {
    socket.end(`HTTP/1.1 ${status} ${REASONS[status] ?? 'Error'}\r\ncontent-length: 0\r\nconnection: close\r\nserver: ${serverName}\r\n\r\n`);
    setTimeout(() => socket.destroy(), 1000).unref();
  } else {
    socket.destroy();
  }
}

const kConn = Symbol('tsmesh.h1.connection');
type OwnedSocket = Socket & { [kConn]?: ServerConnection };

// Socket listeners are shared functions that find their connection on the socket: no closures per connection.
function onSocketData(this: OwnedSocket, chunk: Buffer): void {
  this[kConn]?.onData(chunk);
}
function onSocketEnd(this: OwnedSocket): void {
  this[kConn]?.onPeerEnd();
}
function onSocketClose(this: OwnedSocket): void {
  this[kConn]?.onClose();
}
function onSocketDrain(this: OwnedSocket): void {
  this[kConn]?.onDrain();
}
function destroyOnFinish(this: Socket): void {
  this.destroy();
}
function resumeNT(c: ServerConnection): void {
  c.resumeParsing();
}

/** Node's rule for Expect: 100-continue (any other expectation is answered 417). */
function isContinue(expect: string): boolean {
  return expect.toLowerCase().includes('100-continue');
}

/**
 * One downstream HTTP/1.1 connection. It is also the codec stream of its current request: requests
 * are served one at a time, and ActiveStream ignores its own calls once it is done.
 */
class ServerConnection implements RequestHandler, DownstreamCodecStream {
  protocol: DownstreamProtocol = 'HTTP/1.1';
  private readonly parser: RequestParser;
  private readonly writer: ResponseWriter;
  private readonly watch: HeaderWatch | undefined;
  private stream: ActiveStream | undefined;
  private requestDone = true;
  private responseDone = true;
  private readDisabled = false;
  /** Reading stopped because a pipelined request waits for the current response. */
  private pipelinePaused = false;
  private drainArmed = false;
  private closing = false;
  private peerEnded = false;
  private resumeQueued = false;
  /** Envoy's idle_timeout: so long with no request in progress. Restarted at each exchange's end, not per read and write. */
  private readonly idle: IdleDeadline;

  constructor(
    private readonly hcm: HcmConfig,
    private readonly socket: OwnedSocket,
    private readonly ctx: ConnContext,
    headerCfg: HeaderTimeoutConfig | undefined,
  ) {
    this.parser = new RequestParser(this, { maxHeaderBytes: hcm.maxRequestHeadersBytes, maxHeaders: hcm.maxHeadersCount });
    this.writer = new ResponseWriter(socket);
    socket[kConn] = this;
    // Bytes already read (listener or codec sniffing) mean a request has begun.
    if (headerCfg) this.watch = new HeaderWatch(socket, headerCfg, socket.bytesRead > 0);
    socket.on('data', onSocketData);
    socket.on('end', onSocketEnd);
    socket.on('close', onSocketClose);
    socket.on('drain', onSocketDrain);
    this.idle = new IdleDeadline(hcm.clock, this.onIdleTimeout);
    this.idle.start(hcm.idleTimeoutMs);
  }

  // ---------- socket events ----------

  onData(chunk: Buffer): void {
    if (this.closing) return;
    try {
      this.feed(chunk);
    } catch (e) {
      // A bug on one connection's request path must not take down every other connection.
      log.error(`HTTP/1 connection from ${this.socket.remoteAddress}: closed after an internal error: ${(e as Error).stack ?? e}`);
      this.closeNow();
    }
  }

  private feed(chunk: Buffer): void {
    if (this.parser.isPaused) {
      // A pipelined request: keep it, and stop reading until the current response is out.
      this.parser.execute(chunk);
      if (!this.pipelinePaused) {
        this.pipelinePaused = true;
        this.socket.pause();
      }
      return;
    }
    this.parser.execute(chunk);
  }

  onPeerEnd(): void {
    this.peerEnded = true;
    if (this.closing) return;
    if (!this.requestDone || (this.responseDone && this.parser.inMessage)) {
      // The request was cut short.
      this.closeNow();
      return;
    }
    // A complete request still being answered (or pipelined ones) is finished first.
    if (this.responseDone && !this.parser.isPaused) this.closeGracefully();
  }

  onClose(): void {
    this.closing = true;
    this.idle.stop();
    this.parser.stop();
    const s = this.stream;
    this.stream = undefined;
    if (s && !this.responseDone) s.onCodecReset();
  }

  onDrain(): void {
    if (!this.drainArmed) return;
    this.drainArmed = false;
    if (this.stream && !this.responseDone) this.stream.onCodecDrain();
  }

  /** Only a connection without a request in progress is idle (a stream's own timers govern it otherwise); the exchange's end starts the deadline again. */
  private readonly onIdleTimeout = (): void => {
    if (!this.closing && this.responseDone && !this.parser.inMessage) this.closeNow();
  };

  onHeaderTimeout(): void {
    if (this.closing) return;
    const hcm = this.hcm;
    const byHeadersTimeout = hcm.requestHeadersTimeoutMs > 0 && hcm.requestHeadersTimeoutMs <= hcm.streamIdleTimeoutMs;
    (byHeadersTimeout || hcm.streamIdleTimeoutMs === 0 ? hcm.stats.rqHeaderTimeout : hcm.stats.rqIdleTimeout).inc();
    this.closing = true;
    this.parser.stop();
    rejectSocket(this.socket, 408, hcm.serverName);
  }

  // ---------- parser events ----------

  onRequestHead(p: RequestParser): void {
    this.watch?.onRequest();
    if (p.upgrade) return this.onUpgrade(p);
    const minor = p.versionMinor;
    this.protocol = minor === 0 ? 'HTTP/1.0' : 'HTTP/1.1';
    this.writer.begin(minor, p.method === 'HEAD', p.keepAlive);
    if (!p.keepAlive) this.ctx.state.closeAfterResponse = true;
    this.requestDone = p.bodyKind === BODY_NONE;
    this.responseDone = false;
    if (p.expect !== undefined && minor === 1) {
      if (!isContinue(p.expect)) {
        // As node: an expectation we cannot meet is answered 417 and the body, if sent, skipped.
        this.writer.writeEmpty(417);
        this.onResponseComplete();
        return;
      }
      this.writer.writeContinue();
    }
    const stream = new ActiveStream(this.hcm, this.ctx.state, this, this.ctx.info, p.headers);
    this.stream = stream;
    stream.decodeHeaders(this.requestDone);
  }

  onRequestData(chunk: Buffer): void {
    if (!this.responseDone) this.stream?.decodeData(chunk, false);
  }

  onRequestComplete(trailers: HeaderMap | undefined): void {
    if (this.requestDone) {
      // A head without body: the stream had endStream with its headers.
      if (!this.responseDone) this.parser.pause();
      return;
    }
    this.requestDone = true;
    const s = this.stream;
    if (s && !this.responseDone) {
      if (trailers) {
        for (const k of HOP_BY_HOP) trailers.delete(k);
        s.decodeTrailers(trailers);
      } else {
        s.decodeData(EMPTY, true);
      }
    }
    if (!this.responseDone) this.parser.pause();
    else if (!this.closing) this.finishExchange();
  }

  onRequestError(status: 400 | 431, reason: string): void {
    const stats = this.hcm.stats;
    if (reason === 'too many headers') stats.rqHeadersTooMany.inc();
    else {
      stats.cxProtocolError.inc();
      if (status === 431) stats.rqTooLarge.inc();
    }
    this.closing = true;
    const s = this.stream;
    if (this.writer.started && !this.requestDone) {
      // Part of a response is on the wire: nothing can follow it but the close.
      this.socket.destroy();
      return;
    }
    if (s && !this.responseDone) {
      this.stream = undefined;
      s.onCodecReset();
    }
    rejectSocket(this.socket, status, this.hcm.serverName);
  }

  // ---------- DownstreamCodecStream (the current request's response) ----------

  writeHeaders(status: number, headers: HeaderMap, endStream: boolean): void {
    if (this.responseDone) return;
    this.writer.writeHead(status, headers, endStream, this.ctx.state.closeAfterResponse);
    if (endStream) this.onResponseComplete();
  }

  writeData(chunk: Buffer, endStream: boolean): boolean {
    if (this.responseDone) return true;
    const ok = this.writer.writeBody(chunk, endStream);
    if (endStream) {
      this.onResponseComplete();
      return true;
    }
    if (!ok) this.drainArmed = true;
    return ok;
  }

  writeTrailers(trailers: HeaderMap): void {
    if (this.responseDone) return;
    this.writer.writeTrailers(trailers);
    this.onResponseComplete();
  }

  reset(): void {
    this.closeNow();
  }

  readDisable(disable: boolean): void {
    this.readDisabled = disable;
    this.updateReading();
  }

  // ---------- exchange lifecycle ----------

  private onResponseComplete(): void {
    this.responseDone = true;
    if (this.writer.closeAfter || this.ctx.state.closeAfterResponse) {
      this.ctx.state.closeAfterResponse = true;
      this.closeGracefully();
      return;
    }
    if (this.requestDone) this.finishExchange();
    else if (this.readDisabled) {
      // The body of an answered request is read and dropped; the stream that paused reading is gone.
      this.readDisabled = false;
      this.updateReading();
    }
  }

  /** Request and response are both complete: the connection waits for, or parses, the next request. */
  private finishExchange(): void {
    this.stream = undefined;
    this.idle.start(this.hcm.idleTimeoutMs);
    this.drainArmed = false;
    this.watch?.onIdle();
    if (this.readDisabled) {
      this.readDisabled = false;
      this.updateReading();
    }
    if (this.parser.isPaused) {
      // Nothing read ahead: resuming now starts no request (and costs no tick).
      if (!this.parser.hasSaved) this.resumeParsing();
      // Never start the next request inside the previous stream's last write: parse on the next tick.
      else if (!this.resumeQueued) {
        this.resumeQueued = true;
        process.nextTick(resumeNT, this);
      }
    } else if (this.peerEnded) {
      if (this.parser.inMessage) this.closeNow();
      else this.closeGracefully();
    }
  }

  resumeParsing(): void {
    this.resumeQueued = false;
    if (this.closing) return;
    this.parser.resume();
    if (this.pipelinePaused && !this.parser.isPaused) {
      this.pipelinePaused = false;
      this.updateReading();
    }
    if (this.peerEnded && this.responseDone && !this.closing && !this.parser.isPaused) {
      if (this.parser.inMessage) this.closeNow();
      else this.closeGracefully();
    }
  }

  private updateReading(): void {
    if (this.closing) return;
    if (this.readDisabled || this.pipelinePaused) this.socket.pause();
    else this.socket.resume();
  }

  /** Ends the connection once written bytes are flushed (node's destroySoon). */
  private closeGracefully(): void {
    if (this.closing) return;
    this.closing = true;
    this.parser.stop();
    this.watch?.stop();
    const s = this.socket;
    // Keep reading (and dropping) so the peer's FIN is seen.
    s.resume();
    if (s.writable) s.end();
    if (s.writableFinished) s.destroy();
    else s.once('finish', destroyOnFinish);
  }

  private closeNow(): void {
    this.closing = true;
    this.parser.stop();
    this.socket.destroy();
  }

  // ---------- Upgrade ----------

  private onUpgrade(p: RequestParser): void {
    const socket = this.socket;
    const head = p.stop() ?? EMPTY;
    this.watch?.stop();
    this.closing = true;
    socket[kConn] = undefined;
    socket.off('data', onSocketData);
    socket.off('end', onSocketEnd);
    socket.off('close', onSocketClose);
    socket.off('drain', onSocketDrain);
    this.idle.stop();
    if (p.method === 'CONNECT') {
      // As node's server without a 'connect' listener did: HTTP/1.1 CONNECT is not proxied.
      socket.destroy();
      return;
    }
    socket.pause();
    const codec = new UpgradeStream(socket, head);
    const stream = new ActiveStream(this.hcm, this.ctx.state, codec, this.ctx.info, p.headers);
    codec.stream = stream;
    stream.upgradeType = (getHeader(p.headers, 'upgrade') ?? '').toLowerCase();
    socket.on('close', () => stream.onCodecReset());
    stream.decodeHeaders(true);
  }
}

/** HTTP/1.1 Upgrade (WebSocket): a stream whose response is either an error or a raw tunnel. */
class UpgradeStream implements DownstreamCodecStream {
  readonly protocol: DownstreamProtocol = 'HTTP/1.1';
  stream!: ActiveStream;
  constructor(
    private readonly socket: Socket,
    private readonly head: Buffer,
  ) {}
  writeHeaders(status: number, headers: HeaderMap, endStream: boolean): void {
    headers.set('connection', 'close');
    // Refused: read (and drop) what the client sends so its close is seen.
    this.socket.resume();
    this.socket.write(rawHead(status, headers), 'latin1');
    if (endStream) this.socket.end();
  }
  writeData(chunk: Buffer, endStream: boolean): boolean {
    if (endStream) {
      this.socket.end(chunk);
      return true;
    }
    return this.socket.write(chunk);
  }
  writeTrailers(): void {
    this.socket.end();
  }
  reset(): void {
    this.socket.destroy();
  }
  readDisable(): void {}
  upgrade(upstream: Duplex, status: number, headers: HeaderMap): void {
    const down = this.socket;
    down.write(rawHead(status, headers), 'latin1');
    if (this.head.length) upstream.write(this.head);
    const kill = (): void => {
      down.destroy();
      upstream.destroy();
    };
    down.on('error', kill).on('close', kill);
    upstream.on('error', kill).on('close', kill);
    down.pipe(upstream);
    upstream.pipe(down);
  }
}

/**
 * The HCM's HTTP/1.1 codec: takes sockets the way a node server would (conn_manager emits
 * 'connection'), but never listens and runs no node HTTP machinery.
 */
export class Http1Server {
  private readonly headerCfg: HeaderTimeoutConfig | undefined;
  constructor(private readonly hcm: HcmConfig) {
    if (hcm.headerDeadlineMs > 0) {
      this.headerCfg = {
        limitMs: hcm.headerDeadlineMs,
        clock: hcm.clock,
        onTimeout: (socket: Socket) => (socket as OwnedSocket)[kConn]?.onHeaderTimeout(),
      };
    }
  }

  emit(event: 'connection', socket: Socket): boolean {
    if (event !== 'connection') return false;
    const ctx = connOf(socket);
    if (!ctx) {
      socket.destroy();
      return true;
    }
    new ServerConnection(this.hcm, socket, ctx, this.headerCfg);
    return true;
  }
}

export function createHttp1Server(hcm: HcmConfig): Http1Server {
  return new Http1Server(hcm);
}

