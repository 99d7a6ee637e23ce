/**
 * The `tsmesh.io/health-check` DestinationRule annotation: validated at apply time with messages
 * naming the annotation and the field, and translated into Cluster.health_checks on every cluster
 * of the rule (default and subsets), never on proxyless gRPC clusters.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildClusters } from '../../src/pilot/cluster/index.ts';
import { loadText } from '../../src/api/load.ts';
import { validateCluster } from '../../src/proxy/config/validation.ts';
import { proxyFor, pushFromYaml, workload } from './fixtures.ts';

const dr = (annotation: string) => `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: echo
  annotations:
    tsmesh.io/health-check: '${annotation}'
spec:
  host: echo
  subsets: [{name: v1, labels: {version: v1}}]
`;

const SERVICE = `apiVersion: v1
kind: Service
metadata: {name: echo}
spec: {selector: {app: echo}, ports: [{name: http, port: 8080}]}
---
`;

test('the annotation becomes Envoy health_checks on the rule\'s clusters, which the proxy accepts', () => {
  const push = pushFromYaml(
    SERVICE + dr('{"path": "/healthz", "interval": "5s", "timeout": "500ms", "unhealthyThreshold": 3, "healthyThreshold": 2, "expectedStatuses": [204, 200]}'),
    [workload('echo-1', '127.0.2.1', { app: 'echo', version: 'v1' })],
  );
  const clusters = buildClusters(push, proxyFor({ namespace: 'default' }));
  for (const name of ['outbound|8080||echo.default.svc.cluster.local', 'outbound|8080|v1|echo.default.svc.cluster.local']) {
    const c = clusters.find((x) => x.name === name)!.resource;
    assert.deepEqual(c.health_checks, [
      {
        timeout: '0.5s',
        interval: '5s',
        unhealthy_threshold: 3,
        healthy_threshold: 2,
        no_traffic_interval: '5s',
        http_health_check: { path: '/healthz', expected_statuses: [{ start: 200, end: 201 }, { start: 204, end: 205 }] },
      },
    ]);
    assert.deepEqual(validateCluster(c), [], 'the proxy validates what the pilot emits');
  }
  const tcp = pushFromYaml(SERVICE + dr('{"tcp": {"send": "PING", "receive": "PONG"}}'), [workload('echo-1', '127.0.2.1', { app: 'echo' })]);
  const t = buildClusters(tcp, proxyFor({ namespace: 'default' })).find((x) => x.name === 'outbound|8080||echo.default.svc.cluster.local')!.resource;
  assert.deepEqual(t.health_checks[0].tcp_health_check, { send: { text: '50494e47' }, receive: [{ text: '504f4e47' }] });
  assert.equal(t.health_checks[0].interval, '10s', 'defaults: 10s interval');
});

test('a bad annotation is rejected at apply time, naming the annotation and the field', () => {
  const cases: [string, RegExp][] = [
    ['{"path": "/h", "interval": "fast"}', /"interval" must be a duration/],
    ['{"interval": "5s"}', /exactly one of "path" \(HTTP check\) or "tcp"/],
    ['{"path": "health"}', /"path" must be an absolute request path/],
    ['{"path": "/h", "unhealthyThreshold": 0}', /"unhealthyThreshold" must be a whole number of at least 1/],
    ['{"path": "/h", "timout": "1s"}', /unknown field "timout"/],
    ['not json', /is not valid JSON/],
  ];
  for (const [value, message] of cases) {
    const [r] = loadText(dr(value), { file: 'dr.yaml' });
    assert.equal(r.valid, false, value);
    const e = r.errors.find((x) => x.path === 'metadata.annotations["tsmesh.io/health-check"]');
    assert.ok(e, `${value}: ${JSON.stringify(r.errors)}`);
    assert.match(e.message, /^tsmesh\.io\/health-check /);
    assert.match(e.message, message);
  }
  assert.equal(loadText(dr('{"path": "/health"}'), { file: 'dr.yaml' })[0].valid, true);
});
