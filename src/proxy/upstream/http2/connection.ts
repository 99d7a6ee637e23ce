/**
 * One upstream HTTP/2 connection (Envoy's HTTP/2 ActiveClient): the proxy's own client session
 * (./client_session.ts) on a socket we open ourselves, so plaintext is h2c with prior knowledge and TLS offers ALPN h2
 * with the cluster's certificates, SNI and SAN checks, both from upstream_bind_config's source
 * address. It runs up to the peer's SETTINGS_MAX_CONCURRENT_STREAMS at once, counts streams
 * against max_requests_per_connection, and stops taking new ones on GOAWAY (streams the peer
 * did not take fail as refused, the others finish). With no stream for idle_timeout it closes;
 * after max_connection_duration it drains (no new streams, open ones finish).
 */
import net, { type Socket } from 'node:net';
import tls from 'node:tls';
import { CONNECT_TIMEOUT, Http1Error } from '../http1/errors.ts';
import { setKeepAlive, type ConnectOptions } from '../http1/client_connection.ts';
import { isStreamingBody, type Http1Handler, type Http1RequestOptions } from '../http1/types.ts';
import { ErrorCode } from '../../http/http2/frame.ts';
import { H2ClientSession, type ClientSessionOwner } from './client_session.ts';
import type { H2Request } from './stream.ts';
import { skipReadAhead } from '../../socket_reads.ts';
import { IdleDeadline } from '../../../common/idle_deadline.ts';
import { systemClock } from '../../../common/clock.ts';

/** What a connection reports to its pool. */
export interface H2ConnectionOwner {
  readonly connectTimeoutMs: number;
  /** max_requests_per_connection counted as streams; 0: no limit. */
  readonly maxRequests: number;
  readonly idleTimeoutMs: number;
  /** max_connection_duration from connect (ms); 0: none. */
  readonly maxDurationMs: number;
  /** http2_protocol_options.max_concurrent_streams: our own cap on streams per connection; 0: the peer's. */
  readonly maxConcurrentStreams: number;
  /** The last TLS session of this pool's connections, to resume on the next one. */
  tlsSession: Buffer | undefined;
  onConnected(c: H2Connection): void;
  onConnectFailed(c: H2Connection, err: Error): void;
  /** A stream ended (any way): a slot is free, and one request fewer is active. */
  onStreamClosed(c: H2Connection): void;
  /** The peer allows more concurrent streams than before: queued requests may go. */
  onCapacity(c: H2Connection): void;
  /** The connection takes no new streams any more (GOAWAY, request limit). */
  onDraining(c: H2Connection): void;
  onClosed(c: H2Connection, wasConnected: boolean): void;
  /** The connection took its last stream (max_requests_per_connection), for stats. */
  onMaxRequests?(): void;
  /** The connection reached max_connection_duration and drains, for stats. */
  onMaxDurationReached?(): void;
  /** The server broke HTTP/2 (a malformed response, or a connection error we sent), for stats. */
  onProtocolError?(): void;
}

/** A response head past this is a flood, not a response (Envoy's default max_response_headers_kb: 60). */
const MAX_RESPONSE_HEADERS_BYTES = 60 * 1024;

/** Streams allowed when the peer's SETTINGS name no limit (RFC 9113 recommends at least 100). */
const DEFAULT_MAX_STREAMS = 100;

export class H2Connection implements ClientSessionOwner {
  readonly session: H2ClientSession;
  private readonly socket: Socket;
  /** Connected and the peer's first SETTINGS arrived: streams may start. */
  connected = false;
  /** No new streams: GOAWAY received, request limit reached, or closing. */
  draining = false;
  private closedDown = false;
  /** Streams open now. */
  streams = 0;
  /** Streams ever started, for max_requests_per_connection. */
  private started = 0;
  private maxStreams = DEFAULT_MAX_STREAMS;
  private err: Error | undefined;
  private connectTimer: NodeJS.Timeout | undefined;
  private readonly idleDeadline = new IdleDeadline(systemClock, () => {
    if (this.streams === 0 && !this.closedDown) this.drain();
  });
  private durationTimer: NodeJS.Timeout | undefined;
  private readonly scheme: string;

  constructor(
    private readonly owner: H2ConnectionOwner,
    o: ConnectOptions,
  ) {
    this.scheme = o.tls ? 'https' : 'http';
    this.socket = openSocket(o, owner);
    this.session = new H2ClientSession(this.socket, this, MAX_RESPONSE_HEADERS_BYTES);
    this.socket.on('error', this.onError.bind(this));
    this.socket.on('close', this.onClose.bind(this));
    this.connectTimer = setTimeout(this.onConnectTimeout.bind(this), owner.connectTimeoutMs);
    this.connectTimer.unref();
  }

  /** Can take one more stream now. */
  get available(): boolean {
    return this.connected && !this.draining && this.streams < this.maxStreams;
  }

  /**
   * Starts a request on this (available) connection. False when the session turned out to be
   * closing: the request was not touched and goes elsewhere. A request that fails on its own
   * (an upgrade) is answered through its handler and counted as a closed stream.
   */
  start(opts: Http1RequestOptions, h: Http1Handler): boolean {
    const session = this.session;
    if (session.isClosed || session.exhausted || this.socket.destroyed) {
      this.draining = true;
      return false;
    }
    if (this.streams++ === 0) this.busy();
    if (opts.upgrade) {
      // Upgrades over HTTP/2 need extended CONNECT (RFC 8441), which this client does not do.
      h.onH1Error('connection termination', new Http1Error('upgrade is not supported over an HTTP/2 upstream', 'UND_ERR_NOT_SUPPORTED'));
      this.afterStreamClosed();
      return true;
    }
    let body = opts.body;
    if (typeof body === 'string') body = Buffer.from(body);
    const empty = body == null || (!isStreamingBody(body) && body.length === 0);
    this.started++;
    const req = session.request(opts.method, opts.path, this.scheme, opts.headers, empty, h);
    h.onH1Attach(req);
    if (!empty) req.sendBody(body as Buffer);
    const max = this.owner.maxRequests;
    if ((max > 0 && this.started >= max) || session.exhausted) {
      if (max > 0 && this.started >= max) this.owner.onMaxRequests?.();
      this.drain(); // in-flight streams finish, then it closes
    }
    return true;
  }

  onStreamClosed(_r: H2Request): void {
    this.afterStreamClosed();
  }

  private afterStreamClosed(): void {
    if (--this.streams === 0) {
      if (this.draining) this.closeSession();
      else this.idle();
    }
    this.owner.onStreamClosed(this);
  }

  /** No new streams; closes once the open ones ended. */
  drain(): void {
    if (this.draining) return;
    this.draining = true;
    if (this.streams === 0) this.closeSession();
    this.owner.onDraining(this);
  }

  private closeSession(): void {
    if (!this.socket.destroyed) this.session.goaway(ErrorCode.NO_ERROR);
  }

  destroy(): void {
    this.draining = true;
    if (this.closedDown) return;
    if (this.socket.destroyed) return this.onClose();
    this.session.destroy();
    this.socket.destroy();
  }

  // ---------- idle ----------

  private busy(): void {
    this.socket.ref();
  }

  /** Idle from now: the deadline only stores the time when its timer is already armed (IdleDeadline). */
  private idle(): void {
    // An idle connection does not keep the process alive.
    this.socket.unref();
    if (!this.draining) this.idleDeadline.start(this.owner.idleTimeoutMs);
  }

  // ---------- session events ----------

  /**
   * The peer's SETTINGS: the first one completes the connection (then its stream limit is
   * known, so a pool does not pile more streams on it than the peer allows).
   */
  onSettings(first: boolean, peerMax: number | undefined): void {
    // Our own max_concurrent_streams caps what the peer allows.
    const cap = this.owner.maxConcurrentStreams;
    const n = Math.min(peerMax ?? this.maxStreams, cap > 0 ? cap : Infinity);
    const grew = n > this.maxStreams;
    this.maxStreams = n;
    if (first && !this.connected) {
      clearTimeout(this.connectTimer);
      this.connectTimer = undefined;
      this.connected = true;
      const d = this.owner.maxDurationMs;
      if (d > 0) {
        this.durationTimer = setTimeout(this.onMaxDuration.bind(this), Math.min(d, 0x7fffffff));
        this.durationTimer.unref();
      }
      this.idle();
      this.owner.onConnected(this);
    } else if (grew) {
      // More room: queued requests may go now.
      this.owner.onCapacity(this);
    }
  }

  onProtocolError(): void {
    this.owner.onProtocolError?.();
  }

  onGoaway(_lastStreamId: number, code: number): void {
    if (code !== ErrorCode.NO_ERROR) this.err ??= new Http1Error(`upstream sent GOAWAY with error code ${code}`, 'ERR_HTTP2_GOAWAY_SESSION');
    if (!this.draining) {
      this.draining = true;
      this.owner.onDraining(this);
    }
  }

  private onMaxDuration(): void {
    this.durationTimer = undefined;
    if (this.closedDown || this.draining) return;
    this.owner.onMaxDurationReached?.();
    this.drain();
  }

  private onConnectTimeout(): void {
    this.connectTimer = undefined;
    if (this.connected) return;
    this.err ??= new Http1Error(`upstream connect timeout after ${this.owner.connectTimeoutMs} ms`, CONNECT_TIMEOUT);
    this.socket.destroy();
  }

  private onError(err: Error): void {
    this.err ??= err;
  }

  private onClose(): void {
    if (this.closedDown) return;
    this.closedDown = true;
    this.draining = true;
    if (this.connectTimer) clearTimeout(this.connectTimer);
    this.idleDeadline.stop();
    if (this.durationTimer) clearTimeout(this.durationTimer);
    if (!this.connected) {
      this.owner.onConnectFailed(this, this.err ?? new Http1Error('upstream connection closed before it was established', 'ECONNRESET'));
      return this.owner.onClosed(this, false);
    }
    this.owner.onClosed(this, true);
  }
}

/** A net or TLS socket to the host; TLS offers h2 by ALPN (unless the cluster names its own protocols). */
function openSocket(o: ConnectOptions, owner: H2ConnectionOwner): Socket {
  const local = o.localAddress ? (o.localPort ? { localAddress: o.localAddress, localPort: o.localPort } : { localAddress: o.localAddress }) : undefined;
  let s: Socket;
  if (o.tls) {
    s = tls.connect({ host: o.host, port: o.port, ...local, ALPNProtocols: ['h2'], ...o.tls, ...(owner.tlsSession ? { session: owner.tlsSession } : {}) });
    s.on('session', (session: Buffer) => (owner.tlsSession = session));
  } else {
    s = net.connect({ host: o.host, port: o.port, ...local });
  }
  s.setNoDelay(true);
  skipReadAhead(s);
  setKeepAlive(s, o);
  return s;
}
