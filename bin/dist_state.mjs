// Whether dist/ (the plain-JavaScript build of src/, `npm run build`) can run instead of the
// TypeScript sources. It is used only when it was built after the newest file under src/, so an
// edited checkout never runs stale code: it falls back to src/ through tsx until rebuilt.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

export const STAMP = '.build-stamp';

/** Newest modification time (ms) of any file under `dir`. */
export function newestMtime(dir) {
  let newest = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    const t = e.isDirectory() ? newestMtime(p) : statSync(p).mtimeMs;
    if (t > newest) newest = t;
  }
  return newest;
}

/** dist/cli/main.js when dist/ is a build of the current src/, else undefined. */
export function freshDistEntry(root) {
  const entry = join(root, 'dist', 'cli', 'main.js');
  const stamp = join(root, 'dist', STAMP);
  if (process.env.TSMESH_FROM_SOURCE === '1' || !existsSync(entry) || !existsSync(stamp)) return undefined;
  return statSync(stamp).mtimeMs >= newestMtime(join(root, 'src')) ? entry : undefined;
}
