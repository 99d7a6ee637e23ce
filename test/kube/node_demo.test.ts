/**
 * `tsmesh demo --kube` as a user runs it: without the Kubernetes binaries it says how to build
 * them and exits 1; with them it starts the cluster and the node, prints a kubeconfig that
 * kubectl uses to see the node Ready, and Ctrl-C stops everything.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const MAIN = join(repoRoot, 'src/cli/main.ts');

test('demo --kube without the Kubernetes binaries says how to build them', { timeout: 120_000 }, (t) => {
  const empty = mkdtempSync(join(tmpdir(), 'tsmesh-nobin-'));
  t.after(() => rmSync(empty, { recursive: true, force: true }));
  const r = spawnSync(process.execPath, ['--import', 'tsx', MAIN, 'demo', '--kube', '--state-dir', join(empty, 'state')], {
    cwd: repoRoot,
    encoding: 'utf8',
    timeout: 100_000,
    env: { ...process.env, TSMESH_KUBE_BIN_DIR: empty },
  });
  assert.equal(r.status, 1, r.stdout + r.stderr);
  assert.match(r.stdout, /Kubernetes binaries missing/);
  assert.match(r.stdout, /node scripts\/kube\/build\.mjs/);
});

test('demo --kube prints a kubeconfig kubectl can use; the node is Ready; Ctrl-C stops it', { timeout: 300_000 }, async (t) => {
  const state = mkdtempSync(join(tmpdir(), 'tsmesh-kubedemo-'));
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN, 'demo', '--kube', '--state-dir', state, '--pod-net', '198.18.8.', '--app-net', '127.0.8.'], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  t.after(async () => {
    if (child.exitCode === null) {
      child.kill('SIGINT');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 20_000))]);
      if (child.exitCode === null) child.kill('SIGKILL');
    }
    rmSync(state, { recursive: true, force: true });
  });
  const deadline = Date.now() + 240_000;
  while (!/^kubectl: +(.+) get nodes$/m.test(out)) {
    if (child.exitCode !== null) assert.fail(`demo --kube exited ${child.exitCode}:\n${out}`);
    if (Date.now() > deadline) assert.fail(`no kubectl line in time:\n${out}`);
    await new Promise((r) => setTimeout(r, 250));
  }
  const kubectl = /^kubectl: +(.+) get nodes$/m.exec(out)![1]!.split(' ');
  assert.match(out, /^kubeconfig: .+/m);
  const nodes = spawnSync(kubectl[0]!, [...kubectl.slice(1), 'get', 'nodes', '-o', 'json'], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(nodes.status, 0, nodes.stderr);
  const node = JSON.parse(nodes.stdout).items.find((n: any) => n.metadata.name === 'tsmesh-demo');
  assert.equal(node?.status.conditions.find((c: any) => c.type === 'Ready')?.status, 'True');
  child.kill('SIGINT');
  const code = await Promise.race([exited, new Promise<string>((r) => setTimeout(() => r('still running'), 30_000))]);
  assert.equal(code, 0, out);
});
