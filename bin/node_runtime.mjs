// The node flags and environment each long-running tsmesh command runs with, and how a command
// started by hand (`npx tsmesh proxy`, `npx tsmesh controlplane`) gets them: V8 reads these flags
// only at start-up and glibc reads MALLOC_ARENA_MAX only at start-up, so the process replaces
// itself (process.execve: same PID, no second Node) with one that has them. Plain JavaScript:
// bin/tsmesh.js uses it before anything is compiled; src/common/self_command.ts uses the table
// when tsmesh starts its own processes. Figures: PERFORMANCE.md, decisions 1 and 4.

/**
 * `tsmesh proxy`: V8's young generation capped at 4 MB per semi-space (default 16 on Node 22, 32
 * on Node 24); under load that took a proxy from 108 to 82-83 MB RSS at the same CPU per request.
 * No full collection while the old generation is under 64 MB: from Node 24.22 every TLS read is a
 * view on a 64 KB read slab, and V8 counts that slab churn (10-18 MB between two scavenges, all of
 * it freed by them) towards the old generation's limit, which then ran a mark-compact every 0.2 s
 * that freed nothing, taking an mTLS hop's p99 under load from about 2.5 to 10 ms.
 */
export const PROXY_NODE_FLAGS = ['--max-semi-space-size=4', '--initial-old-space-size=64'];

/**
 * `tsmesh controlplane`: semi-spaces capped at 16 MB (Node 24 lets them grow to 32), and glibc held
 * to two malloc arenas (V8's compiler and GC threads each grow their own and keep what they freed).
 * On Node 24 with 2,000 simulated proxies the two took the peak from 565 to 466 MB.
 */
export const CONTROLPLANE_NODE_FLAGS = ['--max-semi-space-size=16'];
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

/**
 * What this process lacks of `command`'s runtime: flags whose name neither its command line nor
 * NODE_OPTIONS sets (a user's own value wins), and environment variables not set at all.
 */
export function missingRuntime(command, execArgv = process.execArgv, env = process.env) {
  const { flags, env: want } = runtimeFor(command);
  const given = new Set([...execArgv, ...(env.NODE_OPTIONS ?? '').split(/\s+/)].filter((a) => a.startsWith('--')).map(flagName));
  return {
    flags: flags.filter((f) => !given.has(flagName(f))),
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
