/**
 * Issue 15, acceptance 3, through the webhook path on the demo's cluster (test/helpers/kube_mesh.ts):
 * a Job created with kubectl in a namespace labelled istio-injection=enabled gets the injected
 * istio-proxy as a native sidecar (an init container with restartPolicy Always), its container
 * runs to the end, the node stops the sidecar, the pod terminates as Succeeded and the Job is
 * Complete — what Istio's regular-container sidecar never allowed without a quit call.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startKubeMesh, type KubeMesh } from '../helpers/kube_mesh.ts';
import { until } from '../helpers/poll.ts';

let mesh: KubeMesh | undefined;
before(async () => {
  mesh = await startKubeMesh();
});
after(() => mesh?.close());

// The container runs a file of this repository (the node agent runs `node <file>` commands).
const JOB = `apiVersion: batch/v1
kind: Job
metadata:
  name: meshed-job
spec:
  backoffLimit: 0
  template:
    metadata:
      labels: { app: meshed-job }
    spec:
      restartPolicy: Never
      containers:
      - name: job
        image: tsmesh/tsmesh
        command: [node, bin/tsmesh.js, version, --remote=false]
`;

test('a Job whose injected pod has the native sidecar completes, and its pod terminates Succeeded', async () => {
  const m = mesh!;
  const applied = await m.kubectl(['apply', '-n', 'default', '-f', '-'], { input: JOB });
  assert.equal(applied.code, 0, applied.stderr);

  const job = await until(async () => {
    const r = await m.kubectl(['get', 'job', 'meshed-job', '-n', 'default', '-o', 'json']);
    const j = r.code === 0 ? JSON.parse(r.stdout) : undefined;
    return j?.status?.conditions?.some((c: any) => c.type === 'Complete' && c.status === 'True') ? j : undefined;
  }, 'Job meshed-job Complete', 90_000, 1000).catch((e: Error) => assert.fail(`${e.message}\n--- demo:\n${m.output().slice(-4000)}`));
  assert.equal(job.status.succeeded, 1);

  const r = await m.kubectl(['get', 'pods', '-n', 'default', '-l', 'job-name=meshed-job', '-o', 'json']);
  assert.equal(r.code, 0, r.stderr);
  const [pod] = JSON.parse(r.stdout).items;
  // The webhook injected the proxy as a native sidecar (read back from the API server).
  const proxy = (pod.spec.initContainers ?? []).find((c: any) => c.name === 'istio-proxy');
  assert.equal(proxy?.restartPolicy, 'Always', JSON.stringify(pod.spec.initContainers?.map((c: any) => c.name)));
  assert.equal(pod.status.phase, 'Succeeded');
  const main = pod.status.containerStatuses.find((c: any) => c.name === 'job');
  assert.equal(main.state.terminated?.exitCode, 0, JSON.stringify(main.state));
  const sidecar = pod.status.initContainerStatuses.find((c: any) => c.name === 'istio-proxy');
  assert.ok(sidecar.state.terminated, `the sidecar has terminated: ${JSON.stringify(sidecar.state)}`);
  // It had really run: the proxy got its certificate for the pod's service account.
  const log = readFileSync(join(m.stateDir, 'logs', `default_${pod.metadata.name}_istio-proxy.log`), 'utf8');
  assert.match(log, /certificate issued for spiffe:\/\/cluster\.local\/ns\/default\/sa\/default/);
});
