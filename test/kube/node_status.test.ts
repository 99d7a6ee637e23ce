/**
 * The node agent's pod lifecycle rules, without processes: phase and conditions from container
 * records (native sidecars do not hold a Job's pod open; a pod is Ready only when its sidecars
 * are), and how each container is run here (istio-init and istio-proxy recognised, apps mapped
 * the demo's way, an image that cannot run says why).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { appContainerLaunch, containerRole, hasIstioProxy } from '../../src/kube/node/containers.ts';
import { podPhase, podStatus } from '../../src/kube/node/pod_status.ts';
import type { ContainerRecord, KubePod } from '../../src/kube/node/types.ts';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const T = '2026-01-01T00:00:00.000Z';

function rec(name: string, over: Partial<ContainerRecord>): ContainerRecord {
  return { name, image: 'x', init: false, nativeSidecar: false, state: { waiting: { reason: 'PodInitializing' } }, ready: false, started: false, restartCount: 0, ...over };
}
const running = { running: { startedAt: T } };
const exited = (exitCode: number) => ({ terminated: { exitCode, reason: exitCode === 0 ? 'Completed' : 'Error', finishedAt: T } });

test('a Job pod whose main container exited 0 is Succeeded once its native sidecar has stopped, not before', () => {
  const records = [rec('proxy', { init: true, nativeSidecar: true, state: running, started: true, ready: true }), rec('job', { state: exited(0), started: true })];
  assert.equal(podPhase(records, 'Never'), 'Running');
  records[0]!.state = exited(0);
  records[0]!.ready = false;
  assert.equal(podPhase(records, 'Never'), 'Succeeded');
  const s = podStatus({ records, restartPolicy: 'Never', podIP: '198.18.0.3', hostIP: '127.0.0.1', startTime: T, now: T });
  assert.equal(s.conditions.find((c) => c.type === 'Ready')?.status, 'False');
  assert.equal(s.conditions.find((c) => c.type === 'Ready')?.reason, 'PodCompleted');
  assert.deepEqual(s.initContainerStatuses.map((c) => c.name), ['proxy']);
  assert.deepEqual(s.containerStatuses.map((c) => c.name), ['job']);
});

test('a failed container fails a restartPolicy Never pod; Always keeps it Running', () => {
  const records = [rec('job', { state: exited(3), started: true })];
  assert.equal(podPhase(records, 'Never'), 'Failed');
  assert.equal(podPhase(records, 'Always'), 'Running');
});

test('the pod is Pending until init containers complete and native sidecars have started', () => {
  const init = rec('istio-init', { init: true, state: exited(0) });
  const sidecar = rec('istio-proxy', { init: true, nativeSidecar: true });
  const app = rec('app', {});
  assert.equal(podPhase([init, sidecar, app], 'Always'), 'Pending');
  sidecar.state = running;
  sidecar.started = true;
  app.state = running;
  app.started = true;
  assert.equal(podPhase([init, sidecar, app], 'Always'), 'Running');
});

test('Ready needs the app and the native sidecar ready; a condition keeps its time until its status changes', () => {
  const sidecar = rec('istio-proxy', { init: true, nativeSidecar: true, state: running, started: true, ready: false });
  const app = rec('app', { state: running, started: true, ready: true });
  const first = podStatus({ records: [sidecar, app], restartPolicy: 'Always', podIP: '198.18.0.4', hostIP: '127.0.0.1', startTime: T, now: '2026-01-01T00:00:01.000Z' });
  assert.equal(first.conditions.find((c) => c.type === 'Ready')?.status, 'False');
  assert.deepEqual(first.podIPs, [{ ip: '198.18.0.4' }]);
  sidecar.ready = true;
  const second = podStatus({ records: [sidecar, app], restartPolicy: 'Always', podIP: '198.18.0.4', hostIP: '127.0.0.1', startTime: T, previous: first, now: '2026-01-01T00:00:02.000Z' });
  const ready = second.conditions.find((c) => c.type === 'Ready')!;
  assert.equal(ready.status, 'True');
  assert.equal(ready.lastTransitionTime, '2026-01-01T00:00:02.000Z');
  assert.equal(second.conditions.find((c) => c.type === 'PodScheduled')!.lastTransitionTime, '2026-01-01T00:00:01.000Z');
});

const pod = (containers: KubePod['spec']['containers'], initContainers: KubePod['spec']['initContainers'] = []): KubePod => ({
  metadata: { name: 'httpbin-abc', namespace: 'default', labels: { app: 'httpbin', version: 'v1' } },
  spec: { containers, initContainers, serviceAccountName: 'httpbin' },
});
const addr = { index: 5, podIP: '198.18.0.5', appIP: '127.0.2.5' };

test("Istio's injected containers are recognised; other containers are apps", () => {
  assert.equal(containerRole({ name: 'istio-init', image: 'docker.io/istio/proxyv2:1.28.0' }), 'istio-init');
  assert.equal(containerRole({ name: 'init', command: ['tsmesh', 'init'], args: ['-p', '15001'] }), 'istio-init');
  assert.equal(containerRole({ name: 'istio-proxy', image: 'docker.io/istio/proxyv2:1.28.0' }), 'istio-proxy');
  assert.equal(containerRole({ name: 'httpbin', image: 'docker.io/mccutchen/go-httpbin:v2.15.0' }), 'app');
  assert.equal(hasIstioProxy(pod([{ name: 'httpbin' }], [{ name: 'istio-proxy', restartPolicy: 'Always' }])), true);
});

test("Istio's httpbin image runs as tsmesh's httpbin at the pod IP, or behind the sidecar at the app IP", () => {
  const c = { name: 'httpbin', image: 'docker.io/mccutchen/go-httpbin:v2.15.0', ports: [{ containerPort: 8080 }] };
  const plain = appContainerLaunch(pod([c]), c, addr, repoRoot, false);
  assert.ok(!('error' in plain));
  assert.equal(plain.env.HOST, '198.18.0.5');
  assert.equal(plain.env.PORT, '8080');
  const meshed = appContainerLaunch(pod([c]), c, addr, repoRoot, true);
  assert.ok(!('error' in meshed));
  assert.equal(meshed.env.HOST, '127.0.2.5');
  assert.equal(meshed.env.TSMESH_OUTBOUND_PROXY, 'http://127.0.2.5:15080');
});

test('an image the node cannot run gives a reason that says what it can run', () => {
  const c = { name: 'nginx', image: 'nginx:1.27' };
  const r = appContainerLaunch({ ...pod([c]), metadata: { name: 'web', namespace: 'default', labels: { app: 'web' } } }, c, addr, repoRoot, false);
  assert.ok('error' in r);
  assert.match(r.error, /cannot run image nginx:1\.27/);
});
