#!/usr/bin/env node
// The `tsmesh` command. It runs the plain-JavaScript build in dist/ (made by `npm install` or
// `npm run build`) when that build is current, and otherwise the TypeScript sources through tsx.
import { fileURLToPath } from 'node:url';
import { freshDistEntry } from './dist_state.mjs';
import { execWithRuntime } from './node_runtime.mjs';

// `tsmesh proxy` and `tsmesh controlplane` started by hand get the node flags and environment
// tsmesh gives them when it starts them itself (the process replaces itself once; see node_runtime.mjs).
execWithRuntime(process.argv[2], process.argv[1], process.argv.slice(2));

const root = fileURLToPath(new URL('..', import.meta.url));
const entry = freshDistEntry(root);
if (entry) {
  await import(entry);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import('../src/cli/main.ts');
}
