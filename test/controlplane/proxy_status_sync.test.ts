/**
 * istioctl proxy-status' verdicts on real xDS streams to a real control plane: a client that ACKs
 * every response is SYNCED, one that ACKed an older response and not the last is STALE, one that
 * never ACKed anything is "STALE (Never Acknowledged)". `tsmesh proxy-status` (a process) and the
 * dashboard's proxies table (/api/dashboard/node) show the same rows.
 */
import { caStateDir, REPO } from '../helpers/processes.ts';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ControlPlane } from '../../src/controlplane/server.ts';
import { tsmeshCommand } from '../../src/common/self_command.ts';
import { newAdsServiceClient } from '../../src/xds/grpc.ts';
import { TYPE } from '../../src/xds/types.ts';
import { until } from '../helpers/poll.ts';

type Mode = 'every' | 'first' | 'never';
const PODS: Array<[string, Mode]> = [
  ['acks-1', 'every'],
  ['once-1', 'first'],
  ['never-1', 'never'],
];

function tsmesh(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const cmd = tsmeshCommand(args, REPO);
  return new Promise((resolve) => {
    execFile(cmd.command, cmd.args, { cwd: REPO, env: { ...process.env, TSMESH_CONTROLPLANE: '' }, timeout: 60_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }),
    );
  });
}

test('proxy-status: SYNCED, STALE and STALE (Never Acknowledged) as istioctl tells them, in the CLI and the dashboard alike', { timeout: 120_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tsmesh-ps-sync-'));
  const cp = new ControlPlane({ configDir: dir, grpcPort: 0, httpPort: 0, secureGrpcPort: 0, stateDir: caStateDir(t), log: () => {} });
  const clients: Array<ReturnType<typeof newAdsServiceClient>> = [];
  try {
    await cp.start();
    const base = `http://127.0.0.1:${cp.httpPort}`;
    for (const [pod, mode] of PODS) {
      const node = { id: `sidecar~127.0.9.${clients.length + 1}~${pod}.default~default.svc.cluster.local`, user_agent_name: 'envoy', metadata: { NAME: pod, NAMESPACE: 'default', WORKLOAD_NAME: 'web', LABELS: { app: 'web' }, ISTIO_VERSION: '1.24.2' } };
      const c = newAdsServiceClient(`127.0.0.1:${cp.grpcPort}`);
      clients.push(c);
      const s = c.StreamAggregatedResources();
      s.on('error', () => {});
      let answered = 0;
      s.on('data', (r: { type_url: string; version_info: string; nonce: string }) => {
        answered++;
        if (mode === 'every' || (mode === 'first' && answered === 1)) s.write({ type_url: r.type_url, version_info: r.version_info, response_nonce: r.nonce, resource_names: [] } as never);
      });
      s.write({ node, type_url: TYPE.CLUSTER, resource_names: [], version_info: '', response_nonce: '' } as never);
    }
    type Syncz = Array<{ proxy: string; types: Record<string, { sentNonce: string; ackedNonce: string }> }>;
    const cds = async () => Object.fromEntries(((await (await fetch(`${base}/debug/syncz`)).json()) as Syncz).map((r) => [r.proxy, r.types[TYPE.CLUSTER]]));
    await until(async () => {
      const s = await cds();
      return PODS.every(([p]) => s[`${p}.default`]?.sentNonce) && s['acks-1.default']!.ackedNonce === s['acks-1.default']!.sentNonce && s['once-1.default']!.ackedNonce !== '';
    }, 'every client got clusters, two ACKed them', 20_000, 50);

    // A new service: a CDS push that once-1 does not ACK (it ACKed the first one only).
    writeFileSync(join(dir, 'se.yaml'), 'apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata:\n  name: ext\n  namespace: default\nspec:\n  hosts: [ext.example.com]\n  ports: [{ number: 80, name: http, protocol: HTTP }]\n  resolution: DNS\n');
    await until(async () => {
      const s = await cds();
      const once = s['once-1.default']!;
      const acks = s['acks-1.default']!;
      return once.ackedNonce !== '' && once.sentNonce !== once.ackedNonce && acks.sentNonce === acks.ackedNonce;
    }, 'a second CDS push, ACKed by acks-1 only', 30_000, 50);

    const r = await tsmesh(['proxy-status', '--controlplane', base]);
    assert.equal(r.code, 0, r.stderr);
    t.diagnostic(`tsmesh proxy-status:\n${r.stdout}`);
    const lines = r.stdout.trimEnd().split('\n');
    assert.match(lines[0]!, /^NAME\s+CLUSTER\s+CDS\s+LDS\s+EDS\s+RDS\s+ECDS\s+ISTIOD\s+VERSION$/);
    // Columns are padded by 5 past their widest cell: split on runs of two or more spaces.
    const rows = Object.fromEntries(lines.slice(1).map((l) => l.split(/\s{2,}/)).map((cells) => [cells[0]!, cells]));
    assert.equal(rows['acks-1.default']?.[2], 'SYNCED', r.stdout);
    assert.equal(rows['once-1.default']?.[2], 'STALE', r.stdout);
    assert.equal(rows['never-1.default']?.[2], 'STALE (Never Acknowledged)', r.stdout);
    for (const p of ['acks-1', 'once-1', 'never-1']) {
      assert.equal(rows[`${p}.default`]?.[3], 'NOT SENT', 'no listeners asked for');
      assert.equal(rows[`${p}.default`]?.[8], '1.24.2', 'a real Envoy: its ISTIO_VERSION');
    }

    // The dashboard's proxies table for the workload: the same cells, column by column.
    const node = (await (await fetch(`${base}/api/dashboard/node?node=wl:default:web`)).json()) as { proxies: Array<Record<string, string>> };
    const header = lines[0]!.split(/\s+/);
    const fromDashboard = Object.fromEntries(node.proxies.map((p) => [p.NAME!, header.map((h) => p[h] ?? '')]));
    assert.deepEqual(fromDashboard, rows);
  } finally {
    for (const c of clients) c.close();
    await cp.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
