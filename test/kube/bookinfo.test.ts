/**
 * Issue 15, acceptance 1 and the webhook half of 2, as a user does them on the demo's cluster
 * (test/helpers/kube_mesh.ts: `tsmesh demo --kube` in a network namespace of its own):
 * `kubectl label namespace default istio-injection=enabled`, then `kubectl apply -f` Istio's
 * bookinfo.yaml and bookinfo-gateway.yaml unmodified → the injection webhook gave every pod
 * the native istio-proxy (read back from the API server), the node runs them Ready, the
 * EndpointSlice controller publishes their endpoints, and the product page answers through the
 * ingress gateway with reviews. An invalid VirtualService is refused by the validating webhook
 * with the lines `tsmesh validate` prints for the same file.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startKubeMesh, type KubeMesh } from '../helpers/kube_mesh.ts';
import { ISTIO_DATA } from '../helpers/istio_data.ts';
import { REPO } from '../helpers/processes.ts';
import { until } from '../helpers/poll.ts';
import { INVALID_VIRTUAL_SERVICE, validateLinesOf } from '../helpers/invalid_virtual_service.ts';

const BOOKINFO = join(ISTIO_DATA, 'samples/bookinfo/platform/kube/bookinfo.yaml');
const GATEWAY = join(ISTIO_DATA, 'samples/bookinfo/networking/bookinfo-gateway.yaml');
const SERVICES = ['details', 'ratings', 'reviews', 'productpage'];
/** bookinfo.yaml's Deployments: details-v1, ratings-v1, reviews-v1..v3, productpage-v1. */
const PODS = 6;

let mesh: KubeMesh | undefined;
const tmp = mkdtempSync(join(tmpdir(), 'tsmesh-bookinfo-kube-'));

before(async () => {
  mesh = await startKubeMesh();
});
after(async () => {
  await mesh?.close();
  rmSync(tmp, { recursive: true, force: true });
});

const ok = (r: { code: number; stdout: string; stderr: string }, what: string) => assert.equal(r.code, 0, `${what}\nstdout: ${r.stdout}\nstderr: ${r.stderr}\n--- demo:\n${mesh?.output().slice(-3000)}`);

test("bookinfo applied with kubectl: injected pods run, EndpointSlices appear, the product page answers through the gateway with reviews", async () => {
  const m = mesh!;
  ok(await m.kubectl(['apply', '-f', BOOKINFO]), 'kubectl apply -f bookinfo.yaml');
  ok(await m.kubectl(['apply', '-f', GATEWAY]), 'kubectl apply -f bookinfo-gateway.yaml');

  const pods = await m.waitForPods('default', 'app in (details,ratings,reviews,productpage)', { count: PODS, timeoutMs: 120_000 });
  assert.equal(pods.length, PODS, pods.map((p) => p.metadata.name).join(', '));
  for (const p of pods) {
    // The webhook's work, on the Pod object the API server stored: the proxy as a native sidecar.
    const proxy = (p.spec.initContainers ?? []).find((c: any) => c.name === 'istio-proxy');
    assert.ok(proxy, `${p.metadata.name} has the injected istio-proxy init container`);
    assert.equal(proxy.restartPolicy, 'Always', `${p.metadata.name}: native sidecar`);
    assert.equal(p.metadata.annotations?.['sidecar.istio.io/status'] !== undefined, true, `${p.metadata.name}: sidecar.istio.io/status`);
    const status = (p.status.initContainerStatuses ?? []).find((c: any) => c.name === 'istio-proxy');
    assert.equal(status?.ready, true, `${p.metadata.name}: istio-proxy ready`);
    assert.match(p.status.podIP, /^198\.18\./);
  }

  for (const svc of SERVICES) {
    const slices = await until(async () => {
      const r = await m.kubectl(['get', 'endpointslices', '-n', 'default', '-l', `kubernetes.io/service-name=${svc}`, '-o', 'json']);
      if (r.code !== 0) return undefined;
      const items: any[] = JSON.parse(r.stdout).items;
      const ready = items.flatMap((s) => s.endpoints ?? []).filter((e: any) => e.conditions?.ready);
      return ready.length > 0 ? ready : undefined;
    }, `EndpointSlice with ready endpoints for ${svc}`, 60_000, 1000);
    const ips = new Set(pods.filter((p) => p.metadata.labels.app === svc).map((p) => p.status.podIP));
    for (const e of slices) for (const a of e.addresses) assert.ok(ips.has(a), `${svc}: endpoint ${a} is one of its pods`);
    assert.equal(slices.length, ips.size, `${svc}: one endpoint per pod`);
  }

  const url = `${await m.gatewayUrl()}/productpage`;
  // Routes reach the gateway a moment after the Gateway and VirtualService are stored.
  const page = await until(async () => {
    const [r] = await m.http(url);
    return r && r.status === 200 && /Book Reviews/.test(r.body) && /Reviewer1/.test(r.body) ? r : undefined;
  }, `GET ${url} answers 200 with reviews`, 60_000, 1000).catch((e: Error) => assert.fail(`${e.message}\n--- demo:\n${m.output().slice(-4000)}`));
  assert.match(page.body, /<title>Simple Bookstore App<\/title>/);
});

test("an invalid VirtualService is refused by the validating webhook with tsmesh validate's lines", async () => {
  const m = mesh!;
  const file = join(tmp, 'bad-vs.yaml');
  writeFileSync(file, INVALID_VIRTUAL_SERVICE);
  const validate = await tsmesh(['validate', '-q', '-f', file]);
  assert.equal(validate.code, 1, validate.stdout + validate.stderr);
  const lines = validateLinesOf(validate.stdout);
  assert.ok(lines.length >= 1, validate.stdout);

  // The control plane switches the validator to failurePolicy Fail once the API server reaches it.
  const refused = await until(async () => {
    const r = await m.kubectl(['apply', '-n', 'default', '-f', file]);
    if (r.code === 0) await m.kubectl(['delete', '-n', 'default', '-f', file, '--ignore-not-found']);
    return r.code !== 0 && r.stderr.includes('denied the request') ? r : undefined;
  }, 'the validating webhook refuses', 60_000, 1000);
  for (const l of lines) assert.ok(refused.stderr.includes(l), `kubectl shows validate's line ${JSON.stringify(l)}\n${refused.stderr}`);
  const absent = await m.kubectl(['get', 'vs', 'reviews-bad', '-n', 'default']);
  assert.notEqual(absent.code, 0, 'not stored');
});

function tsmesh(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [join(REPO, 'bin/tsmesh.js'), ...args], { cwd: REPO, timeout: 60_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr }),
    );
  });
}
