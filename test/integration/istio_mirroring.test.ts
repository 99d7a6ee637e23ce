/**
 * Istio's "Mirroring" task (tasks/traffic-management/mirroring): httpbin-v1 and httpbin-v2
 * behind one httpbin Service, a client pod (Istio's samples/curl/curl.yaml, unmodified), all
 * traffic routed to v1, then mirrored 100 % to v2. The task's YAML is inline in Istio's docs and
 * written here as given. Requests go from the curl pod through its sidecar (`kubectl exec
 * deploy/curl -- curl http://httpbin:8000/headers`); what each httpbin saw is read from its log
 * (`kubectl logs deploy/httpbin-v2`), as the task does.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ISTIO_SAMPLES, NO_ISTIO_DATA, sleep, startIstioDemo } from '../helpers/demo.ts';
import { until } from '../helpers/poll.ts';
import { HTTPBIN_SERVICE, MIRROR_TO_V2, ROUTE_ALL_TO_V1, httpbinDeployment } from '../helpers/istio_task_yaml.ts';

/** Access-log lines of `pod`'s httpbin whose URI carries `marker`. */
function seen(log: string, marker: string): string[] {
  return log.split('\n').filter((l) => l.includes('status=') && l.includes(marker));
}

test('mirroring: every request to httpbin v1 is also sent to v2, and v2 answers are dropped', { skip: NO_ISTIO_DATA, timeout: 600_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tsmesh-mirroring-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const workloads = join(dir, 'httpbin.yaml');
  writeFileSync(workloads, [httpbinDeployment('v1'), httpbinDeployment('v2'), HTTPBIN_SERVICE].join('---\n'));
  const demo = await startIstioDemo(t, { configs: [workloads, `${ISTIO_SAMPLES}/curl/curl.yaml`] });
  await demo.apply(ROUTE_ALL_TO_V1, 'httpbin-v1.yaml');

  const send = async (marker: string) => {
    const r = await demo.fromPod('curl', 'httpbin:8000', `/headers?id=${marker}`);
    assert.equal(r.status, 200, `${marker}: ${r.status} ${r.body.slice(0, 300)}`);
    return r;
  };

  await t.test('routed to v1 only: v2 sees nothing', async () => {
    for (let i = 0; i < 5; i++) await send(`before-${i}`);
    await sleep(500);
    for (let i = 0; i < 5; i++) assert.equal(seen(demo.log('httpbin-v1'), `id=before-${i}`).length, 1, `v1 got before-${i}`);
    assert.deepEqual(seen(demo.log('httpbin-v2'), 'id=before-'), [], 'v2 got none of them');
  });

  await t.test('mirrored: v2 sees every request too; the client gets v1 answers', async () => {
    await demo.apply(MIRROR_TO_V2, 'httpbin-mirror.yaml');
    const n = 20;
    for (let i = 0; i < n; i++) {
      const r = await send(`mirror-${i}`);
      const host = JSON.parse(r.body).headers?.Host;
      // The mirrored copy carries Envoy's "-shadow" host; the answer the client got did not.
      assert.ok(typeof host === 'string' && !host.includes('-shadow'), `answer to mirror-${i} came from v1's copy (Host ${host})`);
    }
    // The mirror is fire-and-forget, and the apps' logs reach the demo through pipes: give both
    // logs a moment (on a busy machine a line can trail the answer the client already has).
    let missing: number[] = [];
    let v1Missing: number[] = [];
    await until(
      () => {
        const v2 = demo.log('httpbin-v2');
        const v1 = demo.log('httpbin-v1');
        missing = [...Array(n).keys()].filter((i) => seen(v2, `id=mirror-${i}&`).length + seen(v2, `id=mirror-${i}"`).length !== 1);
        v1Missing = [...Array(n).keys()].filter((i) => seen(v1, `id=mirror-${i}"`).length !== 1);
        return missing.length === 0 && v1Missing.length === 0;
      },
      "v1's and v2's logs to show every request",
      10_000,
      200,
    ).catch(() => undefined);
    assert.deepEqual(missing, [], `v2 saw each mirrored request exactly once:\n${demo.log('httpbin-v2')}`);
    assert.deepEqual(v1Missing, [], `v1 served each request exactly once:\n${demo.log('httpbin-v1')}`);
    for (const line of seen(demo.log('httpbin-v2'), 'id=mirror-')) assert.match(line, /host="[^"]*-shadow[^"]*"/, `the mirrored copy is marked as a shadow: ${line}`);
  });
});
