/**
 * `tsmesh proxy` and `tsmesh controlplane` started by hand run with the node flags and
 * environment tsmesh gives them when it starts them itself (bin/node_runtime.mjs): what `ps`
 * shows of the process, and with the same PID. A user's own value of a flag wins.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CONTROLPLANE_NODE_FLAGS, hasReadSlab, maglevHoldsMemory, missingRuntime, nodeOptionsFlags } from '../../bin/node_runtime.mjs';
import { controlPlaneObjects } from '../../src/kube/install/control_plane.ts';
import { defaultValues } from '../../src/kube/install/values.ts';

const BIN = new URL('../../bin/tsmesh.js', import.meta.url).pathname;
const canExec = typeof (process as { execve?: unknown }).execve === 'function';
const noExec = canExec ? false : `process.execve is not in node ${process.version} (22.15 and later have it)`;
const noSlab = hasReadSlab() ? false : `node ${process.version} reads into no slab (24.22 and later do): the proxy takes no old-space floor`;
const FLOOR = '--initial-old-space-size=64';
const NO_MAGLEV = maglevHoldsMemory() ? ['--no-maglev'] : [];

const cmdline = (pid: number): string[] => readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
const environ = (pid: number): string[] => readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').filter(Boolean);

/** Polls the process's command line until `want` holds (the replacement happens at start-up), bounded. */
async function commandLineWhen(proc: ChildProcess, want: (argv: string[]) => boolean): Promise<string[]> {
  const deadline = Date.now() + 20_000;
  let argv: string[] = [];
  while (Date.now() < deadline && proc.exitCode === null) {
    argv = cmdline(proc.pid!);
    if (want(argv)) return argv;
    await new Promise((r) => setTimeout(r, 50));
  }
  return argv;
}

function start(nodeArgs: string[], args: string[]): ChildProcess {
  const env = { ...process.env };
  delete env.TSMESH_NODE_RUNTIME;
  delete env.MALLOC_ARENA_MAX;
  delete env.NODE_OPTIONS;
  return spawn(process.execPath, [...nodeArgs, BIN, ...args], { stdio: 'ignore', env });
}

function stop(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    proc.once('exit', () => resolve());
    proc.kill('SIGKILL');
  });
}

function bootstrapFile(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'tsmesh-runtime-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'bootstrap.json');
  writeFileSync(file, JSON.stringify({ static_resources: { clusters: [], listeners: [] } }));
  return file;
}

test('what a process lacks of its runtime: flags it was not given and environment not set; other commands need nothing', () => {
  const floor = hasReadSlab() ? [FLOOR] : [];
  assert.deepEqual(missingRuntime('proxy', [], {}), { flags: ['--max-semi-space-size=4', ...floor], env: {} });
  assert.deepEqual(missingRuntime('controlplane', [], {}), { flags: ['--max-semi-space-size=16', ...NO_MAGLEV], env: { MALLOC_ARENA_MAX: '2' } });
  // The user's own value, on the command line (either spelling) or in NODE_OPTIONS, wins.
  assert.deepEqual(missingRuntime('proxy', ['--max_semi_space_size=8'], {}).flags, floor);
  assert.deepEqual(missingRuntime('proxy', ['--initial_old_space_size=32'], { NODE_OPTIONS: '--max-semi-space-size=8' }).flags, []);
  // An initial heap size sizes the old generation too: the user chose it.
  assert.deepEqual(missingRuntime('proxy', ['--initial-heap-size=256', '--max-semi-space-size=8'], {}).flags, []);
  assert.deepEqual(missingRuntime('controlplane', ['--maglev'], { NODE_OPTIONS: '--max-semi-space-size=8', MALLOC_ARENA_MAX: '4' }), { flags: [], env: {} });
  assert.deepEqual(missingRuntime('validate', [], {}), { flags: [], env: {} });
});

test('Maglev is off in the control plane from Node 24 on', () => {
  assert.equal(maglevHoldsMemory('22.23.5'), false);
  assert.equal(maglevHoldsMemory('24.0.0'), true);
  assert.equal(maglevHoldsMemory('26.3.1'), true);
});

test("the Kubernetes control plane's NODE_OPTIONS holds only flags node accepts there, so the pod's node starts", () => {
  const pod = controlPlaneObjects(defaultValues()).find((o) => o.kind === 'Deployment')! as any;
  const env: { name: string; value?: string }[] = pod.spec.template.spec.containers[0].env;
  const nodeOptions = env.find((e) => e.name === 'NODE_OPTIONS')!.value!;
  assert.deepEqual(nodeOptions.split(' '), nodeOptionsFlags(CONTROLPLANE_NODE_FLAGS));
  assert.ok(nodeOptions.includes('--max-semi-space-size=16'), nodeOptions);
  // What node itself says of the value, and of every control-plane flag, here.
  const run = (opts: string) => spawnSync(process.execPath, ['-e', '0'], { env: { ...process.env, NODE_OPTIONS: opts }, encoding: 'utf8' });
  const all = run(nodeOptions);
  assert.equal(all.status, 0, all.stderr);
  for (const f of CONTROLPLANE_NODE_FLAGS) {
    const r = run(f);
    assert.equal(r.status === 0, nodeOptionsFlags([f]).length === 1, `NODE_OPTIONS=${f}: ${r.stderr}`);
  }
});

test('the old-space floor is for the nodes that read into slabs: 24.22 and later', () => {
  assert.equal(hasReadSlab('22.23.5'), false);
  assert.equal(hasReadSlab('24.21.9'), false);
  assert.equal(hasReadSlab('24.22.0'), true);
  assert.equal(hasReadSlab('25.0.0'), true);
  assert.equal(hasReadSlab('26.3.1'), true);
});

test('`tsmesh proxy` started by hand runs with its V8 flags, as the same process', { skip: noExec, timeout: 60_000 }, async (t) => {
  const args = ['proxy', '-c', bootstrapFile(t), '--admin-port', '0'];
  const proc = start([], args);
  t.after(() => stop(proc));
  const argv = await commandLineWhen(proc, (a) => a.includes('--max-semi-space-size=4'));
  assert.ok(argv.includes('--max-semi-space-size=4'), `command line of pid ${proc.pid}: ${argv.join(' ')}`);
  assert.equal(argv.includes(FLOOR), hasReadSlab(), `command line of pid ${proc.pid}: ${argv.join(' ')}`);
  assert.deepEqual(argv.slice(argv.indexOf(BIN) + 1), args);
  assert.ok(environ(proc.pid!).includes('TSMESH_NODE_RUNTIME=1'));
});

test("a user's own --max-semi-space-size is kept, and the flag the user did not give is added", { skip: noExec || noSlab, timeout: 60_000 }, async (t) => {
  const proc = start(['--max-semi-space-size=8'], ['proxy', '-c', bootstrapFile(t), '--admin-port', '0']);
  t.after(() => stop(proc));
  const argv = await commandLineWhen(proc, (a) => a.includes(FLOOR));
  assert.ok(argv.includes(FLOOR), argv.join(' '));
  assert.ok(argv.includes('--max-semi-space-size=8'), argv.join(' '));
  assert.ok(!argv.includes('--max-semi-space-size=4'), argv.join(' '));
});

test("a proxy given all of its flags by the user is not started again", { skip: noExec, timeout: 60_000 }, async (t) => {
  const proc = start(['--max-semi-space-size=8', '--initial-old-space-size=32'], ['proxy', '-c', bootstrapFile(t), '--admin-port', '0']);
  t.after(() => stop(proc));
  // Give it the time a replacement would take, then look: nothing changed.
  await new Promise((r) => setTimeout(r, 1500));
  const argv = cmdline(proc.pid!);
  assert.ok(argv.includes('--max-semi-space-size=8') && argv.includes('--initial-old-space-size=32'), argv.join(' '));
  assert.ok(!argv.includes('--max-semi-space-size=4') && !argv.includes(FLOOR), argv.join(' '));
  assert.ok(!environ(proc.pid!).includes('TSMESH_NODE_RUNTIME=1'));
});

test('`tsmesh controlplane` started by hand runs with --max-semi-space-size=16 (and --no-maglev on Node 24) and MALLOC_ARENA_MAX=2', { skip: noExec, timeout: 60_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tsmesh-runtime-cp-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const args = ['controlplane', '-c', dir, '--grpc-port', '0', '--http-port', '0', '--secure-grpc-port', '0', '--zipkin-port', 'off', '--state-dir', join(dir, 'state')];
  const proc = start([], args);
  t.after(() => stop(proc));
  const argv = await commandLineWhen(proc, (a) => a.includes('--max-semi-space-size=16'));
  assert.ok(argv.includes('--max-semi-space-size=16'), argv.join(' '));
  assert.equal(argv.includes('--no-maglev'), maglevHoldsMemory(), argv.join(' '));
  assert.deepEqual(argv.slice(argv.indexOf(BIN) + 1), args);
  assert.ok(environ(proc.pid!).includes('MALLOC_ARENA_MAX=2'));
});
