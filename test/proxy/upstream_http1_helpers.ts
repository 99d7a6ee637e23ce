/**
 * Helpers for the HTTP/1.1 upstream client tests: a scripted raw TCP upstream (it sees each
 * request's exact bytes and answers with exact bytes) and a client side that runs one request
 * through an Http1Pool and collects what the handler heard.
 */
import net from 'node:net';
import type { Duplex } from 'node:stream';
import type { HeaderMap } from '../../src/proxy/interfaces.ts';
import { Http1Pool, type Http1PoolOptions } from '../../src/proxy/upstream/http1/pool.ts';
import type { Http1Handler, Http1RequestOptions, Http1Stream } from '../../src/proxy/upstream/http1/types.ts';
import { closeServer, listen } from './helpers.ts';

export interface RawRequest {
  /** The request's bytes as latin1 (head and body as framed on the wire). */
  text: string;
  head: string;
  /** Decoded body. */
  body: string;
  /** Connection number (1-based) and request number on that connection. */
  conn: number;
  n: number;
  socket: net.Socket;
}

/**
 * An upstream that cuts the byte stream into requests (Content-Length or chunked framing) and
 * calls `answer` for each; `answer` writes whatever it likes on `req.socket`.
 */
export async function rawUpstream(answer: (req: RawRequest) => void): Promise<{ port: number; requests: RawRequest[]; connections: () => number; close: () => Promise<void> }> {
  const requests: RawRequest[] = [];
  let conns = 0;
  const server = net.createServer((socket) => {
    const conn = ++conns;
    let n = 0;
    let buf = '';
    socket.on('error', () => {});
    socket.on('data', (d) => {
      buf += d.toString('latin1');
      for (;;) {
        const he = buf.indexOf('\r\n\r\n');
        if (he < 0) return;
        const head = buf.slice(0, he + 4);
        let end = he + 4;
        let body = '';
        const cl = /\r\ncontent-length: *(\d+)/i.exec(head);
        if (/\r\ntransfer-encoding: *chunked/i.test(head)) {
          let p = he + 4;
          for (;;) {
            const le = buf.indexOf('\r\n', p);
            if (le < 0) return;
            const size = parseInt(buf.slice(p, le), 16);
            if (buf.length < le + 2 + size + 2) return;
            if (size === 0) {
              end = le + 4;
              break;
            }
            body += buf.slice(le + 2, le + 2 + size);
            p = le + 2 + size + 2;
          }
        } else if (cl) {
          end = he + 4 + Number(cl[1]);
          if (buf.length < end) return;
          body = buf.slice(he + 4, end);
        }
        const r: RawRequest = { text: buf.slice(0, end), head, body, conn, n: ++n, socket };
        buf = buf.slice(end);
        requests.push(r);
        answer(r);
      }
    });
  });
  const port = await listen(server);
  return { port, requests, connections: () => conns, close: () => closeServer(server) };
}

/** A stats sink with readable values. */
export function poolStats(): Http1PoolOptions['stats'] & { values: Record<string, number> } {
  const values: Record<string, number> = { total: 0, active: 0, connectFail: 0, connectTimeout: 0, protocolError: 0 };
  const c = (k: string) => ({ inc: (n = 1) => void (values[k] += n), dec: (n = 1) => void (values[k] -= n) });
  return { total: c('total'), active: c('active'), connectFail: c('connectFail'), connectTimeout: c('connectTimeout'), protocolError: c('protocolError'), values };
}

export function makePool(port: number, o: Partial<Http1PoolOptions> = {}): { pool: Http1Pool; stats: ReturnType<typeof poolStats> } {
  const stats = poolStats();
  const pool = new Http1Pool({ connect: { host: '127.0.0.1', port }, connectTimeoutMs: 5000, maxConnections: 8, idleTimeoutMs: 60_000, maxRequests: 0, stats, ...o });
  return { pool, stats };
}

export interface Outcome {
  status?: number;
  headers?: HeaderMap;
  body: string;
  trailers?: HeaderMap;
  error?: { reason: string; code?: string; message: string };
  upgrade?: Duplex;
}

/** A handler that records everything; `onHeaders` may act on the stream (pause, abort). */
export class Recorder implements Http1Handler {
  done = false;
  stream: Http1Stream | undefined;
  readonly out: Outcome = { body: '' };
  readonly finished: Promise<Outcome>;
  private resolve!: (o: Outcome) => void;
  constructor(private readonly hooks: { onHeaders?: (r: Recorder) => void; onData?: (r: Recorder, chunk: Buffer) => void } = {}) {
    this.finished = new Promise((r) => (this.resolve = r));
  }
  onH1Attach(s: Http1Stream): void {
    this.stream = s;
  }
  onH1Headers(status: number, headers: HeaderMap): void {
    this.out.status = status;
    this.out.headers = headers;
    this.hooks.onHeaders?.(this);
  }
  onH1Data(chunk: Buffer): void {
    this.out.body += chunk.toString('latin1');
    this.hooks.onData?.(this, chunk);
  }
  onH1Complete(trailers: HeaderMap | undefined): void {
    this.done = true;
    this.out.trailers = trailers;
    this.resolve(this.out);
  }
  onH1Error(reason: string, err: Error): void {
    this.done = true;
    this.out.error = { reason, code: (err as { code?: string }).code, message: err.message };
    this.resolve(this.out);
  }
  onH1Upgrade(status: number, headers: HeaderMap, socket: Duplex): void {
    this.done = true;
    this.out.status = status;
    this.out.headers = headers;
    this.out.upgrade = socket;
    this.resolve(this.out);
  }
  /** Aborts the request (as the router does on a timeout). */
  abort(): void {
    this.done = true;
    this.stream?.abort(this);
  }
}

export function send(pool: Http1Pool, opts: Partial<Http1RequestOptions> = {}, r = new Recorder()): Promise<Outcome> {
  pool.dispatch({ method: 'GET', path: '/', headers: ['host', 'up'], body: null, ...opts }, r);
  return r.finished;
}
