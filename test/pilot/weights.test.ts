/**
 * Issue 7, bug 2: route weights follow Istio's one rule (src/api/weights.ts) in HTTP routes,
 * sidecar tcp/tls routes and gateway tcp/tls routes. A tcp route with two unweighted destinations
 * used to become `weighted_clusters: {clusters: []}`, which Envoy rejects together with the whole
 * listener update; a set with no traffic-carrying destination is now never translated.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generate } from '../../src/pilot/generator.ts';
import type { PushContext, Proxy } from '../../src/pilot/types.ts';
import { encodeResource } from '../../src/xds/codec.ts';
import { TYPE, type EnvoyJson } from '../../src/xds/types.ts';
import { routerProxy } from './gateway/helpers.ts';
import { proxyFor, pushFromYaml } from './fixtures.ts';

const SERVICES = `
apiVersion: v1
kind: Service
metadata: {name: db, namespace: default}
spec: {selector: {app: db}, ports: [{name: tcp, port: 5432}]}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec: {selector: {app: web}, ports: [{name: http, port: 8080}]}
---
apiVersion: v1
kind: Service
metadata: {name: secure, namespace: default}
spec: {selector: {app: secure}, ports: [{name: tls, port: 8443}]}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: subsets, namespace: default}
spec:
  host: "*.default.svc.cluster.local"
  subsets: [{name: a, labels: {v: a}}, {name: b, labels: {v: b}}]
---`;
const IPS = { 'db.default.svc.cluster.local': '10.0.0.1', 'web.default.svc.cluster.local': '10.0.0.2', 'secure.default.svc.cluster.local': '10.0.0.3' };
const client = proxyFor({ namespace: 'default', labels: { app: 'client' } });

/** `route:` entries for subsets a and b of `host` with the given weights (undefined = absent). */
function dests(host: string, ...weights: Array<number | undefined>): string {
  return weights.map((w, i) => `{destination: {host: ${host}, subset: ${'ab'[i]}}${w === undefined ? '' : `, weight: ${w}`}}`).join(', ');
}

function vs(kind: 'tcp' | 'tls' | 'http', host: string, route: string, extra = ''): string {
  const match = kind === 'tls' ? `match: [{sniHosts: [${host}.default.svc.cluster.local]}], ` : '';
  return `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: vs, namespace: default}
spec:
  hosts: [${host}]
${extra}
  ${kind}: [{${match}route: [${route}]}]
`;
}

function listeners(push: PushContext, proxy: Proxy): EnvoyJson[] {
  return generate(push, proxy, TYPE.LISTENER).map((r) => {
    encodeResource(TYPE.LISTENER, r.resource); // what the proxy would be sent must encode
    return r.resource;
  });
}

/** Every tcp_proxy config in the listeners. */
function tcpProxies(ls: EnvoyJson[]): EnvoyJson[] {
  return ls.flatMap((l) => l.filter_chains.flatMap((c: EnvoyJson) => c.filters.filter((f: EnvoyJson) => f.name === 'envoy.filters.network.tcp_proxy').map((f: EnvoyJson) => f.typed_config)));
}

function sidecarTcpTarget(kind: 'tcp' | 'tls', route: string): EnvoyJson {
  const host = kind === 'tcp' ? 'db' : 'secure';
  const port = kind === 'tcp' ? 5432 : 8443;
  const ls = listeners(pushFromYaml(SERVICES + vs(kind, host, route), [], undefined, IPS), client);
  const l = ls.find((x) => x.name === `${IPS[`${host}.default.svc.cluster.local`]}_${port}`)!;
  assert.ok(l, `listener for ${host}`);
  for (const p of tcpProxies(ls)) assert.notDeepEqual(p.weighted_clusters, { clusters: [] }, 'never an empty weighted set');
  return tcpProxies([l])[0]!;
}

const A = (host: string, port: number) => `outbound|${port}|a|${host}.default.svc.cluster.local`;
const B = (host: string, port: number) => `outbound|${port}|b|${host}.default.svc.cluster.local`;
const DEFAULT = (host: string, port: number) => `outbound|${port}||${host}.default.svc.cluster.local`;

for (const kind of ['tcp', 'tls'] as const) {
  const host = kind === 'tcp' ? 'db' : 'secure';
  const port = kind === 'tcp' ? 5432 : 8443;

  test(`sidecar ${kind}: two destinations without weights are not translated (the service's default cluster serves)`, () => {
    const t = sidecarTcpTarget(kind, dests(host, undefined, undefined));
    assert.equal(t.weighted_clusters, undefined);
    assert.equal(t.cluster, DEFAULT(host, port));
  });

  test(`sidecar ${kind}: single destination → plain cluster, whatever its weight`, () => {
    assert.equal(sidecarTcpTarget(kind, dests(host, undefined)).cluster, A(host, port));
    assert.equal(sidecarTcpTarget(kind, dests(host, 0)).cluster, A(host, port));
  });

  test(`sidecar ${kind}: a zero weight drops out, leaving a plain cluster; relative weights kept as given`, () => {
    const zero = sidecarTcpTarget(kind, dests(host, 0, 100));
    assert.equal(zero.cluster, B(host, port));
    assert.equal(zero.weighted_clusters, undefined);
    const rel = sidecarTcpTarget(kind, dests(host, 3, 1));
    assert.deepEqual(rel.weighted_clusters, { clusters: [{ name: A(host, port), weight: 3 }, { name: B(host, port), weight: 1 }] });
  });
}

test('HTTP: absent weights on two destinations → the route is not emitted; relative and zero weights as Istio', () => {
  const routes = (route: string): EnvoyJson[] => {
    const rc = generate(pushFromYaml(SERVICES + vs('http', 'web', route), [], undefined, IPS), client, TYPE.ROUTE, ['8080'])[0]!.resource;
    return rc.virtual_hosts.find((v: EnvoyJson) => v.name === 'web.default.svc.cluster.local:8080').routes;
  };
  // The invalid rule is skipped: the service's default route is all that is left.
  assert.deepEqual(routes(dests('web', undefined, undefined)).map((r) => [r.name, r.route.cluster, r.route.weighted_clusters]), [['default', DEFAULT('web', 8080), undefined]]);
  assert.equal(routes(dests('web', undefined))[0]!.route.cluster, A('web', 8080));
  assert.equal(routes(dests('web', 0, 100))[0]!.route.cluster, B('web', 8080));
  assert.deepEqual(
    routes(dests('web', 30, 10))[0]!.route.weighted_clusters.clusters.map((c: EnvoyJson) => [c.name, c.weight]),
    [[A('web', 8080), 30], [B('web', 8080), 10]],
  );
});

test('gateway tcp: the same rule (no weights on two → no listener; zero drops out; relative kept)', () => {
  const gw = `
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw, namespace: default}
spec:
  selector: {istio: ingressgateway}
  servers: [{port: {number: 31400, name: tcp, protocol: TCP}, hosts: ["*"]}]
---`;
  const run = (route: string) => tcpProxies(listeners(pushFromYaml(SERVICES + gw + vs('tcp', 'db', route, '  gateways: [gw]'), [], undefined, IPS), routerProxy({ istio: 'ingressgateway' })));
  assert.deepEqual(run(dests('db', undefined, undefined)), []);
  assert.equal(run(dests('db', 0, 5))[0]!.cluster, B('db', 5432));
  assert.deepEqual(run(dests('db', 5, 15))[0]!.weighted_clusters, { clusters: [{ name: A('db', 5432), weight: 5 }, { name: B('db', 5432), weight: 15 }] });
});
