/**
 * The dashboard on the control plane's debug port (15014): the web UI under /dashboard/ (plain
 * files from src/dashboard/ui, or dist/dashboard/ui in a build, and Cytoscape.js and uPlot from
 * node_modules: no build step, no network), and the JSON it reads:
 *   /api/namespaces/graph?namespaces=&duration=60s  the mesh graph in Kiali's Cytoscape shape
 *   /api/dashboard/series?node=<id>                  a node's inbound rate, errors, p95 over time
 *   /api/dashboard/node?node=<id>                    its proxies with their sync status, the config that
 *                                                    applies, and istioctl analyze's messages on that config
 *   /api/dashboard/info                              which sources and features are there
 *   /dashboard/zipkin/api/v2/...                     the embedded collector's query API, same origin
 * Rates come from a Prometheus when one is configured ($TSMESH_PROMETHEUS_URL, or ?prometheus=
 * naming one on loopback, as `tsmesh dashboard` does for the demo's), else from the control
 * plane's own scrapes of the connected proxies, which run only while the dashboard is in use.
 */
import { isLoopback } from './tap.ts';
import { existsSync, readFileSync, statSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import { dirname, extname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringMapOf } from '../common/string_map.ts';
import { buildGraph, type Graph } from '../dashboard/graph.ts';
import { windowRates } from '../dashboard/rates.ts';
import { nodeSeries, splitNodeId, type NodeSeries } from '../dashboard/series.ts';
import { prometheusSeries, prometheusTraffic } from '../dashboard/prometheus_source.ts';
import { configsApplying } from '../dashboard/applies.ts';
import { proxyTargets, type ConnectionRow } from './metrics/scrape_config.ts';
import { MeshScraper, type ScrapeTarget } from './graph_scraper.ts';
import { STATUS_HEADER, statusRow, syncIdentity, syncRow } from '../xds/sync_status.ts';
import type { NodeJson } from '../xds/types.ts';
import type { ControlPlane } from './server.ts';

const UI_DIR = fileURLToPath(new URL('../dashboard/ui/', import.meta.url));
const require = createRequire(import.meta.url);

/** Library files the UI imports, by the name it asks for. */
function vendorFiles(): Record<string, string> {
  const files: Record<string, string> = {};
  try {
    const cy = dirname(require.resolve('cytoscape'));
    files['cytoscape.esm.min.mjs'] = join(cy, 'cytoscape.esm.min.mjs');
  } catch {
    /* reported by /api/dashboard/info */
  }
  try {
    const up = dirname(require.resolve('uplot'));
    files['uPlot.esm.js'] = join(up, 'uPlot.esm.js');
    files['uPlot.min.css'] = join(up, 'uPlot.min.css');
  } catch {
    /* reported by /api/dashboard/info */
  }
  return files;
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
};

const MAX_WINDOW_S = 3600;

export interface DashboardOptions {
  /** A Prometheus to read rates from instead of scraping the proxies. */
  prometheus?: string;
  scrapeIntervalMs?: number;
}

export class DashboardApi {
  readonly scraper: MeshScraper;
  readonly #vendor = vendorFiles();
  readonly #prometheus: string | undefined;
  /** Analysis of the config at store generation `generation`, made at `at`. */
  #analysis: { at: number; generation: number; messages: Array<{ code: string; level: string; message: string; resource: string; key: string }> } | undefined;
  /** Bumped on every config change: the analysis is redone only when it moved. */
  #generation = 0;
  readonly #unwatch: () => void;
  /** The ISTIOD column and default cluster, as /debug/syncz fills them. */
  readonly #identity = syncIdentity();

  constructor(
    private readonly cp: ControlPlane,
    o: DashboardOptions = {},
  ) {
    this.#prometheus = o.prometheus ?? (process.env.TSMESH_PROMETHEUS_URL || undefined);
    this.scraper = new MeshScraper({ targets: () => this.targets(), ...(o.scrapeIntervalMs ? { intervalMs: o.scrapeIntervalMs } : {}) });
    this.#unwatch = cp.store.watch(() => this.#generation++);
  }

  /** Answers the dashboard's paths; false for any other. */
  handle(req: IncomingMessage, res: ServerResponse): boolean {
    const url = new URL(req.url ?? '/', 'http://controlplane');
    const path = url.pathname;
    // ?prometheus= makes the control plane fetch a URL: only for callers on this machine.
    if (url.searchParams.has('prometheus') && path.startsWith('/api/') && !isLoopback(req.socket.remoteAddress)) {
      json(res, 403, { error: 'prometheus: naming a Prometheus per request is allowed from this machine only; configure one with $TSMESH_PROMETHEUS_URL' });
      return true;
    }
    if (path === '/dashboard') {
      res.writeHead(302, { location: `/dashboard/${url.search}` }).end();
      return true;
    }
    if (path.startsWith('/dashboard/zipkin/')) return this.zipkin(req, res, path.slice('/dashboard/zipkin'.length) + url.search);
    if (path.startsWith('/dashboard/')) return this.file(res, path.slice('/dashboard/'.length));
    if (path === '/api/namespaces/graph') {
      this.answer(res, () => this.graph(url.searchParams));
      return true;
    }
    if (path === '/api/dashboard/series') {
      this.answer(res, () => this.series(url.searchParams));
      return true;
    }
    if (path === '/api/dashboard/node') {
      this.answer(res, async () => this.withAnalysis(this.node(url.searchParams)));
      return true;
    }
    if (path === '/api/dashboard/info') {
      this.answer(res, async () => ({
        prometheus: this.#prometheus ?? null,
        zipkin: this.cp.zipkin !== undefined,
        scrapeIntervalMs: this.scraper.intervalMs,
        libraries: Object.keys(this.#vendor),
      }));
      return true;
    }
    return false;
  }

  close(): void {
    this.scraper.close();
    this.#unwatch();
  }

  /** Every connected proxy's metrics endpoint, as Prometheus would scrape it. */
  targets(): ScrapeTarget[] {
    return proxyTargets(this.rows()).map((g) => ({ id: `${g.labels.namespace}/${g.labels.pod}`, url: `http://${g.targets[0]}${g.labels.__metrics_path__ ?? '/stats/prometheus'}` }));
  }

  private rows(): ConnectionRow[] {
    const d = this.cp.discovery;
    return d.connections().map((c) => ({ proxyId: c.proxyId, node: d.connectionsOf(c.proxyId).find((x) => x.id === c.id)?.node as ConnectionRow['node'] }));
  }

  /** The Prometheus to ask: ?prometheus= (loopback only: the control plane fetches it) or the configured one. */
  private prometheusFor(q: URLSearchParams): string | undefined {
    const asked = q.get('prometheus');
    if (!asked) return this.#prometheus;
    let u: URL;
    try {
      u = new URL(asked);
    } catch {
      throw new HttpError(400, `prometheus: not a URL: ${asked}`);
    }
    if (!/^(127\.\d+\.\d+\.\d+|localhost|\[::1\])$/.test(u.hostname) || !/^https?:$/.test(u.protocol)) {
      throw new HttpError(400, `prometheus: only a Prometheus on loopback can be named per request (got ${u.host}); configure another with $TSMESH_PROMETHEUS_URL`);
    }
    return u.origin;
  }

  private async graph(q: URLSearchParams): Promise<Graph & { source: string; covered: number }> {
    const graphType = q.get('graphType') ?? 'workload';
    if (graphType !== 'workload') throw new HttpError(400, `graphType: only "workload" is drawn (Kiali's workload graph with service nodes), got "${graphType}"`);
    const duration = parseDuration(q.get('duration') ?? '60s');
    const namespaces = (q.get('namespaces') ?? '').split(',').map((s) => s.trim()).filter(Boolean);
    const timestamp = Math.round(Date.now() / 1000);
    const prom = this.prometheusFor(q);
    if (prom) {
      const traffic = await prometheusTraffic(prom, duration);
      return { ...buildGraph(traffic, { namespaces, duration, timestamp }), source: `prometheus ${prom}`, covered: duration };
    }
    this.scraper.touch();
    const { traffic, covered } = windowRates(this.scraper.rounds(), duration);
    return { ...buildGraph(traffic, { namespaces, duration, timestamp }), source: 'proxies', covered: Math.round(covered) };
  }

  private async series(q: URLSearchParams): Promise<NodeSeries & { source: string }> {
    const id = q.get('node');
    if (!id || splitNodeId(id)[0] === '') throw new HttpError(400, 'node: a graph node id such as svc:default:reviews or wl:default:reviews-v1 is required');
    const prom = this.prometheusFor(q);
    if (prom) return { ...(await prometheusSeries(prom, id, parseDuration(q.get('duration') ?? '600s'), 10)), source: `prometheus ${prom}` };
    this.scraper.touch();
    return { ...nodeSeries(this.scraper.rounds(), id), source: 'proxies' };
  }

  /** A node's proxies (with istioctl proxy-status' columns) and the Istio config that applies to it. */
  private node(q: URLSearchParams): { node: string; proxies: unknown[]; config: ReturnType<typeof configsApplying>; service?: unknown } {
    const id = q.get('node') ?? '';
    const [kind, namespace, name] = splitNodeId(id);
    if (kind !== 'svc' && kind !== 'wl') throw new HttpError(400, 'node: a graph node id such as svc:default:reviews or wl:default:reviews-v1 is required');
    const service = kind === 'svc' ? this.cp.registry.services().find((s) => s.namespace === namespace && s.name === name) : undefined;
    const selector = service?.selector;
    const d = this.cp.discovery;
    const proxies = d
      .connections()
      .map((c) => {
        const node = d.connectionsOf(c.proxyId).find((x) => x.id === c.id)?.node as NodeJson | undefined;
        return { status: c, node, md: (node?.metadata ?? {}) as Record<string, unknown> };
      })
      .filter(({ md }) => {
        if (String(md.NAMESPACE ?? '') !== namespace) return false;
        if (kind === 'wl') return String(md.WORKLOAD_NAME ?? '') === name;
        const labels = stringMapOf(md.LABELS);
        return !!selector && Object.keys(selector).length > 0 && Object.entries(selector).every(([k, v]) => labels[k] === v);
      })
      // The row tsmesh proxy-status prints for this connection, as /debug/syncz serves it.
      .map(({ status, node }) => {
        const cells = statusRow(syncRow(status, node, this.#identity));
        return Object.fromEntries(STATUS_HEADER.map((h, i) => [h, cells[i] ?? '']));
      });
    const labels = kind === 'wl' ? stringMapOf(this.findWorkloadLabels(namespace, name)) : (selector ?? {});
    const config = configsApplying(this.cp.store.all(), { namespace, labels, ...(kind === 'svc' ? { host: service?.hostname ?? `${name}.${namespace}.svc.cluster.local` } : {}) });
    return { node: id, proxies, config, ...(service ? { service: { hostname: service.hostname, ports: service.ports, selector: service.selector ?? {} } } : {}) };
  }

  /**
   * istioctl analyze's messages on the live config (src/api/analysis), kept for the resources that
   * apply to the node and the node's own Service. Loaded on first use, then redone only after
   * the config changed (every analyzer over the whole store runs on the event loop that serves
   * pushes), and at most every 10 s while it keeps changing. The page asks every 5 s.
   */
  private async withAnalysis(node: { config: Array<{ kind: string; namespace: string; name: string }>; service?: unknown; node: string }): Promise<unknown> {
    const now = Date.now();
    const generation = this.#generation;
    if (!this.#analysis || (this.#analysis.generation !== generation && now - this.#analysis.at > 10_000)) {
      const [{ analyze, friendlyName }, { resourcesFromConfigs }] = await Promise.all([import('../api/analysis/run.ts'), import('../api/analysis/load.ts')]);
      const resources = resourcesFromConfigs(this.cp.store.all());
      const messages = analyze(resources).map((m) => ({ code: m.code, level: m.level, message: m.text, resource: m.resource ? friendlyName(m.resource) : '', key: m.resource ? `${m.resource.kind}/${m.resource.namespace}/${m.resource.name}` : '' }));
      this.#analysis = { at: now, generation, messages };
    }
    const [kind, namespace, name] = splitNodeId(node.node);
    const keys = new Set(node.config.map((c) => `${c.kind}/${c.namespace}/${c.name}`));
    if (kind === 'svc') keys.add(`Service/${namespace}/${name}`);
    return { ...node, analysis: this.#analysis.messages.filter((m) => keys.has(m.key)).map(({ key: _key, ...m }) => m) };
  }

  private findWorkloadLabels(namespace: string, workload: string): unknown {
    const row = this.rows().find((r) => String(r.node?.metadata?.NAMESPACE ?? '') === namespace && String(r.node?.metadata?.WORKLOAD_NAME ?? '') === workload);
    return row?.node?.metadata?.LABELS ?? {};
  }

  private zipkin(req: IncomingMessage, res: ServerResponse, rest: string): boolean {
    if (!this.cp.zipkin) return json(res, 404, { error: 'the control plane runs no trace collector (start it with --zipkin-port)' });
    if (req.method !== 'GET') return json(res, 405, { error: 'read-only: proxies send spans to the collector port' });
    // The collector's own handler, on the same origin as the page (it sends no CORS for reads).
    req.url = rest;
    if (!this.cp.zipkin.handle(req, res)) json(res, 404, { error: 'not found' });
    return true;
  }

  private file(res: ServerResponse, rel: string): boolean {
    let file: string | undefined;
    if (rel.startsWith('vendor/')) file = this.#vendor[rel.slice('vendor/'.length)];
    else {
      const clean = normalize(rel === '' ? 'index.html' : rel);
      if (!clean.startsWith('..') && !clean.includes('\0')) file = join(UI_DIR, clean);
    }
    if (!file || !TYPES[extname(file)] || !existsSync(file) || !statSync(file).isFile()) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end(`not found: /dashboard/${rel}\n`);
      return true;
    }
    res.writeHead(200, { 'content-type': TYPES[extname(file)]!, 'cache-control': 'no-cache' }).end(readFileSync(file));
    return true;
  }

  private answer(res: ServerResponse, f: () => Promise<unknown> | unknown): void {
    Promise.resolve()
      .then(f)
      .then(
        (body) => json(res, 200, body),
        (e: unknown) => json(res, e instanceof HttpError ? e.status : 502, { error: e instanceof Error ? e.message : String(e) }),
      );
  }
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** Kiali's duration parameter: "60s", "10m", "1h" or plain seconds. */
export function parseDuration(s: string): number {
  const m = /^(\d+)(s|m|h)?$/.exec(s.trim());
  if (!m) throw new HttpError(400, `duration: expected seconds or a duration such as 60s, 10m, 1h; got "${s}"`);
  const v = Number(m[1]) * (m[2] === 'h' ? 3600 : m[2] === 'm' ? 60 : 1);
  if (v < 1 || v > MAX_WINDOW_S) throw new HttpError(400, `duration: between 1s and 1h, got "${s}"`);
  return v;
}

function json(res: ServerResponse, status: number, body: unknown): true {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-cache' }).end(JSON.stringify(body) + '\n');
  return true;
}
