/**
 * Starting a tsmesh proxy for a benchmark from a static bootstrap, the way tsmesh starts its own
 * processes (src/common/self_command.ts): the plain-JavaScript build in dist/ when current, else
 * src/ through tsx. `prepareTsmesh` runs `npm run build`'s script first (a no-op when dist/ is
 * current; BENCH_NO_BUILD=1 skips it) so the bench measures what users run, and says which one it got.
 * BENCH_PROXY_NODE_ARGS adds node flags (e.g. "--max-semi-space-size=2"); BENCH_CPU_PROF=<dir>
 * writes a V8 CPU profile per proxy when it exits. BENCH_RUNTIME=bun (or a path to a bun binary)
 * runs every tsmesh proxy on Bun instead (dist/ only; node flags do not apply there), for the
 * runtime decision in PERFORMANCE.md.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { start, type Started } from './procs.ts';
import { freePort } from './ports.ts';
import { httpBootstrap, type HcmExtra, type HopTls } from './configs.ts';
import { PROXY_NODE_FLAGS, REPO_ROOT, tsmeshCommand } from '../../src/common/self_command.ts';
import { freshDistEntry } from '../../bin/dist_state.mjs';
import { cacheRoot } from './istiod_build.ts';

function proxyNodeArgs(profile = true): string[] {
  const args = (process.env.BENCH_PROXY_NODE_ARGS ?? '').split(/\s+/).filter(Boolean);
  const prof = profile && process.env.BENCH_CPU_PROF;
  if (prof) {
    mkdirSync(prof, { recursive: true });
    args.push('--cpu-prof', `--cpu-prof-dir=${resolve(prof)}`);
  }
  return args;
}

let prepared = false;

/** Builds dist/ when stale (unless TSMESH_FROM_SOURCE=1) and prints what the proxies will run. */
export function prepareTsmesh(): void {
  if (prepared) return;
  prepared = true;
  if (process.env.TSMESH_FROM_SOURCE !== '1' && process.env.BENCH_NO_BUILD !== '1' && !freshDistEntry(REPO_ROOT)) {
    spawnSync(process.execPath, [join(REPO_ROOT, 'scripts', 'build.mjs')], { stdio: 'inherit', timeout: 300_000 });
  }
  const dist = freshDistEntry(REPO_ROOT);
  console.log(dist ? `tsmesh runs dist/ (plain JavaScript, no loader) on ${proxyRuntime()}` : 'tsmesh runs src/ through tsx (dist/ not current, BENCH_NO_BUILD=1 or TSMESH_FROM_SOURCE=1): expect more RSS and start-up time');
}

/** The Bun release the bench installs when BENCH_RUNTIME=bun finds none. */
const BUN_VERSION = '1.4.5';

/**
 * The bun binary BENCH_RUNTIME names: a path as given; for `bun`, the repository's or the bench
 * cache's `bun` npm package, installed there once (npm ships Bun as a platform binary).
 */
function bunBinary(): string {
  const want = process.env.BENCH_RUNTIME!;
  if (want !== 'bun') return want;
  const local = join(REPO_ROOT, 'node_modules', '.bin', 'bun');
  if (existsSync(local)) return local;
  const prefix = join(cacheRoot(), `bun-${BUN_VERSION}`);
  const bin = join(prefix, 'node_modules', '.bin', 'bun');
  if (!existsSync(bin)) {
    console.log(`installing bun@${BUN_VERSION} into ${prefix} (npm)`);
    mkdirSync(prefix, { recursive: true });
    const r = spawnSync('npm', ['install', '--prefix', prefix, '--no-save', '--no-audit', '--no-fund', `bun@${BUN_VERSION}`], { stdio: 'inherit', timeout: 300_000 });
    if (r.status !== 0 || !existsSync(bin)) throw new Error(`could not install bun@${BUN_VERSION} with npm into ${prefix}: set BENCH_RUNTIME to a bun binary instead`);
  }
  return bin;
}

/** Which runtime the tsmesh proxies run on, for the bench's header line. */
export function proxyRuntime(): string {
  if (!process.env.BENCH_RUNTIME || process.env.BENCH_RUNTIME === 'node') return `node ${process.version}`;
  const v = spawnSync(bunBinary(), ['--version'], { encoding: 'utf8' });
  return `bun ${v.stdout?.trim() || '(not found: ' + String(v.error?.message) + ')'}`;
}

/** The command line of `tsmesh proxy <args>` with the bench's flags and a short drain. */
export function tsmeshProxyCommand(args: string[]): { command: string; args: string[] } {
  prepareTsmesh();
  // A short drain: the bench's clients are gone when it stops a proxy, and a CPU profile is only
  // written once the process exits.
  const cmd = tsmeshCommand(['proxy', '--concurrency', '1', '--log-level', 'warn', '--drain-time-s', '1', ...args]);
  const own = PROXY_NODE_FLAGS.length;
  if (process.env.BENCH_RUNTIME && process.env.BENCH_RUNTIME !== 'node') {
    if (!freshDistEntry(REPO_ROOT)) throw new Error('BENCH_RUNTIME=bun runs dist/ only: run `npm run build` first');
    return { command: bunBinary(), args: cmd.args.slice(own) };
  }
  // The bench's flags after tsmesh's own (PROXY_NODE_FLAGS), so BENCH_PROXY_NODE_ARGS can override them.
  return { command: cmd.command, args: [...cmd.args.slice(0, own), ...proxyNodeArgs(), ...cmd.args.slice(own)] };
}

/** One tsmesh proxy process under the bench's runtime. */
export function startTsmeshProxy(name: string, args: string[], ready: Parameters<typeof start>[3]): Promise<Started> {
  const cmd = tsmeshProxyCommand(args);
  return start(name, cmd.command, cmd.args, ready);
}

/** A plain JavaScript file run on the runtime, and with the flags, the tsmesh proxies get (the bench's floor; never profiled). */
export function startOnProxyRuntime(name: string, script: string, args: string[], ready: Parameters<typeof start>[3]): Promise<Started> {
  if (process.env.BENCH_RUNTIME && process.env.BENCH_RUNTIME !== 'node') return start(name, bunBinary(), [script, ...args], ready);
  return start(name, process.execPath, [...PROXY_NODE_FLAGS, ...proxyNodeArgs(false), script, ...args], ready);
}

/**
 * One tsmesh proxy: HTTP listener `listen` -> `upstream`; with `grpc`, an h2 listener/cluster too;
 * `tls` puts transport sockets on its listeners or clusters (the mTLS hop).
 */
export async function tsmeshProxy(dir: string, name: string, listen: number, upstream: number, grpc?: { port: number; upstreamPort: number }, tls?: HopTls, extra?: HcmExtra): Promise<Started> {
  const admin = await freePort();
  const f = httpBootstrap(dir, name, listen, upstream, admin, grpc, tls, extra);
  return startTsmeshProxy(`tsmesh ${name}`, ['--bootstrap', f], { port: listen });
}
