/**
 * Shared by test/integration/lifecycle_*.test.ts ("nothing lost" while config and processes
 * change): a backend that says who answered (optionally slowly), and a bounded load of keep-alive
 * HTTP/1.1 clients that records every request that did not come back 200 from a known backend.
 */
import { createServer, type Server } from 'node:http';
import { Client } from 'undici';

export interface Backend {
  readonly name: string;
  readonly ip: string;
  readonly port: number;
  /** Requests received (started) so far. */
  received(): number;
  /** Requests being served right now. */
  inFlight(): number;
  close(): Promise<void>;
}

/**
 * Answers 200 `{"who": name}`; `?delay=<ms>` holds the response that long (a request that is
 * surely in flight when config changes or a process is told to stop). `delayAll` applies to all.
 */
export function startBackend(name: string, ip: string, port: number, o: { delayAll?: number } = {}): Promise<Backend> {
  let received = 0;
  let active = 0;
  const server: Server = createServer((req, res) => {
    received++;
    active++;
    res.once('close', () => active--);
    const q = new URL(req.url ?? '/', 'http://x').searchParams;
    const delay = Number(q.get('delay') ?? o.delayAll ?? 0);
    const send = () => {
      const body = JSON.stringify({ who: name, path: req.url });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }).end(body);
    };
    req.resume();
    req.once('end', () => (delay > 0 ? setTimeout(send, delay) : send()));
  });
  server.keepAliveTimeout = 60_000;
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, ip, () => {
      server.off('error', reject);
      resolve({
        name,
        ip,
        port,
        received: () => received,
        inFlight: () => active,
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done());
            server.closeAllConnections();
          }),
      });
    });
  });
}

export interface LoadOptions {
  /** The sidecar's HTTP listener, e.g. pod.outbound. */
  url: string;
  /** Host header (the service). */
  host: string;
  /** Concurrent keep-alive clients, one connection each. */
  clients: number;
  /** Total requests at most. */
  max: number;
  /** Stop sending after this long no matter what (bounded loop). */
  deadlineMs: number;
  /** Who may answer (checked on every response). */
  valid: (who: string) => boolean;
  /** Path of request #i (default `/r/<i>`). */
  path?: (i: number) => string;
  /** Extra headers of request #i. */
  headers?: (i: number) => Record<string, string>;
  /** Request #i waits until this is true (pacing against the change schedule); bounded by the deadline. */
  mayStart?: (i: number) => boolean;
}

export interface Load {
  /** Requests started. */
  readonly sent: number;
  readonly ok: number;
  /** Requests in flight now. */
  readonly inFlight: number;
  readonly failures: string[];
  /** Answers per backend. */
  readonly byBackend: Map<string, number>;
  /** Responses that asked to close the connection (drain). */
  readonly connectionClose: number;
  /** Resolves when every client has stopped (max reached, deadline passed, or stop()). */
  readonly done: Promise<void>;
  stop(): Promise<void>;
}

export function startLoad(o: LoadOptions): Load {
  const started = Date.now();
  const deadline = started + o.deadlineMs;
  let stopped = false;
  const state = { sent: 0, ok: 0, inFlight: 0, connectionClose: 0, failures: [] as string[], byBackend: new Map<string, number>() };
  const clients: Client[] = [];
  const worker = async (): Promise<void> => {
    const client = new Client(o.url, { keepAliveTimeout: 30_000, pipelining: 1 });
    clients.push(client);
    for (;;) {
      if (stopped || state.sent >= o.max || Date.now() > deadline) break;
      const i = state.sent;
      if (o.mayStart && !o.mayStart(i)) {
        await new Promise((r) => setTimeout(r, 10));
        continue;
      }
      state.sent++;
      state.inFlight++;
      const path = o.path ? o.path(i) : `/r/${i}`;
      try {
        const r = await client.request({ method: 'GET', path, headers: { host: o.host, ...o.headers?.(i) }, signal: AbortSignal.timeout(20_000) });
        const body = await r.body.text();
        if (r.headers.connection === 'close') state.connectionClose++;
        let who = '';
        try {
          who = JSON.parse(body).who ?? '';
        } catch {
          // not JSON: a local reply from a proxy
        }
        if (r.statusCode === 200 && o.valid(who)) {
          state.ok++;
          state.byBackend.set(who, (state.byBackend.get(who) ?? 0) + 1);
        } else {
          state.failures.push(`#${i} ${path} at ${Date.now() - started} ms: ${r.statusCode} ${r.headers['x-envoy-response-flags'] ?? ''} ${body.slice(0, 200)}`);
        }
      } catch (e) {
        const err = e as Error & { code?: string };
        state.failures.push(`#${i} ${path} at ${Date.now() - started} ms: ${err.code ?? ''} ${err.message}`);
      } finally {
        state.inFlight--;
      }
    }
  };
  const done = Promise.all(Array.from({ length: o.clients }, () => worker())).then(async () => {
    await Promise.all(clients.map((c) => c.close().catch(() => c.destroy())));
  });
  return {
    get sent() {
      return state.sent;
    },
    get ok() {
      return state.ok;
    },
    get inFlight() {
      return state.inFlight;
    },
    get connectionClose() {
      return state.connectionClose;
    },
    failures: state.failures,
    byBackend: state.byBackend,
    done,
    stop: async () => {
      stopped = true;
      await done;
    },
  };
}

/** A cluster stat summed over clusters whose name contains `cluster`, from a sidecar's admin /stats. */
export async function clusterStat(admin: string, cluster: string, stat: string): Promise<number> {
  const text = await (await fetch(`${admin}/stats`, { signal: AbortSignal.timeout(5000) })).text();
  let sum = 0;
  // By suffix, so dotted stats (outlier_detection.ejections_active) are found too.
  for (const line of text.split('\n')) {
    const m = /^cluster\.(.+): (\d+)$/.exec(line.trim());
    if (m && m[1]!.endsWith(`.${stat}`) && m[1]!.slice(0, -stat.length - 1).includes(cluster)) sum += Number(m[2]);
  }
  return sum;
}
