/**
 * HTTP/1.1 downstream codec over node's llhttp server (a server that never listens; the HCM feeds
 * it sockets). llhttp in strict mode rejects request smuggling shapes (CL+TE, duplicate CL, bare
 * LF, obs-fold, bad chunk sizes) and oversized heads; we answer those 400/431 and close, and
 * enforce Envoy's max_headers_count ourselves since node silently truncates instead.
 */
import http from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { HeaderMap } from '../../interfaces.ts';
import type { HcmConfig } from './config.ts';
import type { DownstreamCodecStream, DownstreamProtocol } from './codec.ts';
import { ActiveStream } from './active_stream.ts';
import { connOf } from './connection.ts';
import { HeaderWatch } from './header_timeout.ts';
import { HOP_BY_HOP, getHeader, stripHopByHop, toFlatList, toObject } from '../common/header_utils.ts';

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

/** The codec stream of a ServerResponse, so shared listeners need no closure per request. */
const kCodec = Symbol('tsmesh.h1.codec');
type CodecRes = http.ServerResponse & { [kCodec]: Http1Stream };

function onResClose(this: CodecRes): void {
  const c = this[kCodec];
  if (!this.writableFinished) c.stream.onCodecReset();
  // The connection now waits for its next request, whose headers are timed from their first byte.
  c.watch?.onIdle();
}

function onResDrain(this: CodecRes): void {
  const c = this[kCodec];
  c.drainArmed = false;
  c.stream.onCodecDrain();
}

class Http1Stream implements DownstreamCodecStream {
  readonly protocol: DownstreamProtocol;
  stream!: ActiveStream;
  /** A 'drain' listener is added only after a write returned false (rare), not per request. */
  drainArmed = false;
  constructor(
    private readonly req: http.IncomingMessage,
    private readonly res: http.ServerResponse,
    readonly watch: HeaderWatch | undefined,
  ) {
    this.protocol = req.httpVersionMinor === 0 ? 'HTTP/1.0' : 'HTTP/1.1';
    (res as CodecRes)[kCodec] = this;
  }
  writeHeaders(status: number, headers: HeaderMap, endStream: boolean): void {
    const res = this.res;
    res.writeHead(status, toFlatList(headers, HOP_BY_HOP_RESPONSE));
    if (endStream) res.end();
  }
  writeData(chunk: Buffer, endStream: boolean): boolean {
    if (endStream) {
      this.res.end(chunk);
      return true;
    }
    const ok = this.res.write(chunk);
    if (!ok && !this.drainArmed) {
      this.drainArmed = true;
      this.res.once('drain', onResDrain);
    }
    return ok;
  }
  writeTrailers(trailers: HeaderMap): void {
    try {
      if (trailers.size) this.res.addTrailers(toObject(trailers));
    } catch {
      // An invalid trailer from upstream is dropped rather than failing the response.
    }
    this.res.end();
  }
  reset(): void {
    this.res.destroy();
  }
  readDisable(disable: boolean): void {
    if (disable) this.req.pause();
    else this.req.resume();
  }
}

const kWatch = Symbol('tsmesh.h1.headerWatch');
type WatchedSocket = Socket & { [kWatch]?: HeaderWatch };

/** Response headers node's h1 writer manages itself (but `connection: close` is passed through). */
const HOP_BY_HOP_RESPONSE = new Set(['keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade']);

/**
 * Builds the HeaderMap for a request: pseudo-headers first, host → :authority, names lower-case,
 * hop-by-hop removed (kept for upgrades). Returns undefined for a non-origin-form target we can't use.
 */
export function requestHeaderMap(req: http.IncomingMessage, keepUpgrade: boolean): HeaderMap | undefined {
  const h: HeaderMap = new Map();
  h.set(':method', req.method ?? 'GET');
  let path = req.url ?? '/';
  let authority: string | undefined;
  if (path.charCodeAt(0) !== 47 /* / */ && path !== '*') {
    // absolute-form (proxy requests): take authority and path from the URL.
    try {
      const u = new URL(path);
      authority = u.host;
      path = u.pathname + u.search;
    } catch {
      return undefined;
    }
  }
  h.set(':path', path);
  h.set(':authority', '');
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    const k = raw[i].toLowerCase();
    const v = raw[i + 1];
    if (k === 'host') {
      authority ??= v;
      continue;
    }
    const cur = h.get(k);
    if (cur === undefined) h.set(k, v);
    else if (typeof cur === 'string') h.set(k, [cur, v]);
    else cur.push(v);
  }
  h.set(':authority', authority ?? '');
  stripHopByHop(h, keepUpgrade);
  // Node answered any Expect: 100-continue already; upstream must not see it again.
  h.delete('expect');
  return h;
}

function hasBody(req: http.IncomingMessage): boolean {
  const te = req.headers['transfer-encoding'];
  if (te !== undefined) return true;
  const cl = req.headers['content-length'];
  return cl !== undefined && cl !== '0';
}

export function createHttp1Server(hcm: HcmConfig): http.Server {
  const server = http.createServer({
    maxHeaderSize: hcm.maxRequestHeadersBytes,
    insecureHTTPParser: false,
    // node checks its headersTimeout only on servers that listen; HeaderWatch does it here.
    requestTimeout: 0,
    keepAliveTimeout: hcm.idleTimeoutMs,
    noDelay: true,
    requireHostHeader: true,
    joinDuplicateHeaders: false,
  });
  // One more than allowed, so exceeding the limit is visible in rawHeaders instead of silent.
  server.maxHeadersCount = hcm.maxHeadersCount + 1;
  server.maxRequestsPerSocket = 0;

  if (hcm.headerDeadlineMs > 0) {
    const cfg = {
      limitMs: hcm.headerDeadlineMs,
      clock: hcm.clock,
      onTimeout: (socket: Socket) => {
        const byHeadersTimeout = hcm.requestHeadersTimeoutMs > 0 && hcm.requestHeadersTimeoutMs <= hcm.streamIdleTimeoutMs;
        (byHeadersTimeout || hcm.streamIdleTimeoutMs === 0 ? hcm.stats.rqHeaderTimeout : hcm.stats.rqIdleTimeout).inc();
        rejectSocket(socket, 408, hcm.serverName);
      },
    };
    // Bytes already read (listener or codec sniffing) mean a request has begun.
    server.on('connection', (socket: Socket) => void ((socket as WatchedSocket)[kWatch] = new HeaderWatch(socket, cfg, socket.bytesRead > 0)));
  }

  server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    const conn = connOf(req.socket);
    if (!conn) return void res.destroy();
    const watch = (req.socket as WatchedSocket)[kWatch];
    watch?.onRequest();
    if (req.rawHeaders.length / 2 > hcm.maxHeadersCount) {
      hcm.stats.rqHeadersTooMany.inc();
      res.writeHead(431, { 'content-length': '0', connection: 'close', server: hcm.serverName }).end();
      return;
    }
    const headers = requestHeaderMap(req, false);
    if (!headers) {
      hcm.stats.cxProtocolError.inc();
      res.writeHead(400, { 'content-length': '0', connection: 'close', server: hcm.serverName }).end();
      return;
    }
    const codec = new Http1Stream(req, res, watch);
    const stream = new ActiveStream(hcm, conn.state, codec, conn.info, headers);
    codec.stream = stream;
    res.on('close', onResClose);
    const body = hasBody(req);
    if (body) {
      req.on('data', (chunk: Buffer) => stream.decodeData(chunk, false));
      req.on('end', () => {
        const t = req.rawTrailers;
        if (t.length) {
          const m: HeaderMap = new Map();
          for (let i = 0; i < t.length; i += 2) m.set(t[i].toLowerCase(), t[i + 1]);
          stream.decodeTrailers(m);
        } else {
          stream.decodeData(EMPTY, true);
        }
      });
    } else {
      req.resume();
    }
    stream.decodeHeaders(!body);
  });

  server.on('upgrade', (req: http.IncomingMessage, socket: Socket, head: Buffer) => onUpgrade(hcm, req, socket, head));

  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
    const code = err.code ?? '';
    if (code === 'ECONNRESET' || code === 'EPIPE') return void socket.destroy();
    hcm.stats.cxProtocolError.inc();
    // A response already on the wire cannot be followed by an error response: just close.
    const inFlight = (socket as unknown as { _httpMessage?: http.ServerResponse })._httpMessage;
    if (inFlight && inFlight.headersSent) return void socket.destroy();
    if (code === 'HPE_HEADER_OVERFLOW') {
      hcm.stats.rqTooLarge.inc();
      return rejectSocket(socket, 431, hcm.serverName);
    }
    if (code === 'ERR_HTTP_REQUEST_TIMEOUT' || code === 'HPE_HEADER_TIMEOUT') {
      hcm.stats.rqHeaderTimeout.inc();
      return rejectSocket(socket, 408, hcm.serverName);
    }
    rejectSocket(socket, 400, hcm.serverName);
  });
  return server;
}

/** HTTP/1.1 Upgrade (WebSocket): a stream whose response is either an error or a raw tunnel. */
class UpgradeStream implements DownstreamCodecStream {
  readonly protocol: DownstreamProtocol = 'HTTP/1.1';
  stream!: ActiveStream;
  constructor(private readonly socket: Socket, private readonly head: Buffer) {}
  writeHeaders(status: number, headers: HeaderMap, endStream: boolean): void {
    headers.set('connection', 'close');
    this.socket.write(rawHead(status, headers));
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
    down.write(rawHead(status, headers));
    if (this.head.length) upstream.write(this.head);
    down.setTimeout(0);
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

function rawHead(status: number, headers: HeaderMap): string {
  let s = `HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? ''}\r\n`;
  const flat = toFlatList(headers);
  for (let i = 0; i < flat.length; i += 2) s += `${flat[i]}: ${flat[i + 1]}\r\n`;
  return s + '\r\n';
}

function onUpgrade(hcm: HcmConfig, req: http.IncomingMessage, socket: Socket, head: Buffer): void {
  (socket as WatchedSocket)[kWatch]?.stop();
  const conn = connOf(socket);
  const headers = conn && requestHeaderMap(req, true);
  if (!conn || !headers) return rejectSocket(socket, 400, hcm.serverName);
  socket.on('error', () => socket.destroy());
  const codec = new UpgradeStream(socket, head);
  const stream = new ActiveStream(hcm, conn.state, codec, conn.info, headers);
  codec.stream = stream;
  stream.upgradeType = (getHeader(headers, 'upgrade') ?? '').toLowerCase();
  socket.on('close', () => stream.onCodecReset());
  stream.decodeHeaders(true);
}

export { HOP_BY_HOP };
