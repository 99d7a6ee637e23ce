/**
 * DestinationRule `loadBalancer.simple: PASSTHROUGH` (Istio: forward to the address the caller
 * dialled, no load balancing): the cluster becomes ORIGINAL_DST with lb_policy CLUSTER_PROVIDED,
 * without EDS or endpoints, for the whole rule, one port or one subset. A sidecar without
 * capture (INTERCEPTION_MODE NONE) has no original destination: the cluster has no hosts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generate } from '../../src/pilot/generator.ts';
import { buildPushContext } from '../../src/pilot/push_context.ts';
import { checkConsistency } from '../../src/pilot/consistency.ts';
import { parseProxy } from '../../src/pilot/proxy.ts';
import { TYPE, type NamedResource } from '../../src/xds/types.ts';
import { BOOKINFO, MESH, bookinfoWorkloads, loadYaml, parseYamlText, realRegistry, sidecarNode } from './fixtures.ts';

const REVIEWS = 'reviews.default.svc.cluster.local';
const c = (subset = '') => `outbound|9080|${subset}|${REVIEWS}`;

function setup(dr: string, md: Record<string, unknown> = {}) {
  const base = loadYaml(BOOKINFO);
  const configs = [...base, ...parseYamlText(dr)];
  const workloads = bookinfoWorkloads(base);
  const push = buildPushContext({ mesh: MESH, configs, registry: realRegistry(configs, workloads) });
  const proxy = parseProxy(sidecarNode(workloads.find((w) => w.name.startsWith('productpage'))!, md));
  const clusters = generate(push, proxy, TYPE.CLUSTER);
  const endpoints = generate(push, proxy, TYPE.ENDPOINT);
  const set = { clusters, endpoints, listeners: generate(push, proxy, TYPE.LISTENER), routes: generate(push, proxy, TYPE.ROUTE) };
  return { clusters, endpoints, consistency: checkConsistency(set) };
}

const get = (rs: NamedResource[], name: string) => {
  const r = rs.find((x) => x.name === name);
  assert.ok(r, `no ${name} in ${rs.map((x) => x.name).join(', ')}`);
  return r.resource;
};

const isOriginalDst = (cluster: any) => {
  assert.equal(cluster.type, 'ORIGINAL_DST', cluster.name);
  assert.equal(cluster.lb_policy, 'CLUSTER_PROVIDED', cluster.name);
  assert.equal(cluster.eds_cluster_config, undefined, cluster.name);
  assert.equal(cluster.load_assignment, undefined, cluster.name);
  assert.equal(cluster.transport_socket_matches, undefined, `${cluster.name}: no auto mTLS by endpoint label (there are no endpoints)`);
};

const DR = (trafficPolicy: string, subsets: string) => `
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: reviews }
spec:
  host: reviews
  trafficPolicy: ${trafficPolicy}
  subsets: ${subsets}
`;

test('PASSTHROUGH on the rule: the default cluster and subsets that inherit it are ORIGINAL_DST; a subset with its own LB stays EDS', () => {
  const { clusters, endpoints, consistency } = setup(DR('{ loadBalancer: { simple: PASSTHROUGH } }', `
  - { name: v1, labels: { version: v1 } }
  - { name: v2, labels: { version: v2 }, trafficPolicy: { loadBalancer: { simple: ROUND_ROBIN } } }`));
  isOriginalDst(get(clusters, c()));
  isOriginalDst(get(clusters, c('v1')));
  const v2 = get(clusters, c('v2'));
  assert.equal(v2.type, 'EDS');
  assert.equal(v2.lb_policy, 'ROUND_ROBIN');
  // Connection pool and metadata still apply; EDS is not asked for the ORIGINAL_DST clusters.
  assert.ok(get(clusters, c()).circuit_breakers);
  assert.equal(get(clusters, c()).metadata.filter_metadata.istio.default_original_port, 9080);
  const edsNames = endpoints.map((e) => e.name);
  assert.ok(!edsNames.includes(c()) && !edsNames.includes(c('v1')) && edsNames.includes(c('v2')), edsNames.join(', '));
  assert.deepEqual(consistency, []);
});

test('PASSTHROUGH on one subset only; other clusters keep the default LEAST_REQUEST', () => {
  const { clusters } = setup(DR('{}', `
  - { name: v1, labels: { version: v1 } }
  - { name: v3, labels: { version: v3 }, trafficPolicy: { loadBalancer: { simple: PASSTHROUGH } } }`));
  isOriginalDst(get(clusters, c('v3')));
  for (const name of [c(), c('v1')]) {
    assert.equal(get(clusters, name).type, 'EDS');
    assert.equal(get(clusters, name).lb_policy, 'LEAST_REQUEST');
  }
});

test('PASSTHROUGH in a port-level policy applies to that port', () => {
  const { clusters } = setup(DR('{ portLevelSettings: [ { port: { number: 9080 }, loadBalancer: { simple: PASSTHROUGH } } ] }', '[]'));
  isOriginalDst(get(clusters, c()));
});

test('without capture (INTERCEPTION_MODE NONE) PASSTHROUGH has no original destination: no hosts (503), never a loop to the proxy itself', () => {
  const { clusters, consistency } = setup(DR('{ loadBalancer: { simple: PASSTHROUGH } }', '[]'), { INTERCEPTION_MODE: 'NONE', HTTP_PROXY_PORT: '15080' });
  const d = get(clusters, c());
  assert.equal(d.type, 'STATIC');
  assert.deepEqual(d.load_assignment, { cluster_name: c(), endpoints: [] });
  assert.deepEqual(consistency, []);
});
