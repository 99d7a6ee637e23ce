/**
 * How tsmesh starts its own commands as child processes (the demo's control plane and proxies,
 * tests): the plain-JavaScript build in dist/ when it is current (no TypeScript loader in the
 * child), else the sources through tsx. The same choice bin/tsmesh.js makes.
 */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freshDistEntry } from '../../bin/dist_state.mjs';
import { runtimeFor } from '../../bin/node_runtime.mjs';

export interface Command {
  command: string;
  args: string[];
  /** Environment the command needs besides the caller's (merged over it when spawning). */
  env?: Record<string, string>;
}

/** The repository root: src/ and dist/ both sit right under it. */
export const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));

let entry: string | null | undefined;

// The node flags and environment of each command live in bin/node_runtime.mjs, which
// bin/tsmesh.js also uses when a command is started by hand.
export { CONTROLPLANE_ENV, CONTROLPLANE_NODE_FLAGS, PROXY_NODE_FLAGS, nodeOptionsFlags } from '../../bin/node_runtime.mjs';

/** `tsmesh <args>` as a command line for spawn/execFile. */
export function tsmeshCommand(args: string[], root = REPO_ROOT): Command {
  // Checked once per process for this checkout (a walk of src/), every time for another root.
  const e = root === REPO_ROOT ? (entry ??= freshDistEntry(root) ?? null) : (freshDistEntry(root) ?? null);
  return build(e, root, args);
}

function build(e: string | null, root: string, args: string[]): Command {
  const main = e ?? join(root, 'src/cli/main.ts');
  const { flags, env } = runtimeFor(args[0] ?? '');
  const command = { command: process.execPath, args: e ? [...flags, main, ...args] : [...flags, '--import', 'tsx', main, ...args] };
  return Object.keys(env).length > 0 ? { ...command, env } : command;
}
