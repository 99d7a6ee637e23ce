/**
 * Test harness for the HTTP side alone: FactoryContext / ClusterManager / RouteConfigProvider /
 * Stats from src/proxy/interfaces.ts over the proxy's own upstream pools (HTTP/1.1 or HTTP/2) to static hosts, a plain net.Server that
 * hands accepted sockets to the HCM, and small upstream servers (echo, flaky, slow). Real sockets
 * on 127.0.0.1:0; close() tears down everything it started.
 */
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import type { Clock, ClusterManager, FactoryContext, HttpConnPool, LoadBalancerContext, RouteConfigProvider, Stats, StreamInfo, UpstreamCluster, UpstreamHost } from '../../../src/proxy/interfaces.ts';
import { httpConnectionManagerFactory } from '../../../src/proxy/http/index.ts';
import { ConnPoolMap } from '../../../src/proxy/upstream/conn_pool.ts';
import type { EnvoyJson } from '../../../src/xds/types.ts';
import { HTTP_FILTER, NETWORK_FILTER } from '../../../src/xds/type_urls.ts';

export const ROUTER = { name: 'envoy.filters.http.router', typed_config: { '@type': HTTP_FILTER.ROUTER } };

export class TestStats implements Stats {
  readonly values = new Map<string, number>();
  counter(name: string) {
    const v = this.values;
    return { inc: (n = 1) => void v.set(name, (v.get(name) ?? 0) + n), value: () => v.get(name) ?? 0 };
  }
  gauge(name: string) {
    const v = this.values;
    return {
      set: (x: number) => void v.set(name, x),
      inc: (n = 1) => void v.set(name, (v.get(name) ?? 0) + n),
      dec: (n = 1) => void v.set(name, (v.get(name) ?? 0) - n),
      value: () => v.get(name) ?? 0,
    };
  }
  histogram() {
    return { record() {} };
  }
  get(name: string): number {
    return this.values.get(name) ?? 0;
  }
  scoped(prefix: string): Stats {
    const self = this;
    return {
      counter: (n) => self.counter(prefix + n),
      gauge: (n) => self.gauge(prefix + n),
      histogram: () => self.histogram(),
    };
  }
}

export interface ClusterSpec {
  name: string;
  ports: number[];
  protocol?: 'http1' | 'http2';
  maxRequests?: number;
}

class StaticCluster implements UpstreamCluster {
  readonly config: EnvoyJson;
  readonly protocol: 'http1' | 'http2';
  readonly stats: Stats;
  readonly hosts: UpstreamHost[];
  private rr = 0;
  private readonly pools: ConnPoolMap;
  private active = 0;
  constructor(readonly name: string, spec: ClusterSpec, stats: TestStats) {
    this.config = { name };
    this.protocol = spec.protocol ?? 'http1';
    this.stats = stats.scoped(`cluster.${name}.`);
    this.hosts = spec.ports.map((port) => ({ address: `127.0.0.1:${port}`, ip: '127.0.0.1', port, weight: 1, healthy: true }));
    this.max = spec.maxRequests ?? 1024;
    this.pools = new ConnPoolMap({ protocol: this.protocol, transportSocket: () => ({ name: 'default', tls: undefined }), connectTimeoutMs: 5000, maxConnections: 16, idleTimeoutMs: 3_600_000, stats: this.stats });
  }
  private max: number;
  chooseHost(ctx?: LoadBalancerContext): UpstreamHost | undefined {
    const n = this.hosts.length;
    for (let i = 0; i < n; i++) {
      const h = this.hosts[this.rr++ % n];
      if (!ctx?.excludeHosts?.has(h) || i === n - 1) return h;
    }
    return undefined;
  }
  httpPool(host: UpstreamHost): HttpConnPool {
    return this.pools.get(host);
  }
  connect(host: UpstreamHost): net.Socket {
    return net.connect(host.port, host.ip);
  }
  tryAcquire(resource: string): (() => void) | undefined {
    if (resource !== 'requests') return () => {};
    if (this.active >= this.max) return undefined;
    this.active++;
    let done = false;
    return () => {
      if (!done) (done = true), this.active--;
    };
  }
  async close(): Promise<void> {
    await this.pools.destroyAll();
  }
}

export interface TestProxy {
  port: number;
  url: string;
  stats: TestStats;
  completed: StreamInfo[];
  ctx: FactoryContext;
  routes: Map<string, EnvoyJson>;
  setDraining(v: boolean): void;
  close(): Promise<void>;
}

/** Starts an HCM (typed config `hcm`) behind a plain TCP listener on 127.0.0.1:0. */
export async function startHcm(hcm: EnvoyJson, clusters: ClusterSpec[], opts: { random?: () => number; clock?: Clock; routes?: Record<string, EnvoyJson> } = {}): Promise<TestProxy> {
  const stats = new TestStats();
  const cl = new Map(clusters.map((c) => [c.name, new StaticCluster(c.name, c, stats)]));
  const routes = new Map(Object.entries(opts.routes ?? {}));
  const cm: ClusterManager = { get: (n) => cl.get(n), onChange: () => () => {} };
  const rp: RouteConfigProvider = { get: (n) => routes.get(n), onChange: () => () => {} };
  let draining = false;
  const completed: StreamInfo[] = [];
  const ctx: FactoryContext = {
    clusterManager: cm,
    routes: rp,
    stats,
    node: { id: 'test' },
    draining: () => draining,
    trackActive: () => {},
    releaseActive: () => {},
    random: opts.random,
    clock: opts.clock,
    onStreamComplete: (i) => void completed.push(i),
  };
  const handler = httpConnectionManagerFactory.create({ '@type': NETWORK_FILTER.HTTP_CONNECTION_MANAGER, ...hcm }, ctx);
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    handler(s, { remoteAddress: s.remoteAddress ?? '', remotePort: s.remotePort ?? 0, localAddress: s.localAddress ?? '', localPort: s.localPort ?? 0 });
  });
  const port = await listenOn(server);
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    stats,
    completed,
    ctx,
    routes,
    setDraining: (v) => void (draining = v),
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
      await Promise.all([...cl.values()].map((c) => c.close()));
    },
  };
}

export function listenOn(server: net.Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as net.AddressInfo).port)));
}

/** A route_config "rc" of one virtual host "v" for every domain. */
export function routeConfig(routes: EnvoyJson[]): EnvoyJson {
  return { name: 'rc', virtual_hosts: [{ name: 'v', domains: ['*'], routes }] };
}

/** A typical HCM config around a route_config. */
export function hcmConfig(routeConfig: EnvoyJson, extra: EnvoyJson = {}, filters: EnvoyJson[] = []): EnvoyJson {
  return { stat_prefix: 'test', route_config: routeConfig, http_filters: [...filters, ROUTER], ...extra };
}

export interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

export interface Upstream {
  port: number;
  seen: Seen[];
  close(): Promise<void>;
}

/**
 * An HTTP/1.1 upstream that records each request and answers JSON {name, method, url, headers,
 * body}; `behave` may take over the response (return true when it did).
 */
export async function startUpstream(name: string, behave?: (req: http.IncomingMessage, res: http.ServerResponse, body: string, n: number) => boolean | void): Promise<Upstream> {
  const seen: Seen[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString();
      const s = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body };
      seen.push(s);
      if (behave && behave(req, res, body, seen.length)) return;
      res.setHeader('content-type', 'application/json');
      res.setHeader('x-upstream', name);
      res.end(JSON.stringify({ name, ...s }));
    });
  });
  server.keepAliveTimeout = 60_000;
  const port = await listenOn(server);
  return {
    port,
    seen,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/** An h2c upstream with the same JSON answer, for downstream-h1 → upstream-h2 tests. */
export async function startH2Upstream(name: string): Promise<Upstream> {
  const seen: Seen[] = [];
  const sessions = new Set<http2.ServerHttp2Session>();
  const server = http2.createServer();
  server.on('session', (s) => {
    sessions.add(s);
    s.on('close', () => sessions.delete(s));
  });
  server.on('stream', (stream, headers) => {
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => {
      const body = Buffer.concat(chunks).toString();
      const s = { method: String(headers[':method']), url: String(headers[':path']), headers: headers as http.IncomingHttpHeaders, body };
      seen.push(s);
      stream.respond({ ':status': 200, 'content-type': 'application/json', 'x-upstream': name });
      stream.end(JSON.stringify({ name, ...s, protocol: 'h2' }));
    });
  });
  const port = await listenOn(server as unknown as net.Server);
  return {
    port,
    seen,
    close: async () => {
      for (const s of sessions) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

export interface Resp {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** One HTTP/1.1 request with node's client (fresh connection unless an agent is given). */
export function request(port: number, opts: { method?: string; path?: string; headers?: Record<string, string>; body?: string | Buffer; agent?: http.Agent } = {}): Promise<Resp> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method: opts.method ?? 'GET', path: opts.path ?? '/', headers: opts.headers, agent: opts.agent ?? false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}

/** Sends raw bytes and collects everything until the server closes (or `waitMs` of silence). */
export function rawExchange(port: number, data: string | Buffer, waitMs = 1500): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    let out = '';
    let timer: NodeJS.Timeout;
    const done = () => {
      clearTimeout(timer);
      s.destroy();
      resolve(out);
    };
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(done, waitMs);
    };
    s.on('data', (d) => {
      out += d.toString('latin1');
      arm();
    });
    s.on('close', done);
    s.on('error', done);
    s.write(data);
    arm();
  });
}
