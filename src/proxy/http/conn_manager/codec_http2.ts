/**
 * HTTP/2 downstream codec over node's nghttp2 server (h2c prior knowledge or ALPN h2 on a TLS
 * socket the listener already terminated). Adds what Envoy's codec does beyond node: header
 * count/size limits answered 431, rapid-reset protection (too many client RST_STREAMs in a window
 * → GOAWAY ENHANCE_YOUR_CALM), and GOAWAY when the listener drains.
 */
import http2 from 'node:http2';
import type { HeaderMap } from '../../interfaces.ts';
import type { HcmConfig } from './config.ts';
import type { DownstreamCodecStream, DownstreamProtocol } from './codec.ts';
import { ActiveStream } from './active_stream.ts';
import { connOf, type ConnContext } from './connection.ts';
import { HOP_BY_HOP, toObject } from '../common/header_utils.ts';

const { NGHTTP2_CANCEL, NGHTTP2_ENHANCE_YOUR_CALM, NGHTTP2_NO_ERROR, NGHTTP2_INTERNAL_ERROR } = http2.constants;
const EMPTY = Buffer.alloc(0);

/** Per-session rapid-reset accounting. */
interface SessionState {
  conn: ConnContext;
  windowStart: number;
  resets: number;
  goaway: boolean;
}

const sessions = new WeakMap<http2.ServerHttp2Session, SessionState>();

class Http2Stream implements DownstreamCodecStream {
  readonly protocol: DownstreamProtocol = 'HTTP/2';
  private trailers: Record<string, string | string[]> | undefined;
  constructor(private readonly s: http2.ServerHttp2Stream) {
    s.on('wantTrailers', () => {
      try {
        s.sendTrailers(this.trailers ?? {});
      } catch {
        s.close(NGHTTP2_INTERNAL_ERROR);
      }
    });
  }
  writeHeaders(status: number, headers: HeaderMap, endStream: boolean): void {
    const out = toObject(headers, HOP_BY_HOP) as http2.OutgoingHttpHeaders;
    delete out['connection'];
    out[':status'] = status;
    this.s.respond(out, { endStream, waitForTrailers: !endStream });
  }
  writeData(chunk: Buffer, endStream: boolean): boolean {
    if (endStream) {
      this.s.end(chunk);
      return true;
    }
    return this.s.write(chunk);
  }
  writeTrailers(trailers: HeaderMap): void {
    this.trailers = toObject(trailers);
    this.s.end();
  }
  reset(): void {
    if (!this.s.destroyed) this.s.close(NGHTTP2_INTERNAL_ERROR);
  }
  readDisable(disable: boolean): void {
    if (disable) this.s.pause();
    else this.s.resume();
  }
}

/** rawHeaders → HeaderMap; cookies folded with "; " so an HTTP/1.1 upstream gets one header. */
function headerMap(raw: string[]): { headers: HeaderMap; count: number; bytes: number } {
  const h: HeaderMap = new Map();
  let count = 0;
  let bytes = 0;
  for (let i = 0; i < raw.length; i += 2) {
    const k = raw[i];
    const v = raw[i + 1];
    bytes += k.length + v.length;
    if (k.charCodeAt(0) !== 58) count++;
    const cur = h.get(k);
    if (cur === undefined) h.set(k, v);
    else if (k === 'cookie') h.set(k, `${cur}; ${v}`);
    else if (typeof cur === 'string') h.set(k, [cur, v]);
    else cur.push(v);
  }
  if (!h.has(':authority')) {
    const host = h.get('host');
    if (host !== undefined) h.set(':authority', typeof host === 'string' ? host : host[0]);
  }
  h.delete('host');
  // RFC 9113 8.2.2: connection-specific headers are malformed in h2; drop rather than forward.
  for (const k of HOP_BY_HOP) h.delete(k);
  const te = h.get('te');
  if (te !== undefined && te !== 'trailers') h.delete('te');
  return { headers: h, count, bytes };
}

export function createHttp2Server(hcm: HcmConfig): http2.Http2Server {
  const server = http2.createServer({
    settings: { maxConcurrentStreams: Math.min(hcm.maxConcurrentStreams, 2 ** 31 - 1), maxHeaderListSize: hcm.maxRequestHeadersBytes + 1024 },
    // Let requests with too many headers reach us so they get a 431 rather than a reset.
    maxHeaderListPairs: Math.max(hcm.maxHeadersCount * 2 + 8, 128),
    maxSessionMemory: 64,
  });

  server.on('session', (session: http2.ServerHttp2Session) => {
    const conn = connOf(session.socket);
    if (!conn) return void session.destroy();
    hcm.stats.cxHttp2Total.inc();
    const st: SessionState = { conn, windowStart: 0, resets: 0, goaway: false };
    sessions.set(session, st);
    session.on('error', () => {});
    if (hcm.idleTimeoutMs > 0) {
      session.setTimeout(hcm.idleTimeoutMs, () => {
        goaway(hcm, session, st, NGHTTP2_NO_ERROR);
      });
    }
  });

  server.on('stream', (s: http2.ServerHttp2Stream, _h: http2.IncomingHttpHeaders, flags: number, rawHeaders: string[]) => {
    const session = s.session as http2.ServerHttp2Session;
    const st = sessions.get(session);
    if (!st) return void s.close(NGHTTP2_CANCEL);
    s.on('error', () => {});
    s.on('aborted', () => onPeerReset(hcm, session, st));
    const { headers, count, bytes } = headerMap(rawHeaders);
    if (count > hcm.maxHeadersCount || bytes > hcm.maxRequestHeadersBytes) {
      (count > hcm.maxHeadersCount ? hcm.stats.rqHeadersTooMany : hcm.stats.rqTooLarge).inc();
      s.respond({ ':status': 431, 'content-length': '0', server: hcm.serverName }, { endStream: true });
      return;
    }
    if (!headers.has(':method') || !headers.has(':path') || !headers.has(':authority')) {
      if (headers.get(':method') !== 'CONNECT') {
        hcm.stats.cxProtocolError.inc();
        s.respond({ ':status': 400, 'content-length': '0', server: hcm.serverName }, { endStream: true });
        return;
      }
    }
    const codec = new Http2Stream(s);
    const stream = new ActiveStream(hcm, st.conn.state, codec, st.conn.info, headers);
    let trailersSeen = false;
    s.on('close', () => {
      stream.onCodecReset();
      if (hcm.ctx.draining()) goaway(hcm, session, st, NGHTTP2_NO_ERROR);
    });
    s.on('drain', () => stream.onCodecDrain());
    const endStream = (flags & http2.constants.NGHTTP2_FLAG_END_STREAM) !== 0 || s.readableEnded;
    if (!endStream) {
      s.on('data', (chunk: Buffer) => stream.decodeData(chunk, false));
      s.on('trailers', (t: http2.IncomingHttpHeaders, _f: number) => {
        trailersSeen = true;
        const m: HeaderMap = new Map();
        for (const k in t) if (k.charCodeAt(0) !== 58 && t[k] !== undefined) m.set(k, t[k] as string | string[]);
        stream.decodeTrailers(m);
      });
      s.on('end', () => {
        if (!trailersSeen) stream.decodeData(EMPTY, true);
      });
    } else {
      s.resume();
    }
    stream.decodeHeaders(endStream);
    if (hcm.ctx.draining()) goaway(hcm, session, st, NGHTTP2_NO_ERROR);
  });
  return server;
}

/** Counts client resets; too many in one window is the CVE-2023-44487 pattern. */
function onPeerReset(hcm: HcmConfig, session: http2.ServerHttp2Session, st: SessionState): void {
  hcm.stats.h2RxReset.inc();
  const now = Date.now();
  if (now - st.windowStart > hcm.resetWindowMs) {
    st.windowStart = now;
    st.resets = 0;
  }
  if (++st.resets > hcm.maxResetsPerWindow && !st.goaway) {
    hcm.stats.h2RapidResetGoaway.inc();
    goaway(hcm, session, st, NGHTTP2_ENHANCE_YOUR_CALM);
    session.destroy();
  }
}

function goaway(hcm: HcmConfig, session: http2.ServerHttp2Session, st: SessionState, code: number): void {
  if (st.goaway || session.destroyed || session.closed) return;
  st.goaway = true;
  hcm.stats.h2GoawaySent.inc();
  if (code === NGHTTP2_NO_ERROR) hcm.stats.cxDrainClose.inc();
  try {
    session.goaway(code);
    // Graceful: in-flight streams finish, then the session closes.
    session.close();
  } catch {
    session.destroy();
  }
}

/** Called by the connection manager when a new h2 stream arrives while draining. */
export function drainSession(hcm: HcmConfig, session: http2.ServerHttp2Session): void {
  const st = sessions.get(session);
  if (st) goaway(hcm, session, st, NGHTTP2_NO_ERROR);
}
