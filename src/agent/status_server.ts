/**
 * The agent's status server (pilot-agent's, Istio ports): 15021 `/healthz/ready` answers 200 once
 * the proxy holds its first xDS config (listeners and clusters warmed) and 503 before that and
 * while it drains; 15020 serves the same readiness and `/stats/prometheus`, Istio's metrics
 * merging: the proxy's own Prometheus output, the agent's istio_agent_* series, and the app's
 * metrics when its pod's prometheus.io/* annotations ask for a scrape (ISTIO_PROMETHEUS_ANNOTATIONS).
 * A source that fails, runs past the scrape deadline or sends more than the byte cap is left out
 * and counted; the merged answer is still 200. Concurrent scrapes share one fetch of each source.
 * 15020 also runs the app probes the injector rewrote to /app-health/<container>/<probe>.
 */
import { APP_HEALTH_PREFIX, APP_PROBERS_ENV, appHealth, parseAppProbers, type AppProbers } from './health/app_probers.ts';
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PROMETHEUS_CONTENT_TYPE } from '../common/prometheus.ts';
import type { AgentMetrics } from './metrics.ts';

/** Where the app's own metrics are (from prometheus.io/port and prometheus.io/path). */
export interface AppScrapeTarget {
  host: string;
  port: number;
  path: string;
}

export interface StatusServerOptions {
  /** The pod IP both ports bind (Kubernetes binds all addresses of the pod's namespace). */
  address: string;
  /** pilot-agent's status port (Istio: 15020). 0 picks a free one. */
  statusPort: number;
  /** The readiness port kubelet probes (Istio: 15021). 0 picks a free one. */
  readinessPort: number;
  /** undefined when ready; else why not (e.g. "proxy state INITIALIZING"). */
  notReady: () => string | undefined;
  /** The proxy's /stats/prometheus (Envoy's 15090 / admin). */
  proxyStatsUrl: () => string;
  app?: AppScrapeTarget;
  metrics: AgentMetrics;
  /** Per-source scrape deadline for the whole answer (default 2 s, under Prometheus' usual 10 s). */
  scrapeTimeoutMs?: number;
  /** Largest body taken from a source (default 16 MB); a larger one is dropped. */
  maxScrapeBytes?: number;
  /** The app probes the injector rewrote to /app-health/... (ISTIO_KUBE_APP_PROBERS), run against `appHost`. */
  appProbers?: AppProbers;
  appHost?: string;
}

/** Istio's merged scrape has no cap; 16 MB is far above any sane exposition and bounds the agent's memory. */
const MAX_SCRAPE_BYTES = 16 * 1024 * 1024;

export class StatusServer {
  readonly #o: StatusServerOptions;
  #status?: Server;
  #readiness?: Server;
  statusPort = 0;
  readinessPort = 0;
  /** The fetch of each source in flight, shared by concurrent scrapes. */
  #inflight = new Map<string, Promise<string>>();

  constructor(o: StatusServerOptions) {
    this.#o = o;
  }

  async listen(): Promise<void> {
    const handler = (req: IncomingMessage, res: ServerResponse) => void this.#handle(req, res);
    this.#status = createServer(handler);
    this.#readiness = createServer((req, res) => {
      // 15021 is only the probe port.
      if (path(req) === '/healthz/ready') return this.#ready(res);
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
    });
    this.statusPort = await bind(this.#status, this.#o.address, this.#o.statusPort, 'status');
    this.readinessPort = await bind(this.#readiness, this.#o.address, this.#o.readinessPort, 'readiness');
  }

  async close(): Promise<void> {
    for (const s of [this.#status, this.#readiness]) {
      if (!s) continue;
      await new Promise<void>((r) => s.close(() => r()));
      s.closeAllConnections();
    }
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const p = path(req);
    if (p.startsWith(APP_HEALTH_PREFIX) && this.#o.appProbers) {
      const a = await appHealth(this.#o.appProbers, p, this.#o.appHost ?? this.#o.address);
      res.writeHead(a.status, { 'content-type': 'text/plain' }).end(a.body);
      return;
    }
    switch (p) {
      case '/healthz/ready':
        return this.#ready(res);
      case '/stats/prometheus':
        res.writeHead(200, { 'content-type': PROMETHEUS_CONTENT_TYPE }).end(await this.merged());
        return;
      default:
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
    }
  }

  #ready(res: ServerResponse): void {
    const why = this.#o.notReady();
    if (why === undefined) res.writeHead(200, { 'content-type': 'text/plain' }).end('ready\n');
    else res.writeHead(503, { 'content-type': 'text/plain' }).end(`not ready: ${why}\n`);
  }

  /** Proxy, agent and app series in one exposition; a failed source is left out and counted. */
  async merged(): Promise<string> {
    const m = this.#o.metrics;
    m.scrapes.inc();
    const app = this.#o.app;
    const [proxy, appText] = await Promise.all([
      this.#fetchShared('envoy', this.#o.proxyStatsUrl()),
      app ? this.#fetchShared('application', `http://${hostPort(app.host, app.port)}${app.path}`) : Promise.resolve(''),
    ]);
    return section(proxy) + (await m.render()) + section(stripEof(appText));
  }

  /** One fetch of a source at a time: a scrape arriving while one runs waits for the same answer. */
  #fetchShared(type: 'envoy' | 'application', url: string): Promise<string> {
    let p = this.#inflight.get(type);
    if (!p) {
      p = fetchText(url, this.#o.scrapeTimeoutMs ?? 2000, this.#o.maxScrapeBytes ?? MAX_SCRAPE_BYTES)
        .catch(() => {
          this.#o.metrics.scrapeFailures.inc({ type });
          return '';
        })
        .finally(() => this.#inflight.delete(type));
      this.#inflight.set(type, p);
    }
    return p;
  }
}

/** Istio's ISTIO_PROMETHEUS_ANNOTATIONS (JSON of the pod's prometheus.io/* values) as a target, if it asks for a scrape. */
export function appScrapeTarget(json: string | undefined, host: string): AppScrapeTarget | undefined {
  if (!json) return undefined;
  let a: Record<string, unknown>;
  try {
    a = JSON.parse(json) as Record<string, unknown>;
  } catch {
    throw new Error(`ISTIO_PROMETHEUS_ANNOTATIONS is not JSON: ${json}`);
  }
  if (String(a.scrape ?? '') !== 'true') return undefined;
  const port = Number(a.port ?? 80);
  if (!Number.isInteger(port) || port <= 0 || port > 65535) throw new Error(`ISTIO_PROMETHEUS_ANNOTATIONS: port ${JSON.stringify(a.port)} is not a port`);
  const p = typeof a.path === 'string' && a.path ? a.path : '/metrics';
  return { host, port, path: p.startsWith('/') ? p : `/${p}` };
}

function path(req: IncomingMessage): string {
  return (req.url ?? '/').split('?')[0]!;
}

function hostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

function section(text: string): string {
  return text && !text.endsWith('\n') ? text + '\n' : text;
}

/** OpenMetrics ends with "# EOF"; in the middle of a merged text exposition it would end it. */
function stripEof(text: string): string {
  return text.replace(/^# EOF\s*$/m, '');
}

function bind(server: Server, address: string, port: number, what: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) =>
      reject(new Error(e.code === 'EADDRINUSE' ? `${what} address ${address}:${port} is already in use` : `${what} server cannot listen on ${address}:${port}: ${e.message}`)),
    );
    server.listen(port, address, () => resolve((server.address() as AddressInfo).port));
  });
}

/**
 * GET `url` as text: the whole answer within `timeoutMs` (a deadline, so a source that drips
 * bytes cannot hold the scrape) and at most `maxBytes`; a non-200 answer is a failure.
 */
function fetchText(url: string, timeoutMs: number, maxBytes: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const fail = (e: Error) => {
      clearTimeout(deadline);
      req.destroy();
      reject(e);
    };
    const req = request(url, { headers: { accept: 'text/plain' } }, (res) => {
      if (res.statusCode !== 200) return fail(new Error(`${url}: HTTP ${res.statusCode}`));
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size > maxBytes) return fail(new Error(`${url}: more than ${maxBytes} bytes`));
        chunks.push(c);
      });
      res.on('end', () => {
        clearTimeout(deadline);
        resolve(Buffer.concat(chunks).toString('utf8'));
      });
      res.on('error', fail);
    });
    const deadline = setTimeout(() => fail(new Error(`${url}: no complete answer in ${timeoutMs} ms`)), timeoutMs);
    deadline.unref();
    req.on('error', fail);
    req.end();
  });
}

/** What `tsmesh proxy` hands the status server: its proxy, its admin address and its agent. */
export interface ProxyStatusOptions {
  address: string;
  statusPort: number;
  readinessPort: number;
  /** The proxy's lifecycle state (Envoy's server state): LIVE is ready. */
  proxyState: () => string;
  xdsConnected?: () => number | undefined;
  admin: { ip: string; port: () => number };
  certNotAfter?: () => number | undefined;
  /** ISTIO_PROMETHEUS_ANNOTATIONS and where the app listens. */
  prometheusAnnotations?: string;
  appHost: string;
}

/** Starts the status server beside a proxy; throws (naming the port) when it cannot bind. */
export async function startProxyStatus(o: ProxyStatusOptions): Promise<StatusServer> {
  const adminHost = o.admin.ip === '0.0.0.0' ? '127.0.0.1' : o.admin.ip === '::' ? '::1' : o.admin.ip;
  const app = appScrapeTarget(o.prometheusAnnotations, o.appHost);
  const { AgentMetrics } = await import('./metrics.ts');
  const s = new StatusServer({
    address: o.address,
    statusPort: o.statusPort,
    readinessPort: o.readinessPort,
    notReady: () => {
      const st = o.proxyState();
      return st === 'LIVE' ? undefined : `proxy state ${st}`;
    },
    proxyStatsUrl: () => `http://${hostPort(adminHost, o.admin.port())}/stats/prometheus`,
    ...(app ? { app } : {}),
    appProbers: parseAppProbers(process.env[APP_PROBERS_ENV]),
    appHost: o.appHost,
    metrics: new AgentMetrics({ certNotAfter: o.certNotAfter, xdsConnected: o.xdsConnected }),
  });
  await s.listen();
  return s;
}

/** The prometheus.io/* annotations Istio's injector sets on a pod whose metrics the agent merges. */
export function mergedMetricsAnnotations(statusPort: number): Record<string, string> {
  return { 'prometheus.io/scrape': 'true', 'prometheus.io/port': String(statusPort), 'prometheus.io/path': '/stats/prometheus' };
}


/**
 * Istio's injector: a pod annotated prometheus.io/scrape keeps its app's scrape settings in the
 * sidecar's ISTIO_PROMETHEUS_ANNOTATIONS, since its annotations now point at the agent. undefined
 * when the pod does not ask for a scrape.
 */
export function prometheusAnnotationsEnv(annotations: Record<string, string> | undefined): string | undefined {
  if (!annotations || annotations['prometheus.io/scrape'] !== 'true') return undefined;
  const out: Record<string, string> = { scrape: 'true' };
  if (annotations['prometheus.io/port']) out.port = annotations['prometheus.io/port'];
  if (annotations['prometheus.io/path']) out.path = annotations['prometheus.io/path'];
  return JSON.stringify(out);
}

/** Istio's ports: pilot-agent's status port and the readiness port kubelet probes. */
export const STATUS_PORT = 15020;
export const READINESS_PORT = 15021;
