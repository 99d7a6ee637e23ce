/**
 * For the load-balancing acceptance tests: a Service + DestinationRule (Istio YAML) and workloads
 * translated by the pilot into the Cluster and ClusterLoadAssignment a caller's sidecar gets, fed
 * to a real proxy (in-process ProxyServer, real sockets) in front of real HTTP upstreams on
 * loopback. Each upstream answers with its name, after an optional delay or with a chosen status.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Workload } from '../../src/registry/model.ts';
import { generate } from '../../src/pilot/generator.ts';
import { parseProxy } from '../../src/pilot/proxy.ts';
import { TYPE, type EnvoyJson } from '../../src/xds/types.ts';
import { pushFromYaml, sidecarNode, workload } from '../pilot/fixtures.ts';
import { httpListener, startProxy, type Proxy } from '../proxy/helpers.ts';

export const SERVICE = 'web';
export const CLUSTER = 'outbound|80||web.default.svc.cluster.local';

export interface App {
  name: string;
  ip: string;
  port: number;
  /** Status to answer with (200 by default). */
  status: number;
  delayMs: number;
  served: number;
  close(): Promise<void>;
}

function serve(app: App, ip: string, port: number): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      app.served++;
      const answer = () => {
        res.statusCode = app.status;
        res.setHeader('x-upstream', app.name);
        res.end(app.name);
      };
      if (app.delayMs > 0) setTimeout(answer, app.delayMs);
      else answer();
    });
  });
  server.keepAliveTimeout = 60_000;
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, ip, () => resolve(server));
  });
}

/**
 * One app per name, each on its own loopback address (127.0.77.1, .2, ...) and all on the same
 * port: the pilot gives a Service's endpoints the Service's targetPort, so the address tells them
 * apart.
 */
export async function startApps(names: string[], delays: Record<string, number> = {}): Promise<Record<string, App>> {
  for (let tries = 0; ; tries++) {
    const apps: App[] = names.map((name, i) => ({ name, ip: `127.0.77.${i + 1}`, port: 0, status: 200, delayMs: delays[name] ?? 0, served: 0, close: async () => {} }));
    const servers: http.Server[] = [];
    try {
      servers.push(await serve(apps[0], apps[0].ip, 0));
      const port = (servers[0].address() as AddressInfo).port;
      for (const a of apps.slice(1)) servers.push(await serve(a, a.ip, port));
      apps.forEach((a, i) => {
        a.port = port;
        const server = servers[i];
        a.close = async () => {
          server.closeAllConnections();
          await new Promise<void>((r) => server.close(() => r()));
        };
      });
      return Object.fromEntries(apps.map((a) => [a.name, a]));
    } catch (e) {
      for (const s of servers) s.close();
      if (tries >= 5) throw e;
    }
  }
}

/** A workload of the `web` service for `app`, in `locality` ("region/zone"). */
export function appWorkload(app: App, locality: string, more: Partial<Workload> = {}): Workload {
  const [region, zone] = locality.split('/');
  return workload(app.name, app.ip, { app: SERVICE }, { locality: { region, zone }, ...more });
}

export function serviceYaml(targetPort: number, trafficPolicy: string): string {
  return `apiVersion: v1
kind: Service
metadata: {name: ${SERVICE}}
spec: {selector: {app: ${SERVICE}}, ports: [{name: http, port: 80, targetPort: ${targetPort}}]}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: ${SERVICE}}
spec:
  host: ${SERVICE}
  trafficPolicy:
${trafficPolicy}
`;
}

/** What the pilot sends a sidecar in `locality` for the web cluster: [Cluster, ClusterLoadAssignment]. */
export function pilotResources(yaml: string, workloads: Workload[], locality = 'us/a'): { cluster: EnvoyJson; cla: EnvoyJson } {
  const [region, zone] = locality.split('/');
  const caller = parseProxy(sidecarNode(workload('client', '127.0.0.9', { app: 'client' }, { locality: { region, zone } })));
  const push = pushFromYaml(yaml, workloads);
  const cluster = { ...generate(push, caller, TYPE.CLUSTER, [CLUSTER])[0]!.resource };
  // The workloads here are plaintext (no tlsMode label) and this proxy has no SDS agent: drop the
  // auto-mTLS socket choice, which only refers to certificates the raw-buffer match never uses.
  delete cluster.transport_socket_matches;
  const cla = generate(push, caller, TYPE.ENDPOINT, [CLUSTER])[0]!.resource;
  return { cluster, cla };
}

let version = 0;

/** A proxy with an HTTP listener "in" routing everything to the web cluster. */
export async function startLbProxy(cluster: EnvoyJson, cla: EnvoyJson): Promise<Proxy & { push(cluster: EnvoyJson | undefined, cla: EnvoyJson): void }> {
  const proxy = await startProxy({ listeners: [httpListener('in', [{ match: { prefix: '/' }, route: { cluster: CLUSTER } }])], clusters: [] });
  const push = (c: EnvoyJson | undefined, e: EnvoyJson) => {
    const v = `v${++version}`;
    if (c) {
      const r = proxy.server.setResources(TYPE.CLUSTER, [c], v);
      if (!r.ok) throw new Error(`CDS rejected: ${JSON.stringify(r)}`);
    }
    const r = proxy.server.setResources(TYPE.ENDPOINT, [e], v);
    if (!r.ok) throw new Error(`EDS rejected: ${JSON.stringify(r)}`);
  };
  push(cluster, cla);
  return Object.assign(proxy, { push });
}

/** Sends `n` requests (`concurrency` at a time, keep-alive) and counts answers by upstream (or status). */
export async function tally(port: number, n: number, concurrency = 1): Promise<Map<string, number>> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const out = new Map<string, number>();
  let next = 0;
  const one = () =>
    new Promise<void>((resolve) => {
      const req = http.request({ host: '127.0.0.1', port, path: '/', agent }, (res) => {
        res.resume();
        res.on('end', () => {
          const key = res.statusCode === 200 ? String(res.headers['x-upstream']) : `status ${res.statusCode}`;
          out.set(key, (out.get(key) ?? 0) + 1);
          resolve();
        });
      });
      req.on('error', () => {
        out.set('error', (out.get('error') ?? 0) + 1);
        resolve();
      });
      req.end();
    });
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < n) {
        next++;
        await one();
      }
    }),
  );
  agent.destroy();
  return out;
}

export function share(m: Map<string, number>, ...names: string[]): number {
  let total = 0;
  let mine = 0;
  for (const [k, v] of m) {
    total += v;
    if (names.includes(k)) mine += v;
  }
  return total === 0 ? 0 : mine / total;
}

export function show(m: Map<string, number>): string {
  return [...m.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, v]) => `${k}=${v}`).join(' ');
}
