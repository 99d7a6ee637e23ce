/**
 * The pure parts of proxy-status / proxy-config: istioctl's table layout, sync verdicts, the
 * unified diff, pod and proxy names, and the cells istioctl derives from Envoy config. The same
 * functions over a dump recorded from a real proxy are in
 * test/integration/operator_proxy_status.test.ts.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { renderTable } from '../../src/cli/proxy_config_table.ts';
import { unifiedDiff } from '../../src/cli/proxy_config_diff.ts';
import { statusRows, xdsStatus } from '../../src/xds/sync_status.ts';
import { findPodTarget, parsePodArg, type PodTarget } from '../../src/cli/pod_ref.ts';
import { describeManagement, describeRouteDomains, selectRoutes } from '../../src/cli/proxy_config_views.ts';
import { resolveProxyId, shortProxyName } from '../../src/xds/debug_proxies.ts';

test("tables: columns padded by 5 past their widest cell, the last one not", () => {
  assert.equal(renderTable(['NAME', 'CDS'], [['a.default', 'SYNCED'], ['bb.x', 'NOT SENT']]), 'NAME          CDS\na.default     SYNCED\nbb.x          NOT SENT\n');
});

test("sync verdicts are istiod's: nothing sent, last nonce ACKed, or not", () => {
  assert.equal(xdsStatus('', ''), 'NOT SENT');
  assert.equal(xdsStatus('n-2', 'n-2'), 'SYNCED');
  assert.equal(xdsStatus('n-3', 'n-2'), 'STALE');
  assert.equal(xdsStatus('n-3', ''), 'STALE (Never Acknowledged)', 'sent, never ACKed: istioctl tells it from an older ACK');
  assert.equal(xdsStatus('n-3', undefined), 'STALE (Never Acknowledged)');
  const rows = statusRows([
    { proxyId: 'sidecar~10.0.0.2~b-1.default~default.svc.cluster.local', istio_version: '1.24.0', istiod: 'cp', types: { 'type.googleapis.com/envoy.config.cluster.v3.Cluster': { sentNonce: 'x-1', ackedNonce: 'x-1' } } },
    { proxyId: 'sidecar~10.0.0.1~a-1.default~default.svc.cluster.local', cluster_id: 'Kubernetes', proxy_version: 'tsmesh', types: {} },
  ]);
  assert.deepEqual(rows, [
    ['a-1.default', 'Kubernetes', 'NOT SENT', 'NOT SENT', 'NOT SENT', 'NOT SENT', 'NOT SENT', '', 'tsmesh*'],
    ['b-1.default', 'Kubernetes', 'SYNCED', 'NOT SENT', 'NOT SENT', 'NOT SENT', 'NOT SENT', 'cp', '1.24.0'],
  ]);
});

test('unified diff: empty when equal, hunks with context otherwise', () => {
  const a = ['{', '  "a": 1,', '  "b": 2,', '  "c": 3', '}'];
  assert.equal(unifiedDiff(a, a, 'Istiod Clusters', 'Envoy Clusters'), '');
  const b = ['{', '  "a": 1,', '  "b": 5,', '  "c": 3', '}'];
  assert.equal(unifiedDiff(a, b, 'Istiod Clusters', 'Envoy Clusters', 1), '--- Istiod Clusters\n+++ Envoy Clusters\n@@ -2,3 +2,3 @@\n   "a": 1,\n-  "b": 2,\n+  "b": 5,\n   "c": 3\n');
});

const PODS: PodTarget[] = [
  { name: 'productpage-v1-7d4b9f', namespace: 'default', deployment: 'productpage-v1', admin: 'http://127.0.0.1:1', sidecar: true, ready: true },
  { name: 'httpbin-1', namespace: 'foo', deployment: 'httpbin', admin: 'http://127.0.0.1:2', sidecar: true, ready: true },
  { name: 'istio-ingressgateway-1', namespace: 'istio-system', deployment: 'istio-ingressgateway', admin: 'http://127.0.0.1:3', sidecar: true, ready: true, gateway: true },
];

test('pods by <pod>.<ns>, <pod> with -n, deploy/<name>; unknown ones name close ones', () => {
  assert.deepEqual(parsePodArg('productpage-v1-7d4b9f.default'), { kind: 'pod', name: 'productpage-v1-7d4b9f', namespace: 'default' });
  assert.deepEqual(parsePodArg('deploy/httpbin', 'foo'), { kind: 'deployment', name: 'httpbin', namespace: 'foo' });
  const pick = (arg: string, ns?: string) => {
    const r = findPodTarget(PODS, arg, ns);
    return 'pod' in r ? `${r.pod.name}.${r.pod.namespace}` : r.error;
  };
  assert.equal(pick('productpage-v1-7d4b9f'), 'productpage-v1-7d4b9f.default');
  assert.equal(pick('httpbin-1.foo'), 'httpbin-1.foo');
  assert.equal(pick('deploy/productpage-v1'), 'productpage-v1-7d4b9f.default');
  assert.equal(pick('istio-ingressgateway-1.istio-system'), 'istio-ingressgateway-1.istio-system');
  assert.equal(pick('deploy/istio-ingressgateway', 'istio-system'), 'istio-ingressgateway-1.istio-system');
  assert.match(pick('httpbin-1'), /no pod httpbin-1 in namespace default: it is in namespace foo \(give httpbin-1\.foo\)/);
  assert.match(pick('productpage-v1-7d4b9'), /did you mean productpage-v1-7d4b9f\.default\?/);
  assert.match(pick('svc/httpbin'), /give a pod/);
  assert.match(pick('httpbin-1.foo', 'bar'), /-n says bar/);
});

test("the control plane resolves istiod's short proxy names", () => {
  const ids = ['sidecar~127.0.0.2~productpage-v1.default~default.svc.cluster.local', 'router~127.0.0.1~istio-ingressgateway-1.istio-system~istio-system.svc.cluster.local', 'sidecar~127.0.0.3~web.a~a.svc.cluster.local', 'sidecar~127.0.0.4~web.b~b.svc.cluster.local'];
  assert.equal(shortProxyName(ids[0]!), 'productpage-v1.default');
  assert.deepEqual(resolveProxyId(ids[0]!, ids), { id: ids[0] });
  assert.deepEqual(resolveProxyId('productpage-v1.default', ids), { id: ids[0] });
  assert.deepEqual(resolveProxyId('istio-ingressgateway-1', ids), { id: ids[1] });
  assert.match((resolveProxyId('web', ids) as { error: string }).error, /ambiguous.*web\.a, web\.b/);
  assert.match((resolveProxyId('productpage-v2.default', ids) as { error: string }).error, /not connected.*did you mean productpage-v1\.default\?/);
  assert.match((resolveProxyId('x', []) as { error: string }).error, /no proxy is connected/);
});

test("istioctl's cells: the managing config, a virtual host's domains, a port's routes", () => {
  assert.equal(describeManagement({ filter_metadata: { istio: { config: '/apis/networking.istio.io/v1/namespaces/default/virtual-service/reviews' } } }), 'reviews.default');
  assert.equal(describeManagement(undefined), '');
  assert.equal(describeRouteDomains(['reviews.default.svc.cluster.local', 'reviews', 'reviews.default.svc', 'reviews.default', '10.0.0.1', 'reviews:9080']), 'reviews, reviews.default + 1 more...');
  assert.equal(describeRouteDomains(['reviews.default.svc.cluster.local:9080', 'reviews.default.svc:9080', 'reviews.default:9080', 'reviews:9080']), 'reviews.default:9080, reviews:9080');
  const routes = [{ name: 'http_proxy', virtual_hosts: [{ name: 'a:9080', domains: ['a:9080'] }, { name: 'b:8000', domains: ['b:8000'] }] }, { name: '8000', virtual_hosts: [] }];
  assert.deepEqual(selectRoutes(routes, '8000').routes.map((r) => r.name), ['8000']);
  const narrowed = selectRoutes(routes, '9080');
  assert.deepEqual(narrowed.routes[0]?.virtual_hosts.map((v: { name: string }) => v.name), ['a:9080']);
  assert.match(narrowed.note ?? '', /no route named 9080/);
  assert.deepEqual(selectRoutes(routes, 'nope').routes, []);
});

test('bad input is refused before anything is asked, saying what to do', async () => {
  const { runTsmesh } = await import('../helpers/tasks.ts');
  const wrongFilter = await runTsmesh(['proxy-config', 'route', 'productpage-v1', '--fqdn', 'reviews']);
  assert.equal(wrongFilter.code, 2);
  assert.match(wrongFilter.stderr, /--fqdn does not apply to route: it filters cluster/);
  const badType = await runTsmesh(['pc', 'clustres', 'productpage-v1']);
  assert.match(badType.stderr, /unknown type clustres: one of cluster, listener/);
  const badOutput = await runTsmesh(['pc', 'cluster', 'productpage-v1', '-o', 'table']);
  assert.match(badOutput.stderr, /-o table: one of json, yaml, short/);
  const badLevel = await runTsmesh(['pc', 'log', '-f', 'x.json']);
  assert.match(badLevel.stderr, /log levels are read from a running proxy/);
  const noFile = await runTsmesh(['pc', 'cluster', '-f', '/nonexistent/dump.json']);
  assert.equal(noFile.code, 1);
  assert.match(noFile.stderr, /\/nonexistent\/dump\.json: cannot read: ENOENT/);
});
