#!/usr/bin/env node
// `npm run build` (also run by `npm install` / `npm ci` as `prepare`, and before the tests):
// compiles src/ to plain JavaScript in dist/, so tsmesh's processes run without a TypeScript
// loader (tsx's loader thread costs about 20 MB and start-up time per process). Type errors are
// `npm run typecheck`'s job, so emit skips checking. Does nothing when dist/ is current;
// `--force` rebuilds anyway.
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import { STAMP, freshDistEntry } from '../bin/dist_state.mjs';
import { buildNative } from '../native/build.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const dist = join(root, 'dist');
// The SO_ORIGINAL_DST addon (traffic capture) first: it has its own freshness check, and a
// missing compiler only warns.
buildNative({ force: process.argv.includes('--force') });
if (!process.argv.includes('--force') && freshDistEntry(root)) process.exit(0);

const started = Date.now();
console.log('build: compiling src/ to dist/ ...');
rmSync(dist, { recursive: true, force: true });
let tsc;
try {
  tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
} catch {
  // An install without devDependencies: tsmesh still runs, from src/ through tsx.
  console.warn('build: typescript is not installed (devDependency); tsmesh will run from src/ through tsx.');
  process.exit(0);
}
const r = spawnSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.build.json')], { stdio: 'inherit' });
if (r.status !== 0) {
  console.error('build: tsc failed; `npm run typecheck` shows the errors. tsmesh keeps running from src/ through tsx.');
  process.exit(r.status ?? 1);
}
// Files tsc does not emit (plain .mjs helpers) are copied beside the compiled ones.
function copyOthers(dir) {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) copyOthers(p);
    else if (!e.name.endsWith('.ts')) {
      const to = join(dist, relative(join(root, 'src'), p));
      mkdirSync(dirname(to), { recursive: true });
      copyFileSync(p, to);
    }
  }
}
copyOthers(join(root, 'src'));
// Written last: dist/ counts as current only once complete.
writeFileSync(join(dist, STAMP), `${new Date().toISOString()}\n`);
console.log(`build: dist/ ready in ${((Date.now() - started) / 1000).toFixed(1)} s`);
