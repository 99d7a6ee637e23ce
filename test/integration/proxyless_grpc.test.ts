/**
 * Acceptance: gRPC's own proxyless xDS client (@grpc/grpc-js-xds, which nobody here wrote),
 * bootstrapped to our control plane, calls an echo service with workloads v1 and v2 as Istio's
 * VirtualService says: weighted split, header match, live file edits, invalid edits refused.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { until } from '../helpers/poll.ts';
import { REPO, startControlPlane } from '../helpers/processes.ts';
import { serviceWithWorkloads } from '../helpers/yaml.ts';
import { start as startEcho } from '../../samples/grpc-echo/main.ts';

const HOST = 'echo.default.svc.cluster.local';

function services(v1Port: number, v2Port: number): string {
  const echo = serviceWithWorkloads({
    name: 'echo',
    portName: 'grpc',
    servicePort: 7070,
    workloads: [
      { name: 'echo-v1', address: '127.0.0.1', labels: { version: 'v1' }, port: v1Port },
      { name: 'echo-v2', address: '127.0.0.1', labels: { version: 'v2' }, port: v2Port },
    ],
  });
  return `${echo}---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: echo, namespace: default }
spec:
  host: ${HOST}
  subsets:
  - { name: v1, labels: { version: v1 } }
  - { name: v2, labels: { version: v2 } }
`;
}

function virtualService(w1: number, w2: number, timeout = '5s'): string {
  return `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: echo, namespace: default }
spec:
  hosts: [${HOST}]
  http:
  - match: [{ headers: { end-user: { exact: jason } } }]
    route: [{ destination: { host: ${HOST}, subset: v2 } }]
  - timeout: ${timeout}
    route:
    - { destination: { host: ${HOST}, subset: v1 }, weight: ${w1} }
    - { destination: { host: ${HOST}, subset: v2 }, weight: ${w2} }
`;
}

test('proxyless gRPC clients follow VirtualService splits, header matches and live edits', { timeout: 120_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tsmesh-grpc-'));
  const v1 = await startEcho({ port: 0, host: '127.0.0.1', version: 'v1', log: () => undefined });
  const v2 = await startEcho({ port: 0, host: '127.0.0.1', version: 'v2', log: () => undefined });
  writeFileSync(join(dir, 'echo.yaml'), services(v1.port, v2.port));
  writeFileSync(join(dir, 'vs.yaml'), virtualService(80, 20));
  const cp = await startControlPlane(dir);
  const { grpcPort } = cp;
  t.after(async () => {
    await cp.stop();
    await v1.close();
    await v2.close();
    rmSync(dir, { recursive: true, force: true });
  });

  // The bootstrap a proxyless Istio client gets: Istio's node id format and GENERATOR=grpc.
  const bootstrap = JSON.stringify({
    xds_servers: [{ server_uri: `127.0.0.1:${grpcPort}`, channel_creds: [{ type: 'insecure' }], server_features: ['xds_v3'] }],
    node: { id: 'sidecar~127.0.0.1~client-1.default~default.svc.cluster.local', metadata: { GENERATOR: 'grpc', NAMESPACE: 'default' }, locality: {} },
  });
  const client = spawn(process.execPath, ['--import', 'tsx', 'test/integration/fixtures/grpc_xds_client.ts', `xds:///${HOST}:7070`], {
    cwd: REPO,
    env: { ...process.env, GRPC_XDS_BOOTSTRAP_CONFIG: bootstrap },
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  t.after(() => {
    client.stdin!.end();
    client.kill();
  });
  const answers = createInterface({ input: client.stdout! })[Symbol.asyncIterator]();

  /** Asks the client process for `n` calls; resolves with the versions that answered. */
  const split = async (n: number, md?: Record<string, string>) => {
    client.stdin!.write(JSON.stringify({ n, md }) + '\n');
    const { value, done } = await answers.next();
    if (done) throw new Error('the gRPC client process exited');
    const r = JSON.parse(value) as { counts?: Record<string, number>; error?: string };
    if (r.error) throw new Error(r.error);
    return r.counts!;
  };
  const call = () => split(1);

  // The first call waits for LDS/RDS/CDS/EDS to resolve.
  await until(() => call().then(() => true), 'a gRPC call to succeed', 20_000, 200);

  const first = await split(1000);
  t.diagnostic(`80/20: ${JSON.stringify(first)}`);
  assert.ok((first.v1 ?? 0) >= 740 && (first.v1 ?? 0) <= 860, `80/20 split gave ${JSON.stringify(first)}`);

  const jason = await split(100, { 'end-user': 'jason' });
  assert.deepEqual(jason, { v2: 100 }, 'every call with end-user: jason goes to v2');

  // Rewrite the file on disk: 20/80. Nothing restarts; the split follows within 2 s.
  const written = Date.now();
  writeFileSync(join(dir, 'vs.yaml'), virtualService(20, 80));
  await until(async () => {
    const c = await split(100);
    return (c.v1 ?? 0) <= 35 ? c : undefined;
  }, 'the 20/80 split to show', 2000, 0);
  t.diagnostic(`split changed ${Date.now() - written} ms after the file was written`);
  const after = await split(1000);
  t.diagnostic(`20/80: ${JSON.stringify(after)}`);
  assert.ok((after.v1 ?? 0) >= 140 && (after.v1 ?? 0) <= 260, `20/80 split gave ${JSON.stringify(after)}`);

  // An invalid VirtualService over the good one (a 90/10 split with a malformed timeout) is
  // reported with file, field and reason, and the previous 20/80 routing keeps working.
  writeFileSync(join(dir, 'vs.yaml'), virtualService(90, 10, '3 seconds'));
  const report = await until(() => (/vs\.yaml.*spec\.http\[1\]\.timeout/.test(cp.output()) ? cp.output() : undefined), 'the control plane to report the invalid timeout', 10_000);
  assert.match(report, /VirtualService default\/echo/);
  t.diagnostic(report.split('\n').find((l) => l.includes('spec.http[1].timeout')) ?? '');
  await new Promise((r) => setTimeout(r, 1500)); // a wrongly applied config would have arrived by now
  const kept = await split(500);
  t.diagnostic(`after the invalid edit: ${JSON.stringify(kept)}`);
  assert.ok((kept.v1 ?? 0) >= 60 && (kept.v1 ?? 0) <= 140, `previous 20/80 routing kept: ${JSON.stringify(kept)}`);
});
