/**
 * How tsmesh starts its own commands as child processes (the demo's control plane and proxies,
 * tests): the plain-JavaScript build in dist/ when it is current (no TypeScript loader in the
 * child), else the sources through tsx. The same choice bin/tsmesh.js makes.
 */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freshDistEntry } from '../../bin/dist_state.mjs';

export interface Command {
  command: string;
  args: string[];
  /** Environment the command needs besides the caller's (merged over it when spawning). */
  env?: Record<string, string>;
}

/** The repository root: src/ and dist/ both sit right under it. */
export const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));

let entry: string | null | undefined;

/**
 * Node flags for `tsmesh proxy`: V8's young generation capped at 4 MB per semi-space (default
 * 16 on Node 20 and 22, 32 on Node 24). Under load that took a proxy from 108 to 82-83 MB
 * RSS at the same CPU per request (PERFORMANCE.md). A command-line flag: V8 ignores it when set
 * from inside a running process.
 */
export const PROXY_NODE_FLAGS = ['--max-semi-space-size=4'];

/**
 * Node flags for `tsmesh controlplane`: semi-spaces capped at 16 MB, Node 20's and 22's default
 * (Node 24 lets them grow to 32 MB), and glibc held to two malloc arenas (V8's compiler and GC
 * threads each grow their own and keep what they freed). On Node 24 with 2,000 simulated proxies the two took the control plane's peak
 * from 565 to 466 MB (PERFORMANCE.md, decision 4).
 */
export const CONTROLPLANE_NODE_FLAGS = ['--max-semi-space-size=16'];
export const CONTROLPLANE_ENV: Record<string, string> = { MALLOC_ARENA_MAX: '2' };

/** Per command: the node flags and environment it runs with. */
const RUNTIME: Record<string, { flags: string[]; env?: Record<string, string> }> = {
  proxy: { flags: PROXY_NODE_FLAGS },
  controlplane: { flags: CONTROLPLANE_NODE_FLAGS, env: CONTROLPLANE_ENV },
};

/** `tsmesh <args>` as a command line for spawn/execFile. */
export function tsmeshCommand(args: string[], root = REPO_ROOT): Command {
  // Checked once per process for this checkout (a walk of src/), every time for another root.
  const e = root === REPO_ROOT ? (entry ??= freshDistEntry(root) ?? null) : (freshDistEntry(root) ?? null);
  return build(e, root, args);
}

function build(e: string | null, root: string, args: string[]): Command {
  const main = e ?? join(root, 'src/cli/main.ts');
  const { flags, env } = RUNTIME[args[0] ?? ''] ?? { flags: [] };
  const command = { command: process.execPath, args: e ? [...flags, main, ...args] : [...flags, '--import', 'tsx', main, ...args] };
  return env ? { ...command, env } : command;
}
