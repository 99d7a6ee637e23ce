/**
 * Starting a tsmesh proxy for a benchmark from a static bootstrap, the way tsmesh starts its own
 * processes (src/common/self_command.ts): the plain-JavaScript build in dist/ when current, else
 * src/ through tsx. `prepareTsmesh` runs `npm run build`'s script first (a no-op when dist/ is
 * current; BENCH_NO_BUILD=1 skips it) so the bench measures what users run, and says which one it got.
 * BENCH_PROXY_NODE_ARGS adds node flags (e.g. "--max-semi-space-size=2"); BENCH_CPU_PROF=<dir>
 * writes a V8 CPU profile per proxy when it exits.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { start, type Started } from './procs.ts';
import { freePort } from './ports.ts';
import { httpBootstrap, type HcmExtra, type HopTls } from './configs.ts';
import { PROXY_NODE_FLAGS, REPO_ROOT, tsmeshCommand } from '../../src/common/self_command.ts';
import { freshDistEntry } from '../../bin/dist_state.mjs';

function proxyNodeArgs(): string[] {
  const args = (process.env.BENCH_PROXY_NODE_ARGS ?? '').split(/\s+/).filter(Boolean);
  const prof = process.env.BENCH_CPU_PROF;
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
  console.log(dist ? 'tsmesh proxies run dist/ (plain JavaScript, no loader)' : 'tsmesh proxies run src/ through tsx (dist/ not current, BENCH_NO_BUILD=1 or TSMESH_FROM_SOURCE=1): expect more RSS and start-up time');
}

/** The node command line of `tsmesh proxy <args>` with the bench's flags and a short drain. */
export function tsmeshProxyArgs(args: string[]): string[] {
  prepareTsmesh();
  // A short drain: the bench's clients are gone when it stops a proxy, and a CPU profile is only
  // written once the process exits.
  const cmd = tsmeshCommand(['proxy', '--concurrency', '1', '--log-level', 'warn', '--drain-time-s', '1', ...args]);
  // The bench's flags after tsmesh's own (PROXY_NODE_FLAGS), so BENCH_PROXY_NODE_ARGS can override them.
  const own = PROXY_NODE_FLAGS.length;
  return [...cmd.args.slice(0, own), ...proxyNodeArgs(), ...cmd.args.slice(own)];
}

/**
 * One tsmesh proxy: HTTP listener `listen` -> `upstream`; with `grpc`, an h2 listener/cluster too;
 * `tls` puts transport sockets on its listeners or clusters (the mTLS hop).
 */
export async function tsmeshProxy(dir: string, name: string, listen: number, upstream: number, grpc?: { port: number; upstreamPort: number }, tls?: HopTls, extra?: HcmExtra): Promise<Started> {
  const admin = await freePort();
  const f = httpBootstrap(dir, name, listen, upstream, admin, grpc, tls, extra);
  return start(`tsmesh ${name}`, process.execPath, tsmeshProxyArgs(['--bootstrap', f]), { port: listen });
}
