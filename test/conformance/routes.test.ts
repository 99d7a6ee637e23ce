/**
 * Route matching and weights, one table run through both planes (issue 7 acceptance): each case
 * is a VirtualService; the pilot translates it (and the test checks the clusters and weights it
 * emits), then a real tsmesh proxy serves exactly those routes / filter chains on loopback, with
 * one upstream server per subset answering with its own name, and real requests or connections
 * show which upstream took the traffic. Weighted cases count the split over a bounded number of
 * requests. Weight sets Istio calls invalid are shown rejected by validation instead.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer as createHttpServer, request as httpRequest, type Server as HttpServer } from 'node:http';
import * as net from 'node:net';
import * as tls from 'node:tls';
import type { Config } from '../../src/api/types.ts';
import { validateConfig } from '../../src/api/validation/index.ts';
import { ERR } from '../../src/api/errors.ts';
import { parseClusterName } from '../../src/pilot/cluster/name.ts';
import { generate } from '../../src/pilot/generator.ts';
import { httpConnectionManager, outboundHttpFilters } from '../../src/pilot/listener/filters.ts';
import type { PushContext } from '../../src/pilot/types.ts';
import { ProxyServer } from '../../src/proxy/server.ts';
import { validateBootstrap } from '../../src/proxy/bootstrap.ts';
import { TYPE, type EnvoyJson } from '../../src/xds/types.ts';
import { parseYamlText, proxyFor, pushFromYaml } from '../pilot/fixtures.ts';

const NS = 'default';
const fqdn = (h: string) => `${h}.${NS}.svc.cluster.local`;
const VIPS = { [fqdn('web')]: '10.0.0.2', [fqdn('db')]: '10.0.0.1', [fqdn('secure')]: '10.0.0.3' };
/** Subsets a, b, c (plus the service itself, "default") each get their own upstream. */
const TAGS = ['default', 'a', 'b', 'c'] as const;
type Tag = (typeof TAGS)[number];

const BASE = `
apiVersion: v1
kind: Service
metadata: {name: web, namespace: ${NS}}
spec: {selector: {app: web}, ports: [{name: http, port: 8080}]}
---
apiVersion: v1
kind: Service
metadata: {name: db, namespace: ${NS}}
spec: {selector: {app: db}, ports: [{name: tcp, port: 5432}, {name: tcp-alt, port: 5433}]}
---
apiVersion: v1
kind: Service
metadata: {name: secure, namespace: ${NS}}
spec: {selector: {app: secure}, ports: [{name: tls, port: 8443}]}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: subsets, namespace: ${NS}}
spec:
  host: "*.${NS}.svc.cluster.local"
  subsets: [{name: a, labels: {v: a}}, {name: b, labels: {v: b}}, {name: c, labels: {v: c}}]
---`;

/** What the pilot must emit for one route: one cluster (by subset tag) or a weighted split. */
type Target = Tag | Partial<Record<Tag, number>>;
/** A probe and where its traffic must go: one upstream (every time), a split (by share), or nowhere. */
interface Probe {
  http?: { path: string; method?: string; headers?: Record<string, string> };
  /** TCP: which service port to connect to. TLS: the SNI to send. */
  port?: number;
  sni?: string;
  want: Tag | Partial<Record<Tag, number>> | 'none';
}
interface Case {
  name: string;
  kind: 'http' | 'tcp' | 'tls';
  /** The VirtualService's `http:`/`tcp:`/`tls:` list, as YAML flow text. */
  routes: string;
  /** Pilot's output, in route (HTTP) or filter chain (TCP/TLS) order. */
  pilot: Target[];
  probes: Probe[];
}

const d = (subset: string, weight?: number) => `{destination: {host: HOST, subset: ${subset}}${weight === undefined ? '' : `, weight: ${weight}`}}`;
const SPLIT_REQUESTS = 400;
/** Allowed distance of an observed share from the configured one (about 4.5 standard deviations at 400). */
const TOLERANCE = 0.1;

const CASES: Case[] = [
  {
    name: 'HTTP matches: exact, prefix and regex uri, header, method; unmatched requests find no route',
    kind: 'http',
    routes: `[
      {match: [{uri: {exact: /exact}}], route: [${d('a')}]},
      {match: [{uri: {prefix: /pre}}], route: [${d('b')}]},
      {match: [{uri: {regex: '/re+gex'}}], route: [${d('c')}]},
      {match: [{headers: {x-user: {exact: alice}}}], route: [${d('b')}]},
      {match: [{method: {exact: POST}}], route: [${d('c')}]}]`,
    pilot: ['a', 'b', 'c', 'b', 'c'],
    probes: [
      { http: { path: '/exact' }, want: 'a' },
      { http: { path: '/exact/more' }, want: 'none' },
      { http: { path: '/prefix/x' }, want: 'b' },
      { http: { path: '/reeegex' }, want: 'c' },
      { http: { path: '/regexx' }, want: 'none' },
      { http: { path: '/other', headers: { 'x-user': 'alice' } }, want: 'b' },
      { http: { path: '/other', headers: { 'x-user': 'bob' } }, want: 'none' },
      { http: { path: '/other', method: 'POST' }, want: 'c' },
      { http: { path: '/other' }, want: 'none' },
    ],
  },
  { name: 'HTTP weight absent, single destination → that destination', kind: 'http', routes: `[{route: [${d('a')}]}]`, pilot: ['a'], probes: [{ http: { path: '/' }, want: 'a' }] },
  { name: 'HTTP single destination weighted 0 → still all its traffic', kind: 'http', routes: `[{route: [${d('b', 0)}]}]`, pilot: ['b'], probes: [{ http: { path: '/' }, want: 'b' }] },
  { name: 'HTTP zero weight drops out → plain cluster', kind: 'http', routes: `[{route: [${d('a', 0)}, ${d('b', 100)}]}]`, pilot: ['b'], probes: [{ http: { path: '/' }, want: 'b' }] },
  { name: 'HTTP relative weights 3:1 kept as given', kind: 'http', routes: `[{route: [${d('a', 3)}, ${d('b', 1)}]}]`, pilot: [{ a: 3, b: 1 }], probes: [{ http: { path: '/' }, want: { a: 0.75, b: 0.25 } }] },
  {
    name: 'TCP port match; weight absent → single destination',
    kind: 'tcp',
    routes: `[{match: [{port: 5433}], route: [${d('b')}]}, {route: [${d('a')}]}]`,
    pilot: ['a'],
    probes: [{ port: 5432, want: 'a' }, { port: 5433, want: 'b' }],
  },
  { name: 'TCP zero weight drops out → plain cluster', kind: 'tcp', routes: `[{route: [${d('a', 0)}, ${d('c', 10)}]}]`, pilot: ['c'], probes: [{ port: 5432, want: 'c' }] },
  { name: 'TCP relative weights 1:3', kind: 'tcp', routes: `[{route: [${d('a', 1)}, ${d('b', 3)}]}]`, pilot: [{ a: 1, b: 3 }], probes: [{ port: 5432, want: { a: 0.25, b: 0.75 } }] },
  {
    name: 'TLS SNI match → single destination; other SNI finds no chain',
    kind: 'tls',
    routes: `[{match: [{sniHosts: [${fqdn('secure')}]}], route: [${d('a')}]}]`,
    pilot: ['a'],
    probes: [{ sni: fqdn('secure'), want: 'a' }, { sni: 'other.example.com', want: 'none' }],
  },
  {
    name: 'TLS relative weights 1:1 with a zero',
    kind: 'tls',
    routes: `[{match: [{sniHosts: [${fqdn('secure')}]}], route: [${d('a', 50)}, ${d('b', 50)}, ${d('c', 0)}]}]`,
    pilot: [{ a: 50, b: 50 }],
    probes: [{ sni: fqdn('secure'), want: { a: 0.5, b: 0.5 } }],
  },
];

// TLS routes name the service by FQDN: Istio validates sniHosts against the hosts as written.
const HOST = { http: 'web', tcp: 'db', tls: fqdn('secure') } as const;

function virtualService(c: Pick<Case, 'kind' | 'routes'>): string {
  return `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: vs, namespace: ${NS}}
spec:
  hosts: [${HOST[c.kind]}]
  ${c.kind}: ${c.routes.replaceAll('HOST', HOST[c.kind])}
`;
}

/** One upstream per tag; HTTP ones answer with their tag as the body, TCP ones write it and close. */
async function startUpstreams(kind: Case['kind']): Promise<{ ports: Record<Tag, number>; close: () => Promise<void> }> {
  const servers: Array<net.Server | HttpServer> = [];
  const ports = {} as Record<Tag, number>;
  for (const tag of TAGS) {
    const s =
      kind === 'http'
        ? createHttpServer((req, res) => {
            req.resume();
            req.on('end', () => res.end(tag));
          })
        : net.createServer((sock) => {
            sock.on('error', () => {});
            sock.once('data', () => sock.end(tag));
          });
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    ports[tag] = (s.address() as net.AddressInfo).port;
    servers.push(s);
  }
  return {
    ports,
    close: async () => {
      for (const s of servers) {
        (s as HttpServer).closeAllConnections?.();
        await new Promise<void>((r) => s.close(() => r()));
      }
    },
  };
}

function tagOf(cluster: string): Tag {
  const p = parseClusterName(cluster);
  assert.ok(p, `an Istio cluster name: ${cluster}`);
  return (p.subset || 'default') as Tag;
}

/** The target of a route action or tcp_proxy, in the table's terms. */
function targetOf(a: EnvoyJson): Target {
  if (a.cluster) return tagOf(a.cluster);
  assert.ok(a.weighted_clusters?.clusters?.length > 1, `a weighted set with several clusters: ${JSON.stringify(a)}`);
  return Object.fromEntries(a.weighted_clusters.clusters.map((w: EnvoyJson) => [tagOf(w.name), w.weight]));
}

/** Static STATIC clusters for every cluster name the resources mention, each at its tag's upstream. */
function clustersFor(resources: unknown, ports: Record<Tag, number>): EnvoyJson[] {
  const names = new Set<string>();
  JSON.stringify(resources, (k, v) => {
    if ((k === 'cluster' || k === 'name') && typeof v === 'string' && v.startsWith('outbound|')) names.add(v);
    return v;
  });
  return [...names].map((name) => ({
    name,
    type: 'STATIC',
    connect_timeout: '1s',
    load_assignment: { cluster_name: name, endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: ports[tagOf(name)] } } } }] }] },
  }));
}

/** What the pilot gives a sidecar for the case, plus the table's view of it. */
function translate(push: PushContext, c: Case): { listeners: EnvoyJson[]; targets: Target[] } {
  const client = proxyFor({ namespace: NS, labels: { app: 'client' } });
  if (c.kind === 'http') {
    const rc = generate(push, client, TYPE.ROUTE, ['8080'])[0]!.resource;
    const vh = rc.virtual_hosts.find((v: EnvoyJson) => v.name === `${fqdn('web')}:8080`);
    // The routes the sidecar would use for web, served on a plain loopback listener.
    const routeConfig = { name: 'conformance', virtual_hosts: [{ ...vh, domains: ['*'] }] };
    const hcm = httpConnectionManager({ statPrefix: 'conformance', routeConfig, httpFilters: outboundHttpFilters(), mesh: push.mesh });
    const listeners = [{ name: 'http', address: { socket_address: { address: '127.0.0.1', port_value: 0 } }, filter_chains: [{ filters: [hcm] }] }];
    return { listeners, targets: vh.routes.map((r: EnvoyJson) => targetOf(r.route)) };
  }
  const svc = fqdn(c.kind === 'tcp' ? 'db' : 'secure');
  const all = generate(push, client, TYPE.LISTENER).map((r) => r.resource);
  const ports = c.kind === 'tcp' ? [5432, 5433] : [8443];
  const listeners = ports.map((port) => {
    const l = all.find((x) => x.name === `${VIPS[svc]}_${port}`);
    assert.ok(l, `pilot built the ${svc}:${port} listener`);
    const out: EnvoyJson = { name: String(port), address: { socket_address: { address: '127.0.0.1', port_value: 0 } }, filter_chains: l.filter_chains };
    if (l.listener_filters) out.listener_filters = l.listener_filters;
    return out;
  });
  const first = listeners[0]!.filter_chains as EnvoyJson[];
  const targets = first.map((ch) => targetOf(ch.filters.find((f: EnvoyJson) => f.name === 'envoy.filters.network.tcp_proxy').typed_config));
  return { listeners, targets };
}

async function startProxy(listeners: EnvoyJson[], clusters: EnvoyJson[]): Promise<{ port: (name: string) => number; close: () => Promise<void> }> {
  const bootstrap = validateBootstrap({ node: { id: 'conformance', cluster: 'test' }, static_resources: { listeners, clusters } });
  const server = new ProxyServer({ bootstrap, drainMs: 0, initialFetchTimeoutMs: 2000 });
  await server.start();
  return {
    port: (name) => {
      const l = server.listeners.active.get(name);
      assert.ok(l, `the proxy serves listener ${name}`);
      return l.boundPort;
    },
    close: () => server.shutdown(0),
  };
}

/** One HTTP request through the proxy: the upstream's tag, or 'none' when the proxy answered itself. */
function httpProbe(port: number, p: NonNullable<Probe['http']>): Promise<Tag | 'none'> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path: p.path, method: p.method ?? 'GET', headers: { host: fqdn('web'), ...p.headers }, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve(res.statusCode === 200 && (TAGS as readonly string[]).includes(body) ? (body as Tag) : 'none'));
    });
    req.on('error', reject);
    req.end();
  });
}

const helloCache = new Map<string, Buffer>();
/** The ClientHello a real node:tls client sends for `sni` (captured once per name). */
async function clientHello(sni: string): Promise<Buffer> {
  const cached = helloCache.get(sni);
  if (cached) return cached;
  const got = new Promise<Buffer>((resolve) => {
    const server = net.createServer((s) => s.once('data', (b) => (resolve(b), s.destroy(), server.close())));
    server.listen(0, '127.0.0.1', () => {
      const c = tls.connect({ host: '127.0.0.1', port: (server.address() as net.AddressInfo).port, servername: sni, rejectUnauthorized: false });
      c.on('error', () => {});
    });
  });
  const hello = await got;
  helloCache.set(sni, hello);
  return hello;
}

/** One connection through the proxy: sends `data`, returns what came back before the close. */
function connProbe(port: number, data: Buffer | string): Promise<Tag | 'none'> {
  return new Promise((resolve) => {
    const c = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true }, () => c.end(data));
    let got = '';
    c.on('data', (b) => (got += b));
    c.on('error', () => {});
    c.on('close', () => resolve((TAGS as readonly string[]).includes(got) ? (got as Tag) : 'none'));
  });
}

/** Runs `n` probes, `concurrency` at a time; counts answers by tag. */
async function counts(n: number, probe: () => Promise<Tag | 'none'>, concurrency = 16): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < n) {
        next++;
        const t = await probe();
        out[t] = (out[t] ?? 0) + 1;
      }
    }),
  );
  return out;
}

for (const c of CASES) {
  test(`conformance: ${c.name}`, async () => {
    const yaml = BASE + virtualService(c);
    // Istio's rules accept it.
    for (const cfg of parseYamlText(yaml).filter((x) => x.kind === 'VirtualService')) {
      assert.deepEqual(validateConfig(cfg as Config).filter((e) => e.severity !== 'warning'), []);
    }
    const push = pushFromYaml(yaml, [], undefined, VIPS);
    const { listeners, targets } = translate(push, c);
    assert.deepEqual(targets, c.pilot, 'what the pilot emits');

    const up = await startUpstreams(c.kind);
    const proxy = await startProxy(listeners, clustersFor(listeners, up.ports));
    try {
      for (const p of c.probes) {
        const one = async (): Promise<Tag | 'none'> => {
          if (p.http) return httpProbe(proxy.port('http'), p.http);
          if (c.kind === 'tcp') return connProbe(proxy.port(String(p.port)), 'hello');
          return connProbe(proxy.port('8443'), await clientHello(p.sni!));
        };
        const what = JSON.stringify(p.http ?? { port: p.port, sni: p.sni });
        if (typeof p.want === 'string') {
          const got = await counts(5, one, 5);
          assert.deepEqual(got, { [p.want]: 5 }, `${what} → ${p.want}`);
        } else {
          const got = await counts(SPLIT_REQUESTS, one);
          const total = Object.values(got).reduce((a, b) => a + b, 0);
          assert.equal(total, SPLIT_REQUESTS);
          assert.deepEqual(Object.keys(got).sort(), Object.keys(p.want).sort(), `${what}: only the weighted upstreams answer (${JSON.stringify(got)})`);
          for (const [tag, share] of Object.entries(p.want)) {
            const observed = got[tag]! / total;
            assert.ok(Math.abs(observed - share!) <= TOLERANCE, `${what}: ${tag} took ${observed.toFixed(3)} of ${total}, configured ${share} (±${TOLERANCE})`);
          }
        }
      }
    } finally {
      await proxy.close();
      await up.close();
    }
  });
}

test('conformance: weight sets Istio rejects are rejected by validation (and never reach a proxy)', () => {
  const invalid: Array<Pick<Case, 'kind' | 'routes'>> = [
    { kind: 'http', routes: `[{route: [${d('a')}, ${d('b')}]}]` },
    { kind: 'http', routes: `[{route: [${d('a', 0)}, ${d('b', 0)}]}]` },
    { kind: 'tcp', routes: `[{route: [${d('a')}, ${d('b')}]}]` },
    { kind: 'tls', routes: `[{match: [{sniHosts: [${fqdn('secure')}]}], route: [${d('a', 0)}, ${d('b', 0)}]}]` },
    { kind: 'tcp', routes: `[{route: [${d('a', -1)}, ${d('b', 2)}]}]` },
  ];
  for (const c of invalid) {
    const [vs] = parseYamlText(virtualService(c));
    const errors = validateConfig(vs as Config).filter((e) => e.severity !== 'warning');
    assert.ok(
      errors.some((e) => e.code === ERR.INVALID_WEIGHTS && e.path.startsWith(`spec.${c.kind}[0].route`)),
      `${c.kind} ${c.routes}: rejected with ${ERR.INVALID_WEIGHTS} (got ${JSON.stringify(errors)})`,
    );
  }
});
