/**
 * `tsmesh exec`'s decisions without a demo: which pod a target names, what it says when there is
 * no demo or no such pod, and where cluster DNS + kube-proxy would send a pod without a sidecar.
 * (test/demo/security_tasks.test.ts runs it against a real demo with the real curl.)
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { clusterDestination, findPod } from '../../src/cli/exec.ts';
import { writeState, type DemoPodState, type DemoState } from '../../src/demo/state.ts';

const dir = mkdtempSync(join(tmpdir(), 'tsmesh-exec-'));
after(() => rmSync(dir, { recursive: true, force: true }));


function pod(namespace: string, name: string, ready = true): DemoPodState {
  return { name, namespace, deployment: name.replace(/-\d+$/, ''), podIP: '127.0.1.1', appIP: '127.0.2.1', appPort: 9080, admin: '', bootstrap: '', sidecar: true, ready };
}
function state(pods: DemoPodState[], pid = process.pid): string {
  const stateDir = join(dir, String(Math.random()).slice(2));
  const s: DemoState = { pid, startedAt: '', stateDir, configDir: '', controlplane: { http: 'http://127.0.0.1:1', grpc: '127.0.0.1:1', pid }, gateway: { url: '', port: 0, admin: '', pid }, pods, processes: [] };
  writeState(stateDir, s);
  return stateDir;
}

test('errors say what to do: no demo, a demo gone, no such Deployment, another namespace, not ready', () => {
  assert.match((findPod('deploy/curl', 'foo', join(dir, 'none')) as { error: string }).error, /^no tsmesh demo is running \(no \S+demo\.json\): start one with `npx tsmesh demo`/);
  assert.match((findPod('deploy/curl', 'foo', state([pod('foo', 'curl')], 2 ** 22 + 12345)) as { error: string }).error, /is no longer running \(pid \d+ is gone\)/);
  const s = state([pod('foo', 'curl'), pod('legacy', 'curl'), pod('foo', 'httpbin', false)]);
  assert.match((findPod('deploy/sleep', 'foo', s) as { error: string }).error, /^no Deployment sleep in namespace foo of the running demo: apply it first \(`npx tsmesh apply -n foo -f <file>`\); running here: deploy\/curl, deploy\/httpbin$/);
  assert.match((findPod('deploy/curl', 'default', s) as { error: string }).error, /it is in namespace foo, legacy: add -n foo$/);
  assert.match((findPod('deploy/httpbin', 'foo', s) as { error: string }).error, /^pod httpbin of Deployment httpbin in namespace foo is not ready yet: wait for its ✔ line/);
  const found = findPod('deploy/curl', 'legacy', s);
  assert.ok('pod' in found);
  assert.equal(found.pod.namespace, 'legacy');
  assert.match((findPod('svc/curl', 'foo', s) as { error: string }).error, /^svc\/curl: give a pod \(<pod>\[\.<namespace>\]\) or deploy\/<name>, not svc\/$/);
});

test("targets as every pod command names them: kubectl's deploy/, deployment.apps/, pod/, bare names and istioctl's <pod>.<namespace>", () => {
  const s = state([pod('foo', 'curl-1'), pod('legacy', 'curl-2')]);
  const at = (target: string, ns?: string) => {
    const r = findPod(target, ns, s);
    return 'error' in r ? r.error : `${r.pod.name}.${r.pod.namespace}`;
  };
  assert.equal(at('deploy/curl', 'foo'), 'curl-1.foo');
  assert.equal(at('deployments.apps/curl', 'legacy'), 'curl-2.legacy');
  assert.equal(at('pod/curl-1', 'foo'), 'curl-1.foo');
  assert.equal(at('curl-2', 'legacy'), 'curl-2.legacy');
  assert.equal(at('curl-2.legacy'), 'curl-2.legacy');
  assert.match(at('curl-2.legacy', 'foo'), /names namespace legacy but -n says foo/);
});

test('cluster DNS search path and kube-proxy: service port to an endpoint; other names left to the resolver', () => {
  const registry = {
    services: [
      { hostname: 'httpbin.foo.svc.cluster.local', registry: 'kubernetes', ports: [{ name: 'http', port: 8000 }] },
      { hostname: 'empty.foo.svc.cluster.local', registry: 'kubernetes', ports: [{ name: 'http', port: 80 }] },
      { hostname: 'api.example.com', registry: 'serviceentry', ports: [{ name: 'http', port: 80 }] },
    ],
    endpoints: { 'httpbin.foo.svc.cluster.local|8000': [{ address: '127.0.1.7', port: 8080, healthy: true }], 'empty.foo.svc.cluster.local|80': [] },
  };
  const to = { host: '127.0.1.7', port: 8080 };
  assert.deepEqual(clusterDestination(registry, 'legacy', 'httpbin.foo', 8000), to);
  assert.deepEqual(clusterDestination(registry, 'legacy', 'httpbin.foo.svc.cluster.local', 8000), to);
  assert.deepEqual(clusterDestination(registry, 'legacy', 'httpbin.foo.svc', 8000), to);
  assert.deepEqual(clusterDestination(registry, 'foo', 'httpbin', 8000), to);
  assert.deepEqual(clusterDestination(registry, 'legacy', 'httpbin', 8000), { host: 'httpbin', port: 8000 }, 'not a Service of the caller\'s namespace');
  assert.equal(clusterDestination(registry, 'legacy', 'httpbin.foo', 9999), undefined, 'a port the Service does not have: refused');
  assert.equal(clusterDestination(registry, 'legacy', 'empty.foo', 80), undefined, 'no endpoint: refused');
  assert.deepEqual(clusterDestination(registry, 'legacy', 'api.example.com', 80), { host: 'api.example.com', port: 80 }, 'ServiceEntry hosts are not in cluster DNS');
});
