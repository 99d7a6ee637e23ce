/**
 * The node agent against a real API server and controller manager: Istio's httpbin applied with
 * kubectl is bound to the node, runs, gets a pod IP and Ready, the EndpointSlice controller
 * publishes that IP, and the app answers there; a Job whose pod has a native sidecar completes;
 * deleting the Deployment stops its processes.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { NodeAgent } from '../../src/kube/node/agent.ts';
import { ISTIO_DATA } from '../helpers/istio_data.ts';
import { startKubeCluster, type KubeCluster } from '../helpers/kube.ts';
import { netnsTest } from '../helpers/in_netns.ts';

// The node agent makes its pod /24 local (ip route add local ... dev lo): the whole file runs in a
// network namespace of its own, never the machine's.
const test = netnsTest(import.meta.url, { timeoutMs: 400_000 });

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
// This file's own /24s: no other test file uses them.
const POD_NET = '198.18.7.';
const APP_NET = '127.0.7.';
const WAIT_MS = 120_000;

async function poll<T>(what: string, fn: () => Promise<T | undefined>, ms = WAIT_MS): Promise<T> {
  const end = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
    await new Promise((r) => setTimeout(r, 300));
  }
}

async function getJson(kube: KubeCluster, args: string[]): Promise<any> {
  const r = await kube.kubectl([...args, '-o', 'json']);
  if (r.code !== 0) throw new Error(r.stderr);
  return JSON.parse(r.stdout);
}

function refused(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host, port });
    s.once('connect', () => (s.destroy(), resolve(false)));
    s.once('error', () => resolve(true));
  });
}

const JOB = `apiVersion: batch/v1
kind: Job
metadata:
  name: with-sidecar
spec:
  backoffLimit: 0
  template:
    metadata:
      labels: { app: with-sidecar }
    spec:
      restartPolicy: Never
      initContainers:
      - name: sidecar
        image: tsmesh/echo
        restartPolicy: Always
        command: [node, --import, tsx, samples/echo/main.ts]
        env: [{ name: PORT, value: "9099" }]
      containers:
      - name: job
        image: tsmesh/tsmesh
        command: [node, bin/tsmesh.js, version, --remote=false]
`;

test('the node agent runs what kubectl applies, as a kubelet would', { timeout: 400_000 }, async (t) => {
  const kube = await startKubeCluster(t, { controllerManager: true });
  const stateDir = mkdtempSync(join(tmpdir(), 'tsmesh-node-'));
  const agent = new NodeAgent({ kubeconfig: kube.kubeconfig, repoRoot, stateDir, podNet: POD_NET, appNet: APP_NET, stopMs: 3000, log: () => undefined });
  t.after(async () => {
    await agent.close();
    rmSync(stateDir, { recursive: true, force: true });
  });
  await agent.start();

  const node = await getJson(kube, ['get', 'node', agent.nodeName]);
  assert.equal(node.status.conditions.find((c: any) => c.type === 'Ready')?.status, 'True');
  assert.equal(node.metadata.labels['kubernetes.io/hostname'], agent.nodeName);

  const applied = await kube.kubectl(['apply', '-f', join(ISTIO_DATA, 'samples/httpbin/httpbin.yaml')]);
  assert.equal(applied.code, 0, applied.stderr);

  const pod = await poll('the httpbin pod Running and Ready', async () => {
    const list = await getJson(kube, ['get', 'pods', '-l', 'app=httpbin']);
    const p = list.items[0];
    const ready = p?.status?.conditions?.find((c: any) => c.type === 'Ready')?.status === 'True';
    return p?.status?.phase === 'Running' && ready ? p : undefined;
  });
  assert.equal(pod.spec.nodeName, agent.nodeName);
  const podIP: string = pod.status.podIP;
  assert.ok(podIP.startsWith(POD_NET), `pod IP ${podIP} from the node's pod net`);
  assert.deepEqual(pod.status.podIPs, [{ ip: podIP }]);
  assert.equal(pod.status.containerStatuses[0].ready, true);

  const slice = await poll('an EndpointSlice for httpbin with the pod IP', async () => {
    const list = await getJson(kube, ['get', 'endpointslices', '-l', 'kubernetes.io/service-name=httpbin']);
    return list.items.find((s: any) => (s.endpoints ?? []).some((e: any) => e.addresses.includes(podIP) && e.conditions?.ready === true));
  });
  assert.equal(slice.ports[0].port, 8080);

  const res = await fetch(`http://${podIP}:8080/headers`);
  assert.equal(res.status, 200);
  assert.ok('headers' in ((await res.json()) as object));

  // A Job with a native sidecar: the main container exits 0, the sidecar is stopped, the Job completes.
  const job = await kube.kubectl(['apply', '-f', '-'], { input: JOB });
  assert.equal(job.code, 0, job.stderr);
  await poll('Job with-sidecar Complete', async () => {
    const j = await getJson(kube, ['get', 'job', 'with-sidecar']);
    return j.status?.conditions?.some((c: any) => c.type === 'Complete' && c.status === 'True') ? j : undefined;
  });
  const jobPod = (await getJson(kube, ['get', 'pods', '-l', 'app=with-sidecar'])).items[0];
  assert.equal(jobPod.status.phase, 'Succeeded');
  assert.equal(jobPod.status.containerStatuses[0].state.terminated.exitCode, 0);
  assert.ok(jobPod.status.initContainerStatuses[0].state.terminated, 'the native sidecar was stopped');
  assert.ok(await refused(jobPod.status.podIP, 9099), 'nothing listens where the sidecar did');

  // Deleting the Deployment: the pod's process gets SIGTERM and the pod object goes.
  const del = await kube.kubectl(['delete', 'deployment', 'httpbin']);
  assert.equal(del.code, 0, del.stderr);
  await poll('the httpbin pod gone', async () => ((await getJson(kube, ['get', 'pods', '-l', 'app=httpbin'])).items.length === 0 ? true : undefined));
  assert.ok(await refused(podIP, 8080), `nothing listens on ${podIP}:8080 once the pod is deleted`);
  const log = readFileSync(join(stateDir, 'logs', `default_${pod.metadata.name}_httpbin.log`), 'utf8');
  assert.ok(log.length > 0, 'the container wrote its log where the agent put it');
});
