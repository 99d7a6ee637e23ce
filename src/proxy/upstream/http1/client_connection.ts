/**
 * One upstream HTTP/1.1 connection (Envoy's ActiveClient + CodecClient): a net or tls socket
 * carrying one request at a time (no pipelining). It writes the request (head and first body
 * bytes in one write), parses the response strictly and reports to the request's handler, then
 * tells its pool whether it can be reused: only when the response was read whole, was
 * keep-alive, and the request was written whole. Socket events are bound once per connection;
 * nothing is allocated per request beyond the head string and the response's HeaderMap.
 */
import net, { type Socket } from 'node:net';
import tls from 'node:tls';
import { Http1Error, CONNECT_TIMEOUT, type Http1ResetReason } from './errors.ts';
import { RequestEncoder, expectsPayload } from './request_encoder.ts';
import { Framing, ResponseParser, type ResponseSink } from './response_parser.ts';
import type { ResponseHead } from './response_head.ts';
import { isStreamingBody, type BodySink, type Http1Handler, type Http1RequestOptions, type Http1Stream, type StreamingBody } from './types.ts';
import { skipReadAhead } from '../../socket_reads.ts';
import { IdleDeadline } from '../../../common/idle_deadline.ts';
import { systemClock } from '../../../common/clock.ts';

/** What a connection reports to its pool. */
export interface ConnectionOwner {
  readonly connectTimeoutMs: number;
  /** Requests per connection; 0: no limit. */
  readonly maxRequests: number;
  /** max_connection_duration from connect (ms); 0: none. */
  readonly maxDurationMs?: number;
  /** The last TLS session a connection of this pool got, to resume on the next one. */
  tlsSession: Buffer | undefined;
  /** TCP connected (and TLS handshake done): ready for a request. */
  onConnected(c: ClientConnection): void;
  onConnectFailed(c: ClientConnection, err: Error): void;
  /** The request is over and the connection is idle and reusable. */
  onReleased(c: ClientConnection): void;
  /** The socket is gone (or handed over by an upgrade). */
  onClosed(c: ClientConnection, wasConnected: boolean): void;
  /** The server broke HTTP/1.1 (a malformed response), for stats. */
  onProtocolError?(): void;
  /** One request ended (any way): for active-request accounting. */
  onRequestEnded(): void;
  /** A reused connection died before any response byte: run the request again on another one. */
  retry(opts: Http1RequestOptions, h: Http1Handler): void;
  /** The connection took its last request (max_requests_per_connection), for stats. */
  onMaxRequests?(): void;
  /** The connection reached max_connection_duration, for stats. */
  onMaxDurationReached?(): void;
}

export interface ConnectOptions {
  host: string;
  port: number;
  localAddress?: string;
  localPort?: number;
  /** node:tls options (certificates, SNI, checkServerIdentity); absent: plaintext. */
  tls?: tls.ConnectionOptions;
  /**
   * TCP keep-alive idle time before the first probe (upstream_connection_options.tcp_keepalive
   * keepalive_time); default 60 s, as undici. Node sets only this: the probe interval and count
   * are the OS's / libuv's.
   */
  keepAliveMs?: number;
}

/** TCP keep-alive on an upstream socket, as `ConnectOptions.keepAliveMs` says. */
export function setKeepAlive(s: Socket, o: ConnectOptions): void {
  s.setKeepAlive(true, o.keepAliveMs ?? 60_000);
}

const enum State {
  Connecting,
  Idle,
  Busy,
  Closed,
}

/** RFC 9110 9.2.2 idempotent methods: safe to send again when a reused connection was found dead. */
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);

/** Requests that already got their one transparent retry. */
const retried = new WeakSet<Http1Handler>();

export class ClientConnection implements ResponseSink, BodySink, Http1Stream {
  readonly socket: Socket;
  private readonly parser: ResponseParser;
  private readonly encoder = new RequestEncoder();
  private state = State.Connecting;
  private connected = false;
  private connectTimer: NodeJS.Timeout | undefined;
  /** Requests started on this connection. */
  private requests = 0;
  private err: Error | undefined;

  // ---- the current request ----
  private handler: Http1Handler | undefined;
  private opts: Http1RequestOptions | undefined;
  private body: StreamingBody | undefined;
  /** Head not written yet: a streaming body's head goes out with its first chunk. */
  private headPending = false;
  private chunked = false;
  /** Declared body bytes still to write (content-length framing). */
  private remainingBody = 0;
  private bodyBytes = 0;
  private requestDone = false;
  private closeAfter = false;
  private upgrading = false;

  /** The server's Keep-Alive hint (ms), 0 when it gave none. */
  private hintMs = 0;
  private readonly idle = new IdleDeadline(systemClock, () => {
    if (this.state === State.Idle) this.destroy();
  });
  private unrefd = false;
  /** max_connection_duration: set from connect. */
  private durationTimer: NodeJS.Timeout | undefined;
  /** max_connection_duration passed: the request running now is its last. */
  private expired = false;

  constructor(
    private readonly owner: ConnectionOwner,
    o: ConnectOptions,
  ) {
    this.parser = new ResponseParser(this);
    const local = o.localAddress ? (o.localPort ? { localAddress: o.localAddress, localPort: o.localPort } : { localAddress: o.localAddress }) : undefined;
    // TLS sessions are resumed across the pool's connections (undici keeps a session cache too).
    const s = o.tls ? tls.connect({ host: o.host, port: o.port, ...local, ...o.tls, ...(owner.tlsSession ? { session: owner.tlsSession } : {}) }) : net.connect({ host: o.host, port: o.port, ...local });
    if (o.tls) s.on('session', (session: Buffer) => (owner.tlsSession = session));
    this.socket = s;
    s.setNoDelay(true);
    skipReadAhead(s);
    setKeepAlive(s, o);
    s.on(o.tls ? 'secureConnect' : 'connect', this.onConnect.bind(this));
    s.on('data', this.onData.bind(this));
    s.on('end', this.onEnd.bind(this));
    s.on('error', this.onError.bind(this));
    s.on('close', this.onClose.bind(this));
    s.on('drain', this.onDrain.bind(this));
    this.connectTimer = setTimeout(this.onConnectTimeout.bind(this), owner.connectTimeoutMs);
    this.connectTimer.unref();
  }

  get isIdle(): boolean {
    return this.state === State.Idle;
  }

  get isClosed(): boolean {
    return this.state === State.Closed;
  }

  // ---------- requests ----------

  /** Runs a request on this (connected, idle) connection. */
  start(opts: Http1RequestOptions, h: Http1Handler): void {
    this.state = State.Busy;
    // Idle connections do not keep the process alive (as undici's); busy ones do.
    if (this.unrefd) {
      this.unrefd = false;
      this.socket.ref();
    }
    this.handler = h;
    this.opts = opts;
    this.requests++;
    this.requestDone = false;
    this.headPending = false;
    this.bodyBytes = 0;
    const method = opts.method;
    const upgrade = opts.upgrade ?? undefined;
    this.upgrading = upgrade !== undefined;
    const max = this.owner.maxRequests;
    // HEAD and upgrades close afterwards, as undici did: servers that send a body to HEAD, and
    // a refused upgrade, leave the connection in an unknown state.
    this.closeAfter = this.expired || method === 'HEAD' || this.upgrading;
    if (max > 0 && this.requests >= max) {
      this.closeAfter = true;
      this.owner.onMaxRequests?.();
    }
    this.parser.start(method === 'HEAD', this.upgrading);
    h.onH1Attach(this);
    if (this.handler !== h) return; // aborted from onH1Attach
    const enc = this.encoder;
    const bad = enc.encode(method, opts.path, opts.headers, upgrade, this.closeAfter);
    if (bad !== undefined) {
      // Nothing was written: the request fails alone and the connection stays usable.
      this.requests--;
      this.endRequest();
      this.state = State.Idle;
      this.owner.onReleased(this);
      h.onH1Error('connection termination', new Http1Error(`invalid request: ${bad}`, 'UND_ERR_INVALID_ARG'));
      return;
    }
    if (enc.wantsClose) this.closeAfter = true;
    const s = this.socket;
    let body = opts.body;
    if (typeof body === 'string') body = Buffer.from(body);
    if (body == null || (Buffer.isBuffer(body) && body.length === 0)) {
      this.requestDone = true;
      s.write(enc.bytes(enc.declaredLength >= 0 || expectsPayload(method) ? 'content-length: 0\r\n\r\n' : '\r\n'));
    } else if (Buffer.isBuffer(body)) {
      this.requestDone = true;
      s.cork();
      s.write(enc.bytes(`content-length: ${body.length}\r\n\r\n`));
      s.write(body);
      s.uncork();
    } else if (isStreamingBody(body)) {
      this.headPending = true;
      this.chunked = enc.declaredLength < 0;
      this.remainingBody = enc.declaredLength;
      this.body = body;
      body.attach(this);
    } else {
      this.localError(new Http1Error('invalid request: unsupported body type', 'UND_ERR_INVALID_ARG'));
    }
  }

  onBodyChunk(chunk: Buffer): boolean {
    if (this.body === undefined) return true;
    const len = chunk.length;
    if (len === 0) return true;
    const s = this.socket;
    if (!this.chunked) {
      if (len > this.remainingBody) {
        this.localError(new Http1Error('request body longer than its content-length', 'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH'));
        return true;
      }
      this.remainingBody -= len;
    }
    this.bodyBytes += len;
    s.cork();
    if (this.headPending) {
      this.headPending = false;
      const enc = this.encoder;
      s.write(enc.bytes(this.chunked ? `transfer-encoding: chunked\r\n\r\n${len.toString(16)}\r\n` : `content-length: ${enc.declaredLength}\r\n\r\n`));
    } else if (this.chunked) {
      s.write(`${len.toString(16)}\r\n`, 'latin1');
    }
    s.write(chunk);
    if (this.chunked) s.write('\r\n', 'latin1');
    s.uncork();
    return !s.writableNeedDrain;
  }

  onBodyEnd(): void {
    if (this.body === undefined) return;
    this.body = undefined;
    const s = this.socket;
    const enc = this.encoder;
    if (!this.chunked && this.remainingBody > 0) {
      return this.localError(new Http1Error('request body shorter than its content-length', 'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH'));
    }
    if (this.headPending) {
      // No body bytes at all: framed like a request without a body.
      this.headPending = false;
      const method = this.opts!.method;
      s.write(enc.bytes(enc.declaredLength >= 0 || expectsPayload(method) ? 'content-length: 0\r\n\r\n' : '\r\n'));
    } else if (this.chunked) {
      s.write('0\r\n\r\n', 'latin1');
    }
    this.requestDone = true;
  }

  abort(h: Http1Handler): void {
    if (this.handler !== h) return;
    this.endRequest();
    this.destroy();
  }

  pause(h: Http1Handler): void {
    if (this.handler === h) this.socket.pause();
  }

  resume(h: Http1Handler): void {
    if (this.handler === h) this.socket.resume();
  }

  // ---------- response (ResponseSink) ----------

  onResponseHead(head: ResponseHead): boolean {
    const h = this.handler!;
    h.onH1Headers(head.status, head.headers);
    if (head.keepAliveTimeoutS >= 0) this.keepAliveHint(head.keepAliveTimeoutS);
    return this.handler === h;
  }

  onChunkData(data: Buffer): boolean {
    const h = this.handler;
    if (h === undefined) return false;
    h.onH1Data(data);
    return this.handler === h;
  }

  /** Keep-Alive: timeout=N from the server: go idle for at most N s minus 2 s (undici's threshold); none left: close after. */
  private keepAliveHint(seconds: number): void {
    const ms = seconds * 1000 - 2000;
    if (ms <= 0) this.closeAfter = true;
    else this.hintMs = ms;
  }

  /**
   * Idle from now: closes after `idleTimeoutMs` (0: never) or the server's shorter hint. A
   * release only stores the time (IdleDeadline), where a refresh cost a call into libuv and a
   * timer-list move per request.
   */
  armIdle(idleTimeoutMs: number): void {
    if (!this.unrefd) {
      this.unrefd = true;
      this.socket.unref();
    }
    const ms = this.hintMs > 0 ? (idleTimeoutMs > 0 ? Math.min(this.hintMs, idleTimeoutMs) : this.hintMs) : idleTimeoutMs;
    this.idle.start(ms);
  }

  // ---------- socket events ----------

  private onConnect(): void {
    clearTimeout(this.connectTimer);
    this.connectTimer = undefined;
    this.connected = true;
    const d = this.owner.maxDurationMs ?? 0;
    if (d > 0) {
      this.durationTimer = setTimeout(this.onMaxDuration.bind(this), Math.min(d, 0x7fffffff));
      this.durationTimer.unref();
    }
    this.state = State.Idle;
    this.owner.onConnected(this);
  }

  /** max_connection_duration: an idle connection closes now, a busy one after its response (Envoy drains it). */
  private onMaxDuration(): void {
    this.durationTimer = undefined;
    if (this.state === State.Closed) return;
    this.owner.onMaxDurationReached?.();
    this.expired = true;
    if (this.state === State.Busy) this.closeAfter = true;
    else this.destroy();
  }

  private onConnectTimeout(): void {
    this.connectTimer = undefined;
    if (this.connected) return;
    this.socket.destroy(new Http1Error(`upstream connect timeout after ${this.owner.connectTimeoutMs} ms`, CONNECT_TIMEOUT));
  }

  private onData(buf: Buffer): void {
    const h = this.handler;
    if (h === undefined) {
      // Bytes nobody asked for on an idle connection: it cannot be trusted with a request.
      this.destroy();
      return;
    }
    const p = this.parser;
    const at = p.execute(buf, 0);
    if (this.handler !== h) return; // aborted by a callback
    switch (p.framing) {
      case Framing.Done:
        return this.complete(at < buf.length);
      case Framing.Error:
        return this.fail('protocol error', p.error!);
      case Framing.Upgrade:
        return this.upgrade(buf, p.upgradeOffset);
    }
  }

  private onEnd(): void {
    // The server half-closed: a close-delimited body ends here; anything else is a failure,
    // reported from 'close' (net sockets end our side too: allowHalfOpen is off).
    if (this.handler !== undefined && this.parser.finishOnEof()) this.complete(false);
    if (this.state !== State.Closed) this.destroy();
  }

  private onError(err: Error): void {
    this.err ??= err;
  }

  private onDrain(): void {
    this.body?.pull();
  }

  private onClose(): void {
    const was = this.state;
    this.state = State.Closed;
    if (this.connectTimer) clearTimeout(this.connectTimer);
    this.idle.stop();
    if (this.durationTimer) clearTimeout(this.durationTimer);
    const err = this.err;
    if (!this.connected) {
      this.owner.onConnectFailed(this, err ?? new Http1Error('upstream connection closed before it was established', 'ECONNRESET'));
      return this.owner.onClosed(this, false);
    }
    const h = this.handler;
    if (h !== undefined && was === State.Busy) {
      const p = this.parser;
      // A reset after a close-delimited body is its end (undici does the same).
      if (p.finishOnEof()) {
        this.complete(false);
      } else if (this.requests > 1 && !p.started && this.canReplay(h)) {
        // A kept-alive connection the server closed as we wrote to it: not the request's fault.
        retried.add(h);
        const opts = this.opts!;
        this.endRequest(false);
        this.owner.retry(opts, h);
      } else {
        this.endRequest();
        if (p.framing === Framing.Error) this.owner.onProtocolError?.();
        h.onH1Error(p.framing === Framing.Error ? 'protocol error' : 'connection termination', err ?? new Http1Error('upstream connection closed', 'UND_ERR_SOCKET'));
      }
    }
    this.owner.onClosed(this, true);
  }

  private canReplay(h: Http1Handler): boolean {
    const o = this.opts!;
    return !retried.has(h) && !h.done && IDEMPOTENT.has(o.method) && !isStreamingBody(o.body) && !o.upgrade;
  }

  // ---------- endings ----------

  private complete(leftover: boolean): void {
    const h = this.handler!;
    const trailers = this.parser.trailers;
    const reuse = this.parser.keepAlive && this.requestDone && !this.closeAfter && !leftover && this.state === State.Busy;
    // Not reused (this includes an early response, whose request body is still arriving: the
    // rest of it is dropped and the connection closed, as undici did).
    this.endRequest();
    if (reuse) {
      // The router may have paused us for downstream backpressure and, the response now done,
      // will never resume (its resume names a handler we no longer have): an idle connection reads.
      if (this.socket.isPaused()) this.socket.resume();
      this.state = State.Idle;
      this.owner.onReleased(this);
    } else {
      this.destroy();
    }
    h.onH1Complete(trailers);
  }

  private upgrade(buf: Buffer, at: number): void {
    const h = this.handler!;
    const head = this.parser.head;
    this.endRequest();
    const s = this.socket;
    s.pause();
    s.removeAllListeners('data');
    s.removeAllListeners('end');
    s.removeAllListeners('error');
    s.removeAllListeners('close');
    s.removeAllListeners('drain');
    if (at < buf.length) s.unshift(buf.subarray(at));
    this.state = State.Closed;
    this.idle.stop();
    if (this.durationTimer) clearTimeout(this.durationTimer);
    this.owner.onClosed(this, true);
    h.onH1Upgrade(head.status, head.headers, s);
  }

  /** A failure of this request alone that leaves the connection unusable. */
  private localError(err: Error): void {
    const h = this.handler;
    if (h === undefined) return;
    this.endRequest();
    this.destroy();
    h.onH1Error('connection termination', err);
  }

  private fail(reason: Http1ResetReason, err: Error): void {
    if (reason === 'protocol error') this.owner.onProtocolError?.();
    const h = this.handler!;
    this.endRequest();
    this.destroy();
    h.onH1Error(reason, err);
  }

  /** Forgets the current request; `counted` false when it goes on elsewhere (a retry). */
  private endRequest(counted = true): void {
    this.handler = undefined;
    this.opts = undefined;
    if (this.body !== undefined) {
      this.body.detach();
      this.body = undefined;
    }
    if (counted) this.owner.onRequestEnded();
  }

  /** Closes the socket now; the pool hears of it from 'close'. */
  destroy(): void {
    if (this.state === State.Closed) return;
    if (this.state === State.Idle || this.handler === undefined) this.state = State.Closed;
    this.socket.destroy();
  }
}
