/**
 * `tsmesh analyze` on the running control plane's config (istioctl analyze against a live
 * cluster): what the control plane serves is analyzed, files on the command line are applied on
 * top of it first, and with no control plane the command says what to do.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ControlPlane } from '../../src/controlplane/server.ts';
import { tsmeshCommand } from '../../src/common/self_command.ts';
import { caStateDir, freePort, REPO } from '../helpers/processes.ts';

function tsmesh(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const cmd = tsmeshCommand(args, REPO);
  return new Promise((resolve) => {
    execFile(cmd.command, cmd.args, { cwd: REPO, env: { ...process.env, TSMESH_CONTROLPLANE: '' }, timeout: 60_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }),
    );
  });
}

const SERVICE = `apiVersion: v1
kind: Service
metadata: {name: ratings, namespace: default}
spec:
  selector: {app: ratings}
  ports:
  - {name: http, port: 9080}
`;
const VS = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: ratings, namespace: default}
spec:
  hosts: [ratings]
  http:
  - route:
    - destination: {host: ratings, subset: v2}
`;
// The ratings v2 workload, so that the subset naming it selects a pod (IST0173 otherwise).
const DEPLOYMENT = `apiVersion: apps/v1
kind: Deployment
metadata: {name: ratings-v2, namespace: default}
spec:
  selector: {matchLabels: {app: ratings, version: v2}}
  template:
    metadata: {labels: {app: ratings, version: v2}}
    spec: {containers: [{name: ratings, image: ratings}]}
`;
const DR = `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: ratings, namespace: default}
spec:
  host: ratings
  subsets:
  - {name: v2, labels: {version: v2}}
`;

test('analyze --live: the served config is analyzed; files apply on top', { timeout: 120_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tsmesh-analyze-live-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'vs.yaml'), VS);
  writeFileSync(join(dir, 'service.yaml'), SERVICE);
  writeFileSync(join(dir, 'deployment.yaml'), DEPLOYMENT);
  const cp = new ControlPlane({ configDir: dir, grpcPort: 0, httpPort: 0, secureGrpcPort: 0, stateDir: caStateDir(t), log: () => {} });
  await cp.start();
  t.after(() => cp.close());
  const url = `http://127.0.0.1:${cp.httpPort}`;

  const live = await tsmesh(['analyze', '--controlplane', url]);
  assert.equal(live.code, 79, live.stderr);
  assert.equal(live.stdout.trim(), 'Error [IST0101] (VirtualService default/ratings) Referenced host+subset in destinationrule not found: "ratings+v2"');

  // The DestinationRule from a file, applied on top of the live config, resolves the subset.
  const extra = join(dir, '..', `dr-${process.pid}.yaml`);
  writeFileSync(extra, DR);
  t.after(() => rmSync(extra, { force: true }));
  const overlay = await tsmesh(['analyze', '--live', '--controlplane', url, extra]);
  assert.equal(overlay.code, 0, overlay.stdout + overlay.stderr);
  assert.match(overlay.stderr, /✔ No validation issues found when analyzing namespace: default\./);
});

test('analyze with no control plane running says how to get one', async () => {
  const port = await freePort();
  const r = await tsmesh(['analyze', '--controlplane', `http://127.0.0.1:${port}`]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^Error: cannot read the running config: no control plane answers at http:\/\/127\.0\.0\.1:\d+ \(from --controlplane\): start one with `npx tsmesh demo`.*--use-kube=false$/m);
});
