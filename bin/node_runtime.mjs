// The node flags and environment each long-running tsmesh command runs with, and how a command
// started by hand (`npx tsmesh proxy`, `npx tsmesh controlplane`) gets them: V8 reads these flags
// only at start-up and glibc reads MALLOC_ARENA_MAX only at start-up, so the process replaces
// itself (process.execve: same PID, no second Node) with one that has them. Plain JavaScript:
// bin/tsmesh.js uses it before anything is compiled; src/common/self_command.ts uses the table
// when tsmesh starts its own processes. Figures: PERFORMANCE.md, decisions 1 and 4.

/**
 * Node 24.22.0 ("stream: allocate stream read buffers from a slab") and every later release: a
 * TLS read reaches JavaScript as a view on a shared 64 KB slab, so mTLS traffic allocates slabs
 * quickly.
 */
export function hasReadSlab(version = process.versions.node) {
  const [major, minor] = version.split('.').map(Number);
  return major > 24 || (major === 24 && minor >= 22);
}

/**
 * `tsmesh proxy`: V8's young generation capped at 4 MB per semi-space (default 16 on Node 22, 32
 * on Node 24); under load that took a proxy from 108 to 82-83 MB RSS at the same CPU per request.
 * Where node reads into slabs, the old generation's allocation limit is held at 64 MB or more: V8
 * counts external memory allocated since the last mark-compact (the slabs) against that limit,
 * and under mTLS load a 15 MB heap with a 26 MB limit ran a mark-compact every 50-100 ms that
 * freed almost nothing (two mTLS hops: p99 10.8 ms, 2.6 ms with the floor). These flags cannot go
 * in NODE_OPTIONS: node refuses --initial-old-space-size there.
 */
export const PROXY_NODE_FLAGS = ['--max-semi-space-size=4', ...(hasReadSlab() ? ['--initial-old-space-size=64'] : [])];

/** Node 24 and later, whose Maglev (V8's mid-tier compiler) holds tens of megabytes more in the control plane. */
export function maglevHoldsMemory(version = process.versions.node) {
  return Number(version.split('.')[0]) >= 24;
}

/**
 * `tsmesh controlplane`: semi-spaces capped at 16 MB (Node 24 lets them grow to 32), and glibc held
 * to two malloc arenas (V8's compiler and GC threads each grow their own and keep what they freed).
 * On Node 24 with 2,000 simulated proxies the two took the peak from 565 to 466 MB. On Node 24
 * Maglev is off as well: with it the peak was 482-504 MB, without it 432-474 MB (three runs each),
 * for about 10% more CPU during a sync; on Node 22 it made no difference.
 */
export const CONTROLPLANE_NODE_FLAGS = ['--max-semi-space-size=16', ...(maglevHoldsMemory() ? ['--no-maglev'] : [])];

/** The V8 flags node accepts in NODE_OPTIONS (it refuses the others there and does not start). */
const NODE_OPTIONS_V8_FLAGS = new Set(['--max-semi-space-size', '--max-old-space-size']);

/** The flags of `flags` that can go in NODE_OPTIONS; the process adds the rest itself (execWithRuntime). */
export function nodeOptionsFlags(flags) {
  return flags.filter((f) => NODE_OPTIONS_V8_FLAGS.has(flagName(f)));
}
export const CONTROLPLANE_ENV = { MALLOC_ARENA_MAX: '2' };

/** Per command: the node flags and environment it runs with. */
const RUNTIME = {
  proxy: { flags: PROXY_NODE_FLAGS, env: {} },
  controlplane: { flags: CONTROLPLANE_NODE_FLAGS, env: CONTROLPLANE_ENV },
};

/** Marks a process that already replaced itself once, so it never loops. */
const DONE = 'TSMESH_NODE_RUNTIME';

/** The flags and environment `command` (argv[0] of tsmesh) runs with; none for other commands. */
export function runtimeFor(command) {
  return RUNTIME[command] ?? { flags: [], env: {} };
}

/** The flag's name: `--max-semi-space-size=4` -> `--max-semi-space-size` (V8 takes `_` for `-`). */
function flagName(flag) {
  return flag.split('=')[0].replace(/_/g, '-');
}

/** A flag the user sets through another: an initial heap size also sizes the old generation. */
const ALSO_SET_BY = { '--initial-old-space-size': ['--initial-heap-size'], '--no-maglev': ['--maglev'] };

/**
 * What this process lacks of `command`'s runtime: flags whose name neither its command line nor
 * NODE_OPTIONS sets (a user's own value wins), and environment variables not set at all.
 */
export function missingRuntime(command, execArgv = process.execArgv, env = process.env) {
  const { flags, env: want } = runtimeFor(command);
  const given = new Set([...execArgv, ...(env.NODE_OPTIONS ?? '').split(/\s+/)].filter((a) => a.startsWith('--')).map(flagName));
  const isGiven = (name) => given.has(name) || (ALSO_SET_BY[name] ?? []).some((n) => given.has(n));
  return {
    flags: flags.filter((f) => !isGiven(flagName(f))),
    env: Object.fromEntries(Object.entries(want).filter(([k]) => env[k] === undefined)),
  };
}

/**
 * Replaces this process with one that has `command`'s flags and environment, when it lacks any
 * and the runtime can (process.execve: Node 22.15 and later, not Bun, not Windows). Returns only
 * when nothing was done or the replacement failed; TSMESH_NODE_RUNTIME set to any value turns it off.
 */
export function execWithRuntime(command, script, args) {
  if (process.env[DONE] !== undefined || typeof process.execve !== 'function' || process.versions.bun !== undefined) return;
  const missing = missingRuntime(command);
  if (missing.flags.length === 0 && Object.keys(missing.env).length === 0) return;
  const argv = [process.execPath, ...missing.flags, ...process.execArgv, script, ...args];
  try {
    process.execve(process.execPath, argv, { ...process.env, ...missing.env, [DONE]: '1' });
  } catch (e) {
    // The command still runs, only without the settings: say so once, and go on.
    console.error(`tsmesh ${command}: running without ${[...missing.flags, ...Object.keys(missing.env)].join(' ')} (process.execve failed: ${e.message})`);
  }
}
