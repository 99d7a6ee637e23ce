/**
 * Shared by the outlier-detection and health-check proxy tests: HTTP backends whose answers the
 * test switches (user status, health endpoint status) and that log when each request reached
 * them; an in-process proxy with one HTTP listener routing to one static cluster, plus its admin
 * API on loopback so the tests read /clusters and /stats as a user would.
 */
import http from 'node:http';
import { AdminServer } from '../../src/proxy/admin/admin.ts';
import type { EnvoyJson } from '../../src/xds/types.ts';
import { closeServer, httpListener, listen, startProxy, staticCluster, type Proxy } from './helpers.ts';

/** listen() on a given port (a restarted backend keeps its address). */
function listenOn(server: http.Server, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
}

export interface Backend {
  name: string;
  port: number;
  /** Status of user requests (anything but /health). */
  status: number;
  /** Status of GET /health. */
  healthStatus: number;
  /** performance.now() of each user request received. */
  hits: number[];
  /** performance.now() of each health check received. */
  healthHits: number[];
  close(): Promise<void>;
  /** Listens again on the same port after close() (a restarted backend). */
  reopen(): Promise<void>;
}

export async function startBackend(name: string): Promise<Backend> {
  const b: Backend = { name, port: 0, status: 200, healthStatus: 200, hits: [], healthHits: [], close: async () => {}, reopen: async () => {} };
  const handler: http.RequestListener = (req, res) => {
    if (req.url === '/health') {
      b.healthHits.push(performance.now());
      res.writeHead(b.healthStatus, { 'x-who': name }).end();
      return;
    }
    b.hits.push(performance.now());
    res.writeHead(b.status, { 'x-who': name }).end(name);
  };
  let server = http.createServer(handler);
  b.port = await listen(server);
  b.close = () => {
    const closed = closeServer(server);
    server.closeAllConnections();
    return closed;
  };
  b.reopen = async () => {
    server = http.createServer(handler);
    await listenOn(server, b.port);
  };
  return b;
}

export interface HealthWorld {
  backends: Backend[];
  proxy: Proxy;
  /** One request through the proxy: who answered and with what. */
  request(): Promise<{ status: number; who: string }>;
  /** GET on the admin API. */
  admin(path: string): Promise<string>;
  /** /clusters health_flags of a backend. */
  flags(b: Backend): Promise<string>;
  /** A counter or gauge of cluster `up` from /stats. */
  stat(name: string): Promise<number>;
  close(): Promise<void>;
}

/** Three (or `n`) backends behind cluster `up` with `clusterExtra` (outlier_detection, health_checks...); `beforeProxy` runs between the two. */
export async function startWorld(clusterExtra: EnvoyJson, n = 3, beforeProxy?: (backends: Backend[]) => void | Promise<void>): Promise<HealthWorld> {
  const backends = await Promise.all(['a', 'b', 'c', 'd', 'e'].slice(0, n).map(startBackend));
  await beforeProxy?.(backends);
  const proxy = await startProxy({
    clusters: [staticCluster('up', backends.map((b) => b.port), { lb_policy: 'ROUND_ROBIN', ...clusterExtra })],
    listeners: [httpListener('in', [{ match: { prefix: '/' }, route: { cluster: 'up' } }])],
  });
  const admin = new AdminServer({ server: proxy.server, onQuit: () => {}, version: 'tsmesh/test', commandLineOptions: { concurrency: 1 } });
  const adminPort = await admin.listen('127.0.0.1', 0);
  const port = proxy.port('in');
  const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
  const adminGet = async (path: string) => (await fetch(`http://127.0.0.1:${adminPort}${path}`)).text();
  return {
    backends,
    proxy,
    request: () =>
      new Promise((resolve, reject) => {
        const req = http.get({ host: '127.0.0.1', port, path: '/', agent }, (res) => {
          res.resume();
          res.on('end', () => resolve({ status: res.statusCode ?? 0, who: String(res.headers['x-who'] ?? '') }));
        });
        req.on('error', reject);
      }),
    admin: adminGet,
    flags: async (b) => {
      const m = new RegExp(`^up::127\\.0\\.0\\.1:${b.port}::health_flags::(.*)$`, 'm').exec(await adminGet('/clusters'));
      return m?.[1] ?? '(absent)';
    },
    stat: async (name) => {
      const m = new RegExp(`^cluster\\.up\\.${name.replace(/\./g, '\\.')}: (\\d+)$`, 'm').exec(await adminGet('/stats'));
      return m ? Number(m[1]) : NaN;
    },
    close: async () => {
      agent.destroy();
      await admin.close?.();
      await proxy.close();
      await Promise.all(backends.map((b) => b.close()));
    },
  };
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
