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
}

/** The repository root: src/ and dist/ both sit right under it. */
export const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));

let entry: string | null | undefined;

/** `tsmesh <args>` as a command line for spawn/execFile. */
export function tsmeshCommand(args: string[], root = REPO_ROOT): Command {
  if (entry === undefined || root !== REPO_ROOT) {
    const e = freshDistEntry(root) ?? null;
    if (root !== REPO_ROOT) return build(e, root, args);
    entry = e;
  }
  return build(entry, root, args);
}

function build(e: string | null, root: string, args: string[]): Command {
  const main = e ?? join(root, 'src/cli/main.ts');
  return { command: process.execPath, args: e ? [main, ...args] : ['--import', 'tsx', main, ...args] };
}
