/**
 * Which Node the benchmarks measure tsmesh on. Figures taken on a Node outside package.json's
 * engines say nothing about what users run, and V8 releases differ by tens of percent in CPU per
 * request and in RSS (PERFORMANCE.md, decision 3). So the bench runs on one named major: BENCH_NODE
 * (default 24, the current LTS; `current` keeps the Node that started it). When the running Node
 * is another major, the bench fetches that one the way CI does (scripts/fetch-node.mjs: npm's
 * node-<platform>-<arch> package, cached) and runs itself again there, with it first in PATH so
 * every process it starts (control plane, proxies, load processes) runs on it too.
 */
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { REPO_ROOT } from '../../src/common/self_command.ts';

export const DEFAULT_BENCH_NODE = '24';
const REEXEC = 'TSMESH_BENCH_NODE_REEXEC';

/** Resolves when this process is on the wanted Node; otherwise runs the bench there and exits with its status. */
export async function onBenchNode(): Promise<void> {
  const want = process.env.BENCH_NODE ?? DEFAULT_BENCH_NODE;
  const major = process.versions.node.split('.')[0];
  if (want === 'current' || want === major || process.env[REEXEC]) {
    console.log(`bench: tsmesh runs on node ${process.version}${want === 'current' ? ' (BENCH_NODE=current)' : ''}`);
    return;
  }
  if (!/^\d+$/.test(want)) throw new Error(`BENCH_NODE must be a Node major (e.g. 22, 24) or "current", not "${want}"`);
  console.log(`bench: fetching Node ${want} (BENCH_NODE; this one is ${process.version}) with scripts/fetch-node.mjs ...`);
  const f = spawnSync(process.execPath, [join(REPO_ROOT, 'scripts', 'fetch-node.mjs'), want], { encoding: 'utf8', timeout: 600_000 });
  const bin = f.stdout?.trim();
  if (f.status !== 0 || !bin) throw new Error(`could not fetch Node ${want}: ${f.stderr || f.error?.message}; set BENCH_NODE=current to measure on ${process.version}`);
  const child = spawn(join(bin, 'node'), [...process.execArgv, ...process.argv.slice(1)], {
    stdio: 'inherit',
    env: { ...process.env, [REEXEC]: '1', PATH: `${bin}:${process.env.PATH ?? ''}` },
  });
  // Ctrl-C reaches the child through the terminal's process group; a SIGTERM to this one is passed on.
  process.on('SIGTERM', () => child.kill('SIGTERM'));
  const code = await new Promise<number>((resolve) => child.on('exit', (c, sig) => resolve(c ?? (sig ? 1 : 0))));
  process.exit(code);
}
