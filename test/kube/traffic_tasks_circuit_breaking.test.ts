/**
 * Istio's "Circuit Breaking" task (tasks/traffic-management/circuit-breaking) in Kubernetes mode:
 * Istio's samples/httpbin/httpbin.yaml applied with `kubectl apply -f` unmodified in a namespace
 * labelled istio-injection=enabled, the task's DestinationRule (inline in Istio's docs) applied as
 * the task does, and fortio's two runs (`-c 2 -qps 0 -n 20`, then `-c 3 -qps 0 -n 30`) from a
 * client pod through its sidecar. As in the task and the file-based demo's test
 * (test/integration/istio_circuit_breaking.test.ts): some requests get 503 (the pending queue
 * overflowed, x-envoy-overloaded), the rest 200, the client sidecar's
 * `upstream_rq_pending_overflow` counts the 503s, and its access log (meshConfig.accessLogFile
 * set in the `istio` ConfigMap, as Istio's "Envoy access logs" task does) shows each with the UO flag.
 *
 * The client: fortio's image is not one the node maps to a local program (src/demo/apps.ts), so
 * the client pod is Istio's samples/curl/curl.yaml and the load is test/helpers/fortio.ts (what
 * `fortio load` does), run inside the mesh's namespace and sent where the client container's own
 * calls go: its sidecar's outbound HTTP listener on the pod's app address (the node's NONE
 * interception mode). The sidecar's stats are read from its admin port there, as
 * `kubectl exec <pod> -c istio-proxy -- pilot-agent request GET stats` would.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { SIDECAR_ADMIN_PORT, SIDECAR_OUTBOUND_PORT } from '../../src/demo/ports.ts';
import { DEFAULT_APP_NET, DEFAULT_POD_NET } from '../../src/kube/node/pod_network.ts';
import { ISTIO_DATA } from '../helpers/istio_data.ts';
import { NO_BOOKINFO } from '../helpers/kube_bookinfo.ts';
import { startKubeMesh, type KubeMesh } from '../helpers/kube_mesh.ts';
import { NO_NETNS } from '../helpers/netns.ts';
import { REPO } from '../helpers/processes.ts';
import { CIRCUIT_BREAKING_DR } from '../helpers/istio_task_yaml.ts';

const skip = NO_NETNS || NO_BOOKINFO;

const CLUSTER = 'outbound|8000||httpbin.default.svc.cluster.local';

let mesh: KubeMesh;
/** The client pod's app address: where its container's outbound calls go, and its sidecar's admin. */
let clientApp: string;
let clientPod: string;

/** Access-log entries of the client sidecar for httpbin that are 503 with the UO flag (`kubectl logs <pod> -c istio-proxy`, from the node's log file). */
function uoLogLines(): number {
  let text = '';
  try {
    text = readFileSync(join(mesh.stateDir, 'logs', `default_${clientPod}_istio-proxy.log`), 'utf8');
  } catch {
    return 0;
  }
  return text
    .split('\n')
    .filter((l) => l.startsWith('{') && l.includes(CLUSTER))
    .map((l) => JSON.parse(l))
    .filter((e) => Number(e.response_code) === 503 && String(e.response_flags).split(',').includes('UO')).length;
}

/**
 * meshConfig.accessLogFile: /dev/stdout (JSON) in the `istio` ConfigMap the control plane reads,
 * keeping whatever else the mesh config there says.
 */
async function enableAccessLogs(): Promise<void> {
  const got = await mesh.kubectl(['get', 'configmap', 'istio', '-n', 'istio-system', '-o', 'json']);
  const cm = got.code === 0 ? JSON.parse(got.stdout) : { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'istio', namespace: 'istio-system' }, data: {} };
  const rest = String(cm.data?.mesh ?? '')
    .split('\n')
    .filter((l) => l.trim() && !/^accessLog(File|Encoding):/.test(l));
  cm.data = { ...cm.data, mesh: [...rest, 'accessLogFile: /dev/stdout', 'accessLogEncoding: JSON', ''].join('\n') };
  await kubectl(['apply', '-f', '-'], JSON.stringify(cm));
}

const kubectl = (args: string[], input?: string): Promise<string> => mesh.kubectlOk(args, input);

interface Load {
  codes: Record<string, number>;
  overloaded: number;
  summary: string;
}

/** `fortio load -c <c> -qps 0 -n <n> http://httpbin:8000/get` from the client pod. */
async function fortio(c: number, n: number): Promise<Load> {
  const js = `
const { fortioLoad, fortioSummary } = await import(${JSON.stringify(`${REPO}/test/helpers/fortio.ts`)});
const r = await fortioLoad(${JSON.stringify(`http://${clientApp}:${SIDECAR_OUTBOUND_PORT}`)}, { connections: ${c}, requests: ${n}, host: 'httpbin:8000', path: '/get' });
console.log(JSON.stringify({ codes: Object.fromEntries(r.codes), overloaded: r.overloaded, summary: fortioSummary(r) }));
`;
  const r = await mesh.host.run(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', js], { timeoutMs: 90_000 });
  return JSON.parse(r.stdout.trim().split('\n').pop()!);
}

async function overflowStat(): Promise<number> {
  const [r] = await mesh.http(`http://${clientApp}:${SIDECAR_ADMIN_PORT}/stats`);
  assert.equal(r!.status, 200, `the client sidecar's admin /stats: ${r!.status} ${r!.body.slice(0, 200)}`);
  const m = new RegExp(`^cluster\\.${CLUSTER.replace(/[|.]/g, '\\$&')}\\.upstream_rq_pending_overflow: (\\d+)$`, 'm').exec(r!.body);
  return m ? Number(m[1]) : 0;
}

before(async () => {
  if (skip) return;
  mesh = await startKubeMesh();
  await kubectl(['label', 'namespace', 'default', 'istio-injection=enabled', '--overwrite']);
  // Before the pods: their sidecars start with access logs on.
  await enableAccessLogs();
  await kubectl(['apply', '-f', `${ISTIO_DATA}/samples/httpbin/httpbin.yaml`]);
  await kubectl(['apply', '-f', `${ISTIO_DATA}/samples/curl/curl.yaml`]);
  await mesh.waitForPods('default', 'app=httpbin', { count: 1, timeoutMs: 120_000 });
  const [client] = await mesh.waitForPods('default', 'app=curl', { count: 1, timeoutMs: 120_000 });
  clientPod = client.metadata.name;
  const podIP: string = client.status.podIP;
  // The node gives pod i the pod IP <pod net>.i and the app address <app net>.i behind its sidecar.
  assert.ok(podIP.startsWith(DEFAULT_POD_NET), `the client pod's IP ${podIP} is in the node's pod net ${DEFAULT_POD_NET}0/24`);
  clientApp = DEFAULT_APP_NET + podIP.slice(DEFAULT_POD_NET.length);
}, { timeout: 300_000 });

after(async () => {
  await mesh?.close();
});

test("circuit breaking: with the task's DestinationRule, fortio -c 2 -n 20 and -c 3 -n 30 get 503 UO for the overflow; upstream_rq_pending_overflow and the access log count them", { skip, timeout: 150_000 }, async (t) => {
  await kubectl(['apply', '-f', '-'], CIRCUIT_BREAKING_DR);
  // The task's first step: one call gets through (`fortio curl -quiet http://httpbin:8000/get`).
  // Then wait (bounded) for the DestinationRule's limits to reach the client sidecar: its cluster
  // shows the task's max_connections of 1 in the admin's /clusters.
  const deadline = Date.now() + 60_000;
  for (;;) {
    const [get] = await mesh.http(`http://${clientApp}:${SIDECAR_OUTBOUND_PORT}/get`, { headers: { host: 'httpbin:8000' } });
    const [clusters] = await mesh.http(`http://${clientApp}:${SIDECAR_ADMIN_PORT}/clusters`);
    if (get?.status === 200 && clusters?.body.includes(`${CLUSTER}::default_priority::max_connections::1\n`)) break;
    if (Date.now() > deadline) assert.fail(`httpbin through the client sidecar with the DestinationRule's limits: GET ${get?.status}; /clusters:\n${clusters?.body.split('\n').filter((l) => l.includes(CLUSTER)).slice(0, 12).join('\n')}`);
    await new Promise((r) => setTimeout(r, 500));
  }

  const run = async (c: number, n: number): Promise<Load> => {
    const before = await overflowStat();
    const logBefore = uoLogLines();
    const r = await fortio(c, n);
    t.diagnostic(`fortio load -c ${c} -qps 0 -n ${n} http://httpbin:8000/get | ${r.summary.replace(/\n/g, ' | ')}`);
    const ok = r.codes['200'] ?? 0;
    const overflowed = r.codes['503'] ?? 0;
    assert.equal(ok + overflowed, n, `only 200s and 503s: ${r.summary}`);
    assert.equal(r.overloaded, overflowed, 'every 503 carries x-envoy-overloaded: true');
    const after = await overflowStat();
    assert.equal(after - before, overflowed, `upstream_rq_pending_overflow counts the 503s (${before} → ${after})`);
    // The access log is written as each request ends and reaches its file through a pipe: a bounded moment.
    for (let i = 0; i < 50 && uoLogLines() - logBefore < overflowed; i++) await new Promise((res) => setTimeout(res, 100));
    assert.equal(uoLogLines() - logBefore, overflowed, "the client sidecar's access log shows each 503 with response flag UO");
    return r;
  };
  const first = await run(2, 20);
  const second = await run(3, 30);
  assert.ok((second.codes['503'] ?? 0) > 0, 'three concurrent connections overflow one connection and one pending slot');
  assert.ok((first.codes['200'] ?? 0) > 0 && (second.codes['200'] ?? 0) > 0, 'the rest get through');
});
