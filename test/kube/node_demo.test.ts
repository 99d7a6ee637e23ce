/**
 * `tsmesh demo --kube` as a user runs it: without the Kubernetes binaries it says how to build
 * them and exits 1; with them it starts the cluster, the control plane and the node, prints a
 * kubeconfig that kubectl uses to see the node Ready, runs an injected httpbin with its sidecar
 * (certificate from the control plane's CA), and Ctrl-C stops everything.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ISTIO_DATA } from '../helpers/istio_data.ts';
import { netnsTest } from '../helpers/in_netns.ts';

// demo --kube's node makes its pod /24 local (ip route add local ... dev lo): the whole file runs
// in a network namespace of its own, never the machine's.
const test = netnsTest(import.meta.url, { timeoutMs: 360_000 });

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

test('demo --kube prints a kubeconfig kubectl can use; the node is Ready and runs an injected pod; Ctrl-C stops it', { timeout: 300_000 }, async (t) => {
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

  // Istio's CRDs are there: its networking samples apply unmodified.
  const gw = spawnSync(kubectl[0]!, [...kubectl.slice(1), 'apply', '-f', join(ISTIO_DATA, 'samples/httpbin/httpbin-gateway.yaml')], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(gw.status, 0, gw.stderr);
  assert.match(gw.stdout, /virtualservice\.networking\.istio\.io\/httpbin created/);

  // Istio's httpbin with tsmesh's sidecar (kube-inject: the same transform as the webhook): the
  // node runs the native istio-proxy, which gets its certificate with the pod's token, and the
  // app answers at the pod IP through it.
  const injected = spawnSync(process.execPath, ['--import', 'tsx', MAIN, 'kube-inject', '-f', join(ISTIO_DATA, 'samples/httpbin/httpbin.yaml')], { cwd: repoRoot, encoding: 'utf8', timeout: 60_000 });
  assert.equal(injected.status, 0, injected.stderr);
  const applied = spawnSync(kubectl[0]!, [...kubectl.slice(1), 'apply', '-f', '-'], { input: injected.stdout, encoding: 'utf8', timeout: 60_000 });
  assert.equal(applied.status, 0, applied.stderr);
  let pod: any;
  const podDeadline = Date.now() + 120_000;
  for (;;) {
    const r = spawnSync(kubectl[0]!, [...kubectl.slice(1), 'get', 'pods', '-l', 'app=httpbin', '-o', 'json'], { encoding: 'utf8', timeout: 60_000 });
    pod = r.status === 0 ? JSON.parse(r.stdout).items[0] : undefined;
    if (pod?.status?.conditions?.some((c: any) => c.type === 'Ready' && c.status === 'True')) break;
    if (Date.now() > podDeadline) assert.fail(`httpbin not Ready in time: ${JSON.stringify(pod?.status)}\n${out}`);
    await new Promise((r) => setTimeout(r, 500));
  }
  const proxy = pod.status.initContainerStatuses.find((c: any) => c.name === 'istio-proxy');
  assert.equal(proxy?.ready, true, 'the native istio-proxy sidecar is ready');
  const res = await fetch(`http://${pod.status.podIP}:8080/headers`);
  assert.equal(res.status, 200);
  const proxyLog = readFileSync(join(state, 'logs', `default_${pod.metadata.name}_istio-proxy.log`), 'utf8');
  assert.match(proxyLog, /certificate issued for spiffe:\/\/cluster\.local\/ns\/default\/sa\/httpbin/);

  child.kill('SIGINT');
  const code = await Promise.race([exited, new Promise<string>((r) => setTimeout(() => r('still running'), 30_000))]);
  assert.equal(code, 0, out);
});
