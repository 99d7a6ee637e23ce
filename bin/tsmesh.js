#!/usr/bin/env node
// The `tsmesh` command. It runs the plain-JavaScript build in dist/ (made by `npm install` or
// `npm run build`) when that build is current, and otherwise the TypeScript sources through tsx.
import { fileURLToPath } from 'node:url';
import { freshDistEntry } from './dist_state.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const entry = freshDistEntry(root);
if (entry) {
  await import(entry);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import('../src/cli/main.ts');
}
