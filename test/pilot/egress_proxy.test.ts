/**
 * Sidecar `outboundTrafficPolicy.egressProxy` (Istio): under ALLOW_ANY, traffic to destinations
 * the mesh does not know goes to the egress proxy's outbound cluster instead of
 * PassthroughCluster — virtualOutbound's catch-all chain, the `allow_any` virtual host of every
 * port's routes, and (NONE mode) the HTTP proxy listener's catch-all; validation as Istio's.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generate } from '../../src/pilot/generator.ts';
import { buildPushContext } from '../../src/pilot/push_context.ts';
import { checkConsistency } from '../../src/pilot/consistency.ts';
import { parseProxy } from '../../src/pilot/proxy.ts';
import { validateConfig } from '../../src/api/validation/index.ts';
import { CrossValidationCache, crossValidate } from '../../src/api/validation/cross.ts';
import type { MeshConfig } from '../../src/api/types.ts';
import { TYPE, type NamedResource } from '../../src/xds/types.ts';
import { tcpProxyOf } from './filters.ts';
import { BOOKINFO, MESH, bookinfoWorkloads, loadYaml, parseYamlText, realRegistry, sidecarNode } from './fixtures.ts';

const EGRESS_HOST = 'egress-proxy.corp.internal';
const EGRESS = `outbound|3128||${EGRESS_HOST}`;

/** The egress proxy is a ServiceEntry in istio-system; the Sidecar imports only its own namespace. */
const REGISTRY = `
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: egress-proxy, namespace: istio-system }
spec:
  hosts: [${EGRESS_HOST}]
  location: MESH_EXTERNAL
  resolution: STATIC
  ports: [{ number: 3128, name: tcp-proxy, protocol: TCP }]
  endpoints: [{ address: 10.9.9.9, labels: { pool: a } }]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: egress-proxy, namespace: istio-system }
spec:
  host: ${EGRESS_HOST}
  subsets: [{ name: pool-a, labels: { pool: a } }]
`;

const sidecar = (policy: string) => `
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: { name: default, namespace: default }
spec:
  egress: [{ hosts: ["./*"] }]
  outboundTrafficPolicy: ${policy}
`;

const ALLOW_ANY = `{ mode: ALLOW_ANY, egressProxy: { host: ${EGRESS_HOST}, port: { number: 3128 } } }`;

function setup(extra: string, md: Record<string, unknown> = {}, mesh: MeshConfig = MESH) {
  const base = loadYaml(BOOKINFO);
  const configs = [...base, ...parseYamlText(REGISTRY + '---' + extra)];
  const workloads = bookinfoWorkloads(base);
  const push = buildPushContext({ mesh, configs, registry: realRegistry(configs, workloads) });
  const proxy = parseProxy(sidecarNode(workloads.find((w) => w.name.startsWith('productpage'))!, md));
  const set = {
    clusters: generate(push, proxy, TYPE.CLUSTER),
    endpoints: generate(push, proxy, TYPE.ENDPOINT),
    listeners: generate(push, proxy, TYPE.LISTENER),
    routes: generate(push, proxy, TYPE.ROUTE),
  };
  return { ...set, configs, consistency: checkConsistency(set) };
}

const get = (rs: NamedResource[], name: string) => {
  const r = rs.find((x) => x.name === name);
  assert.ok(r, `no ${name} in ${rs.map((x) => x.name).join(', ')}`);
  return r.resource;
};
const catchAllTcp = (listeners: NamedResource[]) => tcpProxyOf(get(listeners, 'virtualOutbound').filter_chains[0]).cluster;
const allowAnyRoutes = (routes: NamedResource[]) =>
  routes.flatMap((r) => (r.resource.virtual_hosts ?? []).filter((v: any) => v.name === 'allow_any').map((v: any) => `${r.name}:${v.routes[0].route.cluster}`));

test('ALLOW_ANY with egressProxy: unknown destinations go to the egress proxy cluster (TCP catch-all and every allow_any route), which exists though egress hosts hide it', () => {
  const { clusters, endpoints, listeners, routes, consistency } = setup(sidecar(ALLOW_ANY));
  assert.equal(catchAllTcp(listeners), EGRESS);
  const allowAny = allowAnyRoutes(routes);
  assert.ok(allowAny.length > 0);
  for (const r of allowAny) assert.ok(r.endsWith(`:${EGRESS}`), r);
  assert.equal(get(clusters, EGRESS).type, 'EDS');
  const cla = get(endpoints, EGRESS);
  assert.deepEqual(cla.endpoints.flatMap((e: any) => e.lb_endpoints.map((l: any) => l.endpoint.address.socket_address)), [{ address: '10.9.9.9', port_value: 3128 }]);
  // PassthroughCluster is still there (as Istio's) but nothing points at it any more.
  assert.ok(clusters.some((x) => x.name === 'PassthroughCluster'));
  assert.deepEqual(consistency, []);
});

test('without egressProxy the same Sidecar sends unknown destinations to PassthroughCluster', () => {
  const { listeners, routes } = setup(sidecar('{ mode: ALLOW_ANY }'));
  assert.equal(catchAllTcp(listeners), 'PassthroughCluster');
  for (const r of allowAnyRoutes(routes)) assert.ok(r.endsWith(':PassthroughCluster'), r);
});

test('egressProxy with a subset: outbound|3128|pool-a|<host>', () => {
  const { clusters, listeners, consistency } = setup(sidecar(`{ mode: ALLOW_ANY, egressProxy: { host: ${EGRESS_HOST}, subset: pool-a, port: { number: 3128 } } }`));
  const name = `outbound|3128|pool-a|${EGRESS_HOST}`;
  assert.equal(catchAllTcp(listeners), name);
  assert.ok(clusters.some((x) => x.name === name));
  assert.deepEqual(consistency, []);
});

test('REGISTRY_ONLY ignores egressProxy (Istio refuses the combination): BlackHole', () => {
  const { listeners, routes } = setup(sidecar(`{ mode: REGISTRY_ONLY, egressProxy: { host: ${EGRESS_HOST}, port: { number: 3128 } } }`));
  assert.equal(catchAllTcp(listeners), 'BlackHoleCluster');
  assert.deepEqual(allowAnyRoutes(routes), []);
});

test('NONE mode: the HTTP proxy listener sends unknown hosts to the egress proxy instead of the dynamic forward proxy', () => {
  const { clusters, routes, consistency } = setup(sidecar(ALLOW_ANY), { INTERCEPTION_MODE: 'NONE', HTTP_PROXY_PORT: '15080' });
  const rc = get(routes, 'http_proxy');
  const allowAny = rc.virtual_hosts.find((v: any) => v.name === 'allow_any');
  assert.equal(allowAny.routes[0].route.cluster, EGRESS);
  assert.ok(!clusters.some((x) => x.name === 'DynamicForwardProxyCluster'));
  assert.deepEqual(consistency, []);
});

const sidecarConfig = (policy: string) => parseYamlText(sidecar(policy))[0];
const messages = (errs: { path?: string; message: string; severity?: string }[]) => errs.map((e) => `${e.severity ?? 'error'} ${e.path}: ${e.message}`);

test('validation: egressProxy only with ALLOW_ANY, a DNS-name host (short names as Istio allows; no wildcard) and a port, as Istio', () => {
  assert.deepEqual(messages(validateConfig(sidecarConfig(ALLOW_ANY))), [], 'accepted, and no unsupported-field warning');
  const bad = (policy: string) => messages(validateConfig(sidecarConfig(policy))).filter((m) => m.startsWith('error'));
  assert.deepEqual(bad(`{ mode: REGISTRY_ONLY, egressProxy: { host: ${EGRESS_HOST}, port: { number: 3128 } } }`), [
    'error spec.outboundTrafficPolicy.egressProxy: sidecar: egress_proxy must be set only with ALLOW_ANY outbound_traffic_policy mode',
  ]);
  // Istio's mode defaults to REGISTRY_ONLY in a Sidecar: leaving it out is the same mistake.
  assert.equal(bad(`{ egressProxy: { host: ${EGRESS_HOST}, port: { number: 3128 } } }`).length, 1);
  assert.deepEqual(bad('{ mode: ALLOW_ANY, egressProxy: { host: egress-proxy } }'), ['error spec.outboundTrafficPolicy.egressProxy.port: sidecar: egress_proxy port must be non-nil']);
  assert.deepEqual(bad('{ mode: ALLOW_ANY, egressProxy: { host: "*.example.com", port: { number: 3128 } } }'), [
    'error spec.outboundTrafficPolicy.egressProxy.host: sidecar: egress_proxy host "*.example.com" must be a DNS name, not a wildcard',
  ]);
  assert.match(bad(`{ mode: ALLOW_ANY, egressProxy: { host: ${EGRESS_HOST}, port: { number: 70000 } } }`).join('\n'), /egressProxy\.port\.number/);
});

test('cross-resource warning: an egressProxy host or port that is no known service', () => {
  const registry = parseYamlText(REGISTRY);
  const warn = (policy: string) => crossValidate([...registry, sidecarConfig(policy)]).map((e) => `${e.severity} ${e.path}: ${e.message}`);
  assert.deepEqual(warn(ALLOW_ANY), []);
  assert.deepEqual(warn('{ mode: ALLOW_ANY, egressProxy: { host: squid.corp.internal, port: { number: 3128 } } }'), [
    'warning spec.outboundTrafficPolicy.egressProxy.host: egressProxy host "squid.corp.internal" is not a known service (no ServiceEntry host or Kubernetes Service of that name): traffic to unknown destinations will fail',
  ]);
  assert.deepEqual(warn(`{ mode: ALLOW_ANY, egressProxy: { host: ${EGRESS_HOST}, port: { number: 8080 } } }`), [
    `warning spec.outboundTrafficPolicy.egressProxy.port.number: egressProxy port 8080 is not a port of service "${EGRESS_HOST}" (it has 3128): traffic to unknown destinations will fail`,
  ]);
  // A Kubernetes Service counts too, by its cluster-local name.
  const svc = parseYamlText('apiVersion: v1\nkind: Service\nmetadata: { name: squid, namespace: istio-system }\nspec: { ports: [{ port: 3128 }] }');
  assert.deepEqual(crossValidate([...svc, sidecarConfig('{ mode: ALLOW_ANY, egressProxy: { host: squid.istio-system.svc.cluster.local, port: { number: 3128 } } }')]), []);
  // The stores' incremental cache reports the same.
  const all = [...registry, sidecarConfig('{ mode: ALLOW_ANY, egressProxy: { host: squid.corp.internal, port: { number: 3128 } } }')];
  assert.deepEqual(new CrossValidationCache().update(all), crossValidate(all));
});
