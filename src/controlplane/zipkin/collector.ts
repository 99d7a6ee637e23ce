/**
 * The control plane's embedded Zipkin-v2-compatible collector (Zipkin's port 9411): proxies POST
 * spans to /api/v2/spans, and the demo, the dashboard or a Zipkin UI read them back through
 * Zipkin's query API (/api/v2/services, /spans, /traces, /trace/{id}). Memory is bounded by the
 * store's span cap; a body over the size limit is refused with 413.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { gunzip } from 'node:zlib';
import { DEFAULT_MAX_SPANS, spanProblem, TraceStore, type TraceQuery, type ZipkinSpan } from './store.ts';

export const DEFAULT_ZIPKIN_PORT = 9411;
const MAX_BODY_BYTES = 8 * 1024 * 1024;

export interface CollectorOptions {
  maxSpans?: number;
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json', 'access-control-allow-origin': '*' }).end(JSON.stringify(body));
}

function text(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, { 'content-type': 'text/plain', 'access-control-allow-origin': '*' }).end(`${body}\n`);
}

function num(v: string | null): number | undefined {
  if (v === null || v === '') return undefined;
  const n = Number(v);
  return Number.isFinite(n) ? n : undefined;
}

export class ZipkinCollector {
  readonly store: TraceStore;
  private server?: Server;
  port = 0;
  /** Spans accepted and POSTs refused, for the control plane's own metrics. */
  spansAccepted = 0;
  postsRejected = 0;

  constructor(o: CollectorOptions = {}) {
    this.store = new TraceStore(o.maxSpans ?? DEFAULT_MAX_SPANS);
  }

  /** Handles a Zipkin API request; false when the path is not the collector's. */
  handle(req: IncomingMessage, res: ServerResponse): boolean {
    const url = new URL(req.url ?? '/', 'http://collector');
    const path = url.pathname;
    if (!path.startsWith('/api/v2/') && path !== '/health') return false;
    if (req.method === 'OPTIONS') {
      res.writeHead(204, { 'access-control-allow-origin': '*', 'access-control-allow-methods': 'GET, POST', 'access-control-allow-headers': 'content-type, content-encoding' }).end();
      return true;
    }
    if (path === '/api/v2/spans' && req.method === 'POST') {
      this.receive(req, res);
      return true;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      text(res, 405, 'method not allowed');
      return true;
    }
    const q = url.searchParams;
    if (path === '/health') text(res, 200, 'UP');
    else if (path === '/api/v2/services') json(res, 200, this.store.serviceNames());
    else if (path === '/api/v2/spans') {
      const service = q.get('serviceName');
      if (!service) text(res, 400, 'serviceName is required');
      else json(res, 200, this.store.spanNames(service));
    } else if (path === '/api/v2/traces') {
      const query: TraceQuery = {
        serviceName: q.get('serviceName') ?? undefined,
        spanName: q.get('spanName') ?? undefined,
        annotationQuery: q.get('annotationQuery') ?? undefined,
        minDuration: num(q.get('minDuration')),
        maxDuration: num(q.get('maxDuration')),
        endTs: num(q.get('endTs')),
        lookback: num(q.get('lookback')),
        limit: Math.max(1, Math.min(num(q.get('limit')) ?? 10, 1000)),
      };
      json(res, 200, this.store.query(query));
    } else if (path.startsWith('/api/v2/trace/')) {
      const spans = this.store.trace(decodeURIComponent(path.slice('/api/v2/trace/'.length)));
      if (spans) json(res, 200, spans);
      else text(res, 404, `trace ${path.slice('/api/v2/trace/'.length)} not found`);
    } else if (path === '/api/v2/traceMany') {
      const ids = (q.get('traceIds') ?? '').split(',').filter(Boolean);
      json(res, 200, ids.map((id) => this.store.trace(id)).filter((t): t is ZipkinSpan[] => t !== undefined));
    } else {
      text(res, 404, 'not found');
    }
    return true;
  }

  /** POST /api/v2/spans: a JSON list of spans (gzip allowed); 202 when stored, 400 naming the bad span. */
  private receive(req: IncomingMessage, res: ServerResponse): void {
    const chunks: Buffer[] = [];
    let size = 0;
    let refused = false;
    req.on('data', (c: Buffer) => {
      if (refused) return;
      size += c.length;
      if (size > MAX_BODY_BYTES) {
        refused = true;
        this.postsRejected++;
        text(res, 413, `body over ${MAX_BODY_BYTES} bytes`);
        req.resume();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => {
      if (refused) return;
      const body = Buffer.concat(chunks);
      const parse = (raw: Buffer) => {
        let spans: unknown;
        try {
          spans = JSON.parse(raw.toString('utf8'));
        } catch (e) {
          this.postsRejected++;
          return text(res, 400, `invalid JSON: ${(e as Error).message}`);
        }
        if (!Array.isArray(spans)) {
          this.postsRejected++;
          return text(res, 400, 'expected a JSON list of spans (Zipkin v2)');
        }
        for (let i = 0; i < spans.length; i++) {
          const p = spanProblem(spans[i]);
          if (p) {
            this.postsRejected++;
            return text(res, 400, `span ${i}: ${p}`);
          }
        }
        this.store.add(spans as ZipkinSpan[]);
        this.spansAccepted += spans.length;
        res.writeHead(202, { 'access-control-allow-origin': '*' }).end();
      };
      if (/gzip/i.test(String(req.headers['content-encoding'] ?? ''))) {
        gunzip(body, { maxOutputLength: MAX_BODY_BYTES * 4 }, (err, out) => (err ? (this.postsRejected++, text(res, 400, `bad gzip body: ${err.message}`)) : parse(out)));
      } else {
        parse(body);
      }
    });
  }

  /** Listens on `port` (0: a free one); resolves with the port bound. */
  async listen(port: number, address: string): Promise<number> {
    this.server = createServer((req, res) => {
      if (!this.handle(req, res)) text(res, 404, 'not found');
    });
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(port, address, () => resolve());
    });
    this.port = (this.server.address() as { port: number }).port;
    return this.port;
  }

  async close(): Promise<void> {
    const s = this.server;
    if (!s) return;
    // Proxies keep their report connections alive: end them, or close() waits for them forever.
    const closed = new Promise<void>((r) => s.close(() => r()));
    s.closeAllConnections();
    await closed;
  }
}
