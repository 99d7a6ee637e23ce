/**
 * `tsmesh prometheus-config` against a running control plane with one real sidecar (its status
 * server on a pod IP): the printed configuration has the control plane's /metrics job and one
 * target for the sidecar's merged metrics, labelled as Istio's relabelling of Kubernetes pods
 * would (namespace, pod, app, version), and that target answers. With no control plane, the
 * command says so and what to do.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { ControlPlane } from '../../src/controlplane/server.ts';
import { tsmeshCommand } from '../../src/common/self_command.ts';
import { caStateDir, freePort, REPO, spawnTsmesh } from '../helpers/processes.ts';
import { until } from '../helpers/poll.ts';

const POD_IP = '127.0.3.9';

function tsmesh(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  const cmd = tsmeshCommand(args, REPO);
  return new Promise((resolve) => {
    execFile(cmd.command, cmd.args, { cwd: REPO, env: { ...process.env, TSMESH_CONTROLPLANE: '', ...env }, timeout: 60_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }),
    );
  });
}

test('prometheus-config: an istiod job and one labelled target per connected proxy, which answers', { timeout: 120_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tsmesh-promcfg-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const cp = new ControlPlane({ configDir: dir, grpcPort: 0, httpPort: 0, secureGrpcPort: 0, stateDir: caStateDir(t), log: () => {} });
  await cp.start();
  t.after(() => cp.close());
  const proxy = await spawnTsmesh(
    ['proxy', '--discovery-address', `127.0.0.1:${cp.grpcPort}`, '--workload-name', 'shop-v2', '--pod-name', 'shop-v2-7f9c', '--namespace', 'store',
      '--labels', 'app=shop,version=v2', '--ip', POD_IP, '--admin-port', '0', '--status-port', '0', '--readiness-port', '0'],
    /tsmesh proxy ready/,
  );
  t.after(() => proxy.stop('SIGKILL'));
  const statusPort = Number(proxy.output().match(/tsmesh proxy status: [^\s:]+:(\d+)/)![1]);

  const url = `http://127.0.0.1:${cp.httpPort}`;
  const out = join(dir, 'prometheus.yml');
  const r = await tsmesh(['prometheus-config', '--controlplane', url, '-o', out, '--scrape-interval', '5s']);
  assert.equal(r.code, 0, r.stderr);
  const cfg = parse(readFileSync(out, 'utf8'));
  t.diagnostic(readFileSync(out, 'utf8'));
  assert.equal(cfg.global.scrape_interval, '5s');
  const jobs = Object.fromEntries(cfg.scrape_configs.map((j: { job_name: string }) => [j.job_name, j]));
  assert.deepEqual(jobs.istiod.static_configs[0].targets, [`127.0.0.1:${cp.httpPort}`]);
  assert.equal(jobs.istiod.metrics_path, '/metrics');
  const pods = jobs['kubernetes-pods'];
  assert.equal(pods.metrics_path, '/stats/prometheus');
  assert.deepEqual(pods.static_configs, [{ targets: [`${POD_IP}:${statusPort}`], labels: { app: 'shop', version: 'v2', namespace: 'store', pod: 'shop-v2-7f9c' } }]);

  // The target is what Prometheus will scrape: the merged metrics.
  const m = await fetch(`http://${POD_IP}:${statusPort}${pods.metrics_path}`);
  assert.equal(m.status, 200);
  assert.match(await m.text(), /^istio_agent_scrapes_total 1$/m);

  // file_sd: the config names the file, the file holds the targets.
  const targets = join(dir, 'targets.json');
  const f = await tsmesh(['prometheus-config', '--controlplane', url, '--targets-file', targets]);
  assert.equal(f.code, 0, f.stderr);
  assert.deepEqual(parse(f.stdout).scrape_configs[1].file_sd_configs, [{ files: [targets] }]);
  assert.deepEqual(JSON.parse(readFileSync(targets, 'utf8')), pods.static_configs);

  // The proxy leaves: its target goes.
  await proxy.stop();
  await until(async () => {
    const again = await tsmesh(['prometheus-config', '--controlplane', url]);
    return parse(again.stdout).scrape_configs[1].static_configs.length === 0;
  }, 'no proxy target once the proxy is gone', 30_000, 200);
});

test('prometheus-config: no control plane running names the address and what to do; --help', { timeout: 60_000 }, async () => {
  const port = await freePort();
  const r = await tsmesh(['prometheus-config', '--controlplane', `127.0.0.1:${port}`]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, new RegExp(`no control plane answers at http://127\\.0\\.0\\.1:${port}`));
  assert.match(r.stderr, /tsmesh demo/);
  assert.match(r.stderr, /--controlplane <url>/);
  const bad = await tsmesh(['prometheus-config', '--scrape-interval', 'often']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--scrape-interval/);
  const help = await tsmesh(['prometheus-config', '--help']);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /Usage: tsmesh prometheus-config/);
});

test('demo --addons prometheus without a prometheus binary names the package before starting anything', { timeout: 60_000 }, async () => {
  const r = await tsmesh(['demo', '--addons', 'prometheus', '--state-dir', join(tmpdir(), 'tsmesh-no-prom')], { TSMESH_PROMETHEUS: '/nonexistent/prometheus' });
  assert.equal(r.code, 2);
  assert.match(r.stderr, /apt-get install prometheus/);
  assert.doesNotMatch(r.stdout + r.stderr, /control plane/);
  const bad = await tsmesh(['demo', '--addons', 'grafana']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /unknown add-on "grafana" \(known: prometheus\)/);
});
