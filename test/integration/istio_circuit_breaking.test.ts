/**
 * Istio's "Circuit Breaking" task (tasks/traffic-management/circuit-breaking): httpbin behind
 * the task's DestinationRule (one connection, one pending request, one request per connection,
 * outlier detection), a client pod whose sidecar carries the load, and fortio's two runs
 * (`-c 2 -qps 0 -n 20`, then `-c 3 -qps 0 -n 30`) by a load generator that does what fortio
 * does. As in the task: some requests get 503 with the UO flag (the pending queue overflowed),
 * the rest 200, and the client sidecar's `upstream_rq_pending_overflow` counts the 503s.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { start as startHttpbin } from '../../samples/httpbin/main.ts';
import { fortioLoad, fortioSummary, type LoadResult } from '../helpers/fortio.ts';
import { startMesh } from '../helpers/mesh.ts';
import { CIRCUIT_BREAKING_DR } from '../helpers/istio_task_yaml.ts';

// Istio's samples/httpbin/httpbin.yaml Service.
const HTTPBIN_SERVICE = `apiVersion: v1
kind: Service
metadata:
  name: httpbin
  labels:
    app: httpbin
    service: httpbin
spec:
  ports:
  - name: http
    port: 8000
    targetPort: 8080
  selector:
    app: httpbin
`;

const CLUSTER = 'outbound|8000||httpbin.default.svc.cluster.local';

test("Istio's circuit-breaking task: fortio -c 2 -n 20 and -c 3 -n 30 through the client sidecar; 503 UO for the overflow, upstream_rq_pending_overflow matches", { timeout: 300_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tsmesh-cb-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  // Access logs on the sidecars' stdout (meshConfig.accessLogFile), as `kubectl logs -c istio-proxy` reads them.
  const meshFile = join(dir, 'mesh.yaml');
  writeFileSync(meshFile, 'accessLogFile: /dev/stdout\naccessLogEncoding: JSON\n');
  const mesh = await startMesh(t, { config: { 'httpbin.yaml': HTTPBIN_SERVICE, 'dr.yaml': CIRCUIT_BREAKING_DR }, controlplaneArgs: ['--mesh', meshFile] });
  await mesh.startPod({ name: 'httpbin', labels: { app: 'httpbin', version: 'v1' }, ports: { http: 8080 }, app: (ip) => startHttpbin({ host: ip, port: 8080, log: () => {} }) });
  const fortio = await mesh.startPod({ name: 'fortio', labels: { app: 'fortio' } });
  // The task's first step: one call gets through (`fortio curl -quiet http://httpbin:8000/get`).
  await fortio.waitFor('httpbin:8000', '/get', (r) => r.status === 200);

  const overflowStat = async (): Promise<number> => {
    const text = await (await fetch(`${fortio.admin}/stats`)).text();
    const m = new RegExp(`^cluster\\.${CLUSTER.replace(/[|.]/g, '\\$&')}\\.upstream_rq_pending_overflow: (\\d+)$`, 'm').exec(text);
    return m ? Number(m[1]) : 0;
  };
  /** Access-log entries of the client sidecar for httpbin that are 503 with the UO flag. */
  const uoLogLines = (): number =>
    fortio.proxy
      .output()
      .split('\n')
      .filter((l) => l.startsWith('{') && l.includes(CLUSTER))
      .map((l) => JSON.parse(l))
      .filter((e) => Number(e.response_code) === 503 && String(e.response_flags).split(',').includes('UO')).length;

  const run = async (c: number, n: number): Promise<LoadResult> => {
    const before = await overflowStat();
    const logBefore = uoLogLines();
    const r = await fortioLoad(fortio.outbound, { connections: c, requests: n, host: 'httpbin:8000', path: '/get' });
    const summary = `fortio load -c ${c} -qps 0 -n ${n} http://httpbin:8000/get\n${fortioSummary(r)}`;
    console.log(summary);
    t.diagnostic(summary.replace(/\n/g, ' | '));
    const ok = r.codes.get(200) ?? 0;
    const overflowed = r.codes.get(503) ?? 0;
    assert.equal(ok + overflowed, n, `only 200s and 503s: ${fortioSummary(r)}`);
    assert.equal(r.overloaded, overflowed, 'every 503 carries x-envoy-overloaded: true');
    const after = await overflowStat();
    console.log(`cluster.${CLUSTER}.upstream_rq_pending_overflow: ${after} (+${after - before} in this run)`);
    assert.equal(after - before, overflowed, 'upstream_rq_pending_overflow counts the 503s');
    // The access log is written as each request ends: allow it a moment to reach stdout.
    for (let i = 0; i < 50 && uoLogLines() - logBefore < overflowed; i++) await new Promise((res) => setTimeout(res, 100));
    assert.equal(uoLogLines() - logBefore, overflowed, "the client sidecar's access log shows each 503 with response flag UO");
    return r;
  };

  const first = await run(2, 20);
  const second = await run(3, 30);
  assert.ok((second.codes.get(503) ?? 0) > 0, 'three concurrent connections overflow one connection and one pending slot');
  assert.ok((first.codes.get(200) ?? 0) > 0 && (second.codes.get(200) ?? 0) > 0, 'the rest get through');
});
