/**
 * One upstream HTTP/2 connection (Envoy's HTTP/2 ActiveClient): a node:http2 client session on
 * a socket we open ourselves, so plaintext is h2c with prior knowledge and TLS offers ALPN h2
 * with the cluster's certificates, SNI and SAN checks, both from upstream_bind_config's source
 * address. It runs up to the peer's SETTINGS_MAX_CONCURRENT_STREAMS at once, counts streams
 * against max_requests_per_connection, and stops taking new ones on GOAWAY (streams the peer
 * did not take fail as refused, the others finish). With no stream for idle_timeout it closes;
 * after max_connection_duration it drains (no new streams, open ones finish).
 */
import http2, { type ClientHttp2Session, type ClientHttp2Stream } from 'node:http2';
import net, { type Socket } from 'node:net';
import tls from 'node:tls';
import { CONNECT_TIMEOUT, Http1Error } from '../http1/errors.ts';
import { setKeepAlive, type ConnectOptions } from '../http1/client_connection.ts';
import { isStreamingBody, type Http1Handler, type Http1RequestOptions } from '../http1/types.ts';
import { h2RequestHeaders } from './request_headers.ts';
import { H2Request, type StreamOwner } from './stream.ts';

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
}

/** Streams allowed when the peer's SETTINGS name no limit (RFC 9113 recommends at least 100). */
const DEFAULT_MAX_STREAMS = 100;

export class H2Connection implements StreamOwner {
  readonly session: ClientHttp2Session;
  /** Connected and the peer's first SETTINGS arrived: streams may start. */
  connected = false;
  /** No new streams: GOAWAY received, request limit reached, or closing. */
  draining = false;
  private closedDown = false;
  /** Streams open now. */
  streams = 0;
  /** The node streams in flight, for what a GOAWAY says about them. */
  private readonly open = new Set<ClientHttp2Stream>();
  /** Streams ever started, for max_requests_per_connection. */
  private started = 0;
  private maxStreams = DEFAULT_MAX_STREAMS;
  private err: Error | undefined;
  private connectTimer: NodeJS.Timeout | undefined;
  private idleTimer: NodeJS.Timeout | undefined;
  private durationTimer: NodeJS.Timeout | undefined;
  private idleSince = 0;
  private readonly scheme: string;

  constructor(
    private readonly owner: H2ConnectionOwner,
    o: ConnectOptions,
  ) {
    this.scheme = o.tls ? 'https' : 'http';
    const host = o.host.includes(':') ? `[${o.host}]` : o.host;
    const socket = openSocket(o, owner);
    this.session = http2.connect(`${this.scheme}://${host}:${o.port}`, {
      createConnection: () => socket,
      settings: { enablePush: false },
    });
    const s = this.session;
    s.on('remoteSettings', this.onRemoteSettings.bind(this));
    s.on('goaway', this.onGoaway.bind(this));
    s.on('error', this.onError.bind(this));
    s.on('close', this.onClose.bind(this));
    this.connectTimer = setTimeout(this.onConnectTimeout.bind(this), owner.connectTimeoutMs);
    this.connectTimer.unref();
  }

  /** Can take one more stream now. */
  get available(): boolean {
    return this.connected && !this.draining && this.streams < this.maxStreams;
  }

  /** True once the connection died or is dying with an error: its streams end as connection terminations. */
  get broken(): boolean {
    return this.session.destroyed || this.err !== undefined;
  }

  /**
   * Starts a request on this (available) connection. False when the session turned out to be
   * closing: the request was not touched and goes elsewhere. A request that fails on its own
   * (bad headers, an upgrade) is answered through its handler and counted as a closed stream.
   */
  start(opts: Http1RequestOptions, h: Http1Handler): boolean {
    const session = this.session;
    if (session.closed || session.destroyed) {
      this.draining = true;
      return false;
    }
    if (this.streams++ === 0) this.busy();
    if (opts.upgrade) {
      // Upgrades over HTTP/2 need extended CONNECT (RFC 8441), which this client does not do.
      this.failOne(h, new Http1Error('upgrade is not supported over an HTTP/2 upstream', 'UND_ERR_NOT_SUPPORTED'));
      return true;
    }
    let body = opts.body;
    if (typeof body === 'string') body = Buffer.from(body);
    const empty = body == null || (!isStreamingBody(body) && body.length === 0);
    let stream: ClientHttp2Stream;
    try {
      stream = session.request(h2RequestHeaders(opts.method, opts.path, this.scheme, opts.headers), { endStream: empty });
    } catch (e) {
      // Invalid header names or values (node validates them): this request alone fails.
      this.failOne(h, e as Error);
      return true;
    }
    this.started++;
    this.open.add(stream);
    stream.once('close', () => this.open.delete(stream));
    const req = new H2Request(this, stream, h);
    h.onH1Attach(req);
    if (!empty) req.sendBody(body as Buffer);
    const max = this.owner.maxRequests;
    if (max > 0 && this.started >= max) {
      this.owner.onMaxRequests?.();
      this.drain(); // in-flight streams finish, then it closes
    }
    return true;
  }

  private failOne(h: Http1Handler, err: Error): void {
    h.onH1Error('connection termination', err);
    this.onStreamClosed();
  }

  onStreamClosed(_r?: H2Request): void {
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
    // Closed only when idle: node's close() right after a request() can refuse that stream.
    if (this.streams === 0) this.closeSession();
    this.owner.onDraining(this);
  }

  private closeSession(): void {
    if (!this.session.closed && !this.session.destroyed) this.session.close();
  }

  destroy(): void {
    this.draining = true;
    if (this.closedDown) return;
    // A session node already destroyed (after a GOAWAY, say) may never emit 'close' again.
    if (this.session.destroyed) return this.onClose();
    this.session.destroy();
  }

  // ---------- idle ----------

  private busy(): void {
    this.session.ref();
  }

  /** Idle from now: one timer per connection, re-armed from its own callback rather than per request. */
  private idle(): void {
    // An idle connection does not keep the process alive.
    if (!this.session.destroyed) this.session.unref();
    const ms = this.owner.idleTimeoutMs;
    if (ms <= 0 || this.draining) return;
    this.idleSince = performance.now();
    if (this.idleTimer === undefined) this.armIdle(ms);
  }

  private armIdle(ms: number): void {
    this.idleTimer = setTimeout(this.onIdleTimer.bind(this), Math.min(ms, 0x7fffffff));
    this.idleTimer.unref();
  }

  private onIdleTimer(): void {
    this.idleTimer = undefined;
    if (this.streams > 0 || this.closedDown) return;
    const left = this.owner.idleTimeoutMs - (performance.now() - this.idleSince);
    if (left > 1) return this.armIdle(left);
    this.drain();
  }

  // ---------- session events ----------

  /**
   * The peer's SETTINGS: the first one completes the connection (then its stream limit is
   * known, so a pool does not pile more streams on it than the peer allows).
   */
  private onRemoteSettings(settings: http2.Settings): void {
    // Our own max_concurrent_streams caps what the peer allows.
    const cap = this.owner.maxConcurrentStreams;
    const n = Math.min(settings.maxConcurrentStreams ?? this.maxStreams, cap > 0 ? cap : Infinity);
    const grew = n > this.maxStreams;
    this.maxStreams = n;
    if (!this.connected) {
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

  private onGoaway(code: number, lastStreamId?: number): void {
    // Streams past the peer's last stream id were not taken (RFC 9113 6.8): they end as refused
    // now, which a retry policy may resend elsewhere, rather than wait on a peer that will
    // never answer them (node does not always close them itself).
    if (lastStreamId !== undefined) {
      for (const st of this.open) if (st.id !== undefined && st.id > lastStreamId && !st.closed) st.close(http2.constants.NGHTTP2_REFUSED_STREAM);
    }
    // NO_ERROR: node closes gracefully (streams the peer took finish); otherwise it destroys.
    if (code !== http2.constants.NGHTTP2_NO_ERROR) this.err ??= new Http1Error(`upstream sent GOAWAY with error code ${code}`, 'ERR_HTTP2_GOAWAY_SESSION');
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
    this.session.destroy(new Http1Error(`upstream connect timeout after ${this.owner.connectTimeoutMs} ms`, CONNECT_TIMEOUT));
  }

  private onError(err: Error): void {
    this.err ??= err;
  }

  private onClose(): void {
    if (this.closedDown) return;
    this.closedDown = true;
    this.draining = true;
    if (this.connectTimer) clearTimeout(this.connectTimer);
    if (this.idleTimer) clearTimeout(this.idleTimer);
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
  setKeepAlive(s, o);
  return s;
}
