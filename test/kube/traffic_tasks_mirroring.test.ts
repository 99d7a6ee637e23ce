/**
 * Istio's "Mirroring" task (tasks/traffic-management/mirroring) in Kubernetes mode: httpbin-v1
 * and httpbin-v2 behind one httpbin Service and Istio's samples/curl/curl.yaml (unmodified), all
 * applied with `kubectl apply -f` in a namespace labelled istio-injection=enabled; all traffic
 * routed to v1, then mirrored 100 % to v2. The task's YAML is inline in Istio's docs and applied
 * as the task does (`kubectl apply -f - <<EOF`). The same outcomes as the file-based demo's test
 * (test/integration/istio_mirroring.test.ts).
 *
 * The task sends with `kubectl exec deploy/curl -- curl http://httpbin:8000/headers` and reads
 * `kubectl logs deploy/httpbin-v2`. This node has no kubelet API for exec or logs: requests are
 * sent where the curl container's own calls go (its sidecar's outbound HTTP listener on the pod's
 * app address, the node's NONE interception mode), and the logs are the node's container log files.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { SIDECAR_OUTBOUND_PORT } from '../../src/demo/ports.ts';
import { DEFAULT_APP_NET, DEFAULT_POD_NET } from '../../src/kube/node/pod_network.ts';
import { ISTIO_DATA } from '../helpers/istio_data.ts';
import { NO_BOOKINFO } from '../helpers/kube_bookinfo.ts';
import { startKubeMesh, type KubeMesh } from '../helpers/kube_mesh.ts';
import { NO_NETNS } from '../helpers/netns.ts';
import { HTTPBIN_SERVICE, MIRROR_TO_V2, ROUTE_ALL_TO_V1, httpbinDeployment } from '../helpers/istio_task_yaml.ts';

const skip = NO_NETNS || NO_BOOKINFO;

// From Istio's task, as given.

let mesh: KubeMesh;
/** The curl pod's app address: where its container's outbound calls go. */
let curlApp: string;
const podNames: Record<string, string> = {};

const kubectl = (args: string[], input?: string): Promise<string> => mesh.kubectlOk(args, input);

/** `kubectl logs` of a pod's httpbin container, from the node's log file. */
function httpbinLog(version: string): string {
  try {
    return readFileSync(join(mesh.stateDir, 'logs', `default_${podNames[version]}_httpbin.log`), 'utf8');
  } catch {
    return '';
  }
}

/** Access-log lines carrying `marker`. */
function seen(log: string, marker: string): string[] {
  return log.split('\n').filter((l) => l.includes('status=') && l.includes(marker));
}

/** `curl http://httpbin:8000/headers?id=<marker>` from the curl pod, as `kubectl exec deploy/curl` would. */
async function send(marker: string): Promise<{ status: number; body: string }> {
  const [r] = await mesh.http(`http://${curlApp}:${SIDECAR_OUTBOUND_PORT}/headers?id=${marker}`, { headers: { host: 'httpbin:8000' } });
  return r!;
}

async function until(what: string, check: () => Promise<boolean | string> | boolean | string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const last = await check();
    if (last === true) return;
    if (Date.now() > deadline) throw new Error(`${what}: not seen within ${timeoutMs / 1000} s (last: ${String(last)})\n${mesh.output().split('\n').slice(-40).join('\n')}`);
    await new Promise((r) => setTimeout(r, 300));
  }
}

before(async () => {
  if (skip) return;
  mesh = await startKubeMesh();
  await kubectl(['label', 'namespace', 'default', 'istio-injection=enabled', '--overwrite']);
  await kubectl(['apply', '-f', '-'], [httpbinDeployment('v1'), httpbinDeployment('v2'), HTTPBIN_SERVICE].join('---\n'));
  await kubectl(['apply', '-f', `${ISTIO_DATA}/samples/curl/curl.yaml`]);
  for (const v of ['v1', 'v2']) podNames[v] = (await mesh.waitForPods('default', `app=httpbin,version=${v}`, { count: 1, timeoutMs: 120_000 }))[0].metadata.name;
  const [curl] = await mesh.waitForPods('default', 'app=curl', { count: 1, timeoutMs: 120_000 });
  const podIP: string = curl.status.podIP;
  // The node gives pod i the pod IP <pod net>.i and the app address <app net>.i behind its sidecar.
  assert.ok(podIP.startsWith(DEFAULT_POD_NET), `the curl pod's IP ${podIP} is in the node's pod net ${DEFAULT_POD_NET}0/24`);
  curlApp = DEFAULT_APP_NET + podIP.slice(DEFAULT_POD_NET.length);
  await until('curl → httpbin:8000 through its sidecar', async () => {
    const r = await send('warmup');
    return r.status === 200 || `${r.status} ${r.body.slice(0, 200)}`;
  });
}, { timeout: 300_000 });

after(async () => {
  await mesh?.close();
});

test('mirroring: routed to v1 only, v2 sees nothing', { skip, timeout: 120_000 }, async () => {
  await kubectl(['apply', '-f', '-'], ROUTE_ALL_TO_V1);
  // Until the route arrives the Service balances over v1 and v2: wait for a run that v2 did not see.
  let round = 0;
  await until('all traffic to v1', async () => {
    round++;
    for (let i = 0; i < 10; i++) await send(`settle-${round}-${i}x`);
    return seen(httpbinLog('v2'), `id=settle-${round}-`).length === 0 || `v2 saw ${seen(httpbinLog('v2'), `id=settle-${round}-`).length} of round ${round}`;
  });
  for (let i = 0; i < 5; i++) {
    const r = await send(`before-${i}x`);
    assert.equal(r.status, 200, `before-${i}: ${r.status} ${r.body.slice(0, 300)}`);
  }
  // Logs reach their files through pipes: give v1's a moment.
  await until("v1's log to show the requests", () => [...Array(5).keys()].every((i) => seen(httpbinLog('v1'), `id=before-${i}x`).length === 1) || httpbinLog('v1').slice(-500), 10_000);
  assert.deepEqual(seen(httpbinLog('v2'), 'id=before-'), [], 'v2 got none of them');
});

test('mirroring: v2 sees every request too; the client gets v1 answers', { skip, timeout: 120_000 }, async () => {
  await kubectl(['apply', '-f', '-'], MIRROR_TO_V2);
  let round = 0;
  await until('the mirror to v2', async () => {
    round++;
    await send(`mirrorwait-${round}x`);
    await new Promise((r) => setTimeout(r, 200));
    return seen(httpbinLog('v2'), `id=mirrorwait-`).length > 0 || `round ${round}`;
  });
  const n = 20;
  for (let i = 0; i < n; i++) {
    const r = await send(`mirror-${i}x`);
    assert.equal(r.status, 200, `mirror-${i}: ${r.status} ${r.body.slice(0, 300)}`);
    const host = JSON.parse(r.body).headers?.Host;
    // The mirrored copy carries Envoy's "-shadow" host; the answer the client got did not.
    assert.ok(typeof host === 'string' && !host.includes('-shadow'), `answer to mirror-${i} came from v1's copy (Host ${JSON.stringify(host)})`);
  }
  // The mirror is fire-and-forget and logs reach their files through pipes: bounded wait for both.
  const missing = (v: string) => [...Array(n).keys()].filter((i) => seen(httpbinLog(v), `id=mirror-${i}x`).length !== 1);
  await until('v1 and v2 logs to show every request', () => (missing('v1').length === 0 && missing('v2').length === 0) || `v1 missing ${missing('v1')}, v2 missing ${missing('v2')}`, 10_000).catch(() => undefined);
  assert.deepEqual(missing('v2'), [], `v2 saw each mirrored request exactly once:\n${httpbinLog('v2').slice(-3000)}`);
  assert.deepEqual(missing('v1'), [], `v1 served each request exactly once:\n${httpbinLog('v1').slice(-3000)}`);
  for (const line of seen(httpbinLog('v2'), 'id=mirror-')) assert.match(line, /host="[^"]*-shadow[^"]*"/, `the mirrored copy is marked as a shadow: ${line}`);
});
