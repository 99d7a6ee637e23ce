import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildEndpoints, buildLoadAssignment } from '../../src/pilot/endpoint.ts';
import { generate } from '../../src/pilot/generator.ts';
import { parseProxy } from '../../src/pilot/proxy.ts';
import { stableStringify } from '../../src/pilot/util.ts';
import { TYPE } from '../../src/xds/types.ts';
import type { Workload } from '../../src/registry/model.ts';
import { bookinfoPush, bookinfoProxy, MESH, pushFromYaml, sidecarNode, workload } from './fixtures.ts';

const addresses = (cla: any) => cla.endpoints.flatMap((l: any) => l.lb_endpoints.map((e: any) => e.endpoint.address.socket_address.address));

test('subset CLAs hold only endpoints with the subset labels; localities group endpoints', () => {
  const { push, workloads } = bookinfoPush(['destination-rule-all.yaml']);
  const proxy = bookinfoProxy(workloads);
  const all = buildLoadAssignment(push, proxy, 'outbound|9080||reviews.default.svc.cluster.local')!;
  assert.deepEqual(all.endpoints.map((l: any) => [l.locality, l.load_balancing_weight]), [
    [{ region: 'region1', zone: 'zone1' }, 2],
    [{ region: 'region1', zone: 'zone2' }, 1],
  ]);
  const v3 = buildLoadAssignment(push, proxy, 'outbound|9080|v3|reviews.default.svc.cluster.local')!;
  const v3pod = workloads.find((w) => w.name.startsWith('reviews-v3'))!;
  assert.deepEqual(addresses(v3), [v3pod.address]);
  const ep = v3.endpoints[0].lb_endpoints[0];
  assert.equal(ep.health_status, 'HEALTHY');
  assert.deepEqual(ep.metadata.filter_metadata['envoy.transport_socket_match'], { tlsMode: 'istio' });
  assert.equal(ep.metadata.filter_metadata.istio.workload, 'reviews-v3-0;default;reviews;v3;Kubernetes');
  assert.equal(buildLoadAssignment(push, proxy, 'outbound|9080|nope|reviews.default.svc.cluster.local'), undefined);
  assert.equal(buildLoadAssignment(push, proxy, 'not-a-cluster'), undefined);
  assert.deepEqual(buildEndpoints(push, proxy, ['outbound|9080|v1|ratings.default.svc.cluster.local', 'bogus']).map((r) => r.name), ['outbound|9080|v1|ratings.default.svc.cluster.local']);
});

const svcYaml = (lb: string) => `
apiVersion: v1
kind: Service
metadata: {name: web}
spec: {selector: {app: web}, ports: [{name: http, port: 80, targetPort: 8080}]}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: web}
spec:
  host: web
  trafficPolicy:
${lb}
`;
const pods: Workload[] = [
  workload('a', '127.0.3.1', { app: 'web' }, { locality: { region: 'us', zone: 'a' } }),
  workload('b', '127.0.3.2', { app: 'web' }, { locality: { region: 'us', zone: 'b' }, healthy: false }),
  workload('c', '127.0.3.3', { app: 'web' }, { locality: { region: 'eu', zone: 'x' } }),
  workload('d', '127.0.3.4', { app: 'web' }, { locality: { region: 'ap', zone: 'y' } }),
];
const caller = parseProxy({ ...sidecarNode(workload('client', '127.0.3.9', {}, { locality: { region: 'us', zone: 'a' } })) });
const NAME = 'outbound|80||web.default.svc.cluster.local';

test('targetPort and health: endpoints use the workload port and report UNHEALTHY', () => {
  const cla = buildLoadAssignment(pushFromYaml(svcYaml('    loadBalancer: {simple: ROUND_ROBIN}'), pods), caller, NAME)!;
  const b = cla.endpoints.flatMap((l: any) => l.lb_endpoints).find((e: any) => e.endpoint.address.socket_address.address === '127.0.3.2');
  assert.equal(b.health_status, 'UNHEALTHY');
  assert.equal(b.endpoint.address.socket_address.port_value, 8080);
  assert.ok(cla.endpoints.every((l: any) => l.priority === undefined), 'no priorities without localityLbSetting');
});

test('locality failover: priorities by closeness to the proxy, failover region next', () => {
  const push = pushFromYaml(svcYaml(`    loadBalancer:
      simple: ROUND_ROBIN
      localityLbSetting: {enabled: true, failover: [{from: us, to: ap}]}
    outlierDetection: {consecutive5xxErrors: 1}`), pods);
  const cla = buildLoadAssignment(push, caller, NAME)!;
  const prio = Object.fromEntries(cla.endpoints.map((l: any) => [`${l.locality.region}/${l.locality.zone}`, l.priority ?? 0]));
  assert.deepEqual(prio, { 'us/a': 0, 'us/b': 1, 'ap/y': 2, 'eu/x': 3 });
});

test('locality distribute: weights follow the rule for the proxy locality, unnamed localities drop', () => {
  const push = pushFromYaml(svcYaml(`    loadBalancer:
      localityLbSetting:
        distribute: [{from: "us/a/*", to: {"us/*": 80, "eu/*": 20}}]`), pods);
  const cla = buildLoadAssignment(push, caller, NAME)!;
  const w = Object.fromEntries(cla.endpoints.map((l: any) => [`${l.locality.region}/${l.locality.zone}`, l.load_balancing_weight]));
  assert.deepEqual(w, { 'us/a': 40, 'us/b': 40, 'eu/x': 20 });
  const cluster = generate(push, caller, TYPE.CLUSTER, [NAME])[0]!.resource;
  assert.deepEqual(cluster.common_lb_config.locality_weighted_lb_config, {});
});

test('an endpoint-only change changes EDS output and nothing else', () => {
  const yaml = svcYaml('    loadBalancer: {simple: ROUND_ROBIN}');
  const before = pushFromYaml(yaml, pods);
  const after = pushFromYaml(yaml, [...pods.slice(0, 3), workload('d', '127.0.3.44', { app: 'web' }, { locality: { region: 'ap', zone: 'y' } })]);
  assert.notEqual(before.version, after.version);
  const out = (push: typeof before, t: (typeof TYPE)[keyof typeof TYPE]) => stableStringify(generate(push, caller, t));
  assert.notEqual(out(before, TYPE.ENDPOINT), out(after, TYPE.ENDPOINT));
  for (const t of [TYPE.CLUSTER, TYPE.LISTENER, TYPE.ROUTE]) assert.equal(out(before, t), out(after, t), t);
  assert.equal(pushFromYaml(yaml, pods).version, before.version, 'version is a content hash');
});

test('meshConfig.localityLbSetting applies to rules without their own; a rule\'s setting wins', () => {
  const mesh = { ...MESH, localityLbSetting: { distribute: [{ from: 'us/a/*', to: { 'us/*': 50, 'eu/*': 50 } }] } };
  const weights = (push: ReturnType<typeof pushFromYaml>) =>
    Object.fromEntries(buildLoadAssignment(push, caller, NAME)!.endpoints.map((l: any) => [`${l.locality.region}/${l.locality.zone}`, l.load_balancing_weight]));
  const fromMesh = pushFromYaml(svcYaml('    loadBalancer: {simple: ROUND_ROBIN}'), pods, mesh);
  assert.deepEqual(weights(fromMesh), { 'us/a': 25, 'us/b': 25, 'eu/x': 50 });
  assert.deepEqual(generate(fromMesh, caller, TYPE.CLUSTER, [NAME])[0]!.resource.common_lb_config.locality_weighted_lb_config, {});
  const own = pushFromYaml(svcYaml(`    loadBalancer:
      localityLbSetting:
        distribute: [{from: "us/a/*", to: {"us/*": 80, "eu/*": 20}}]`), pods, mesh);
  assert.deepEqual(weights(own), { 'us/a': 40, 'us/b': 40, 'eu/x': 20 });
});
