// Compiles the SO_ORIGINAL_DST addon (so_original_dst.c) into native/build/ with the system C
// compiler against the running Node's own headers (node_api.h is ABI-stable, so no node-gyp and
// no download: works offline). Called by scripts/build.mjs (npm install's `prepare`). Without a
// compiler or headers it warns and returns: only traffic capture needs the addon, and the proxy
// says so when it does (src/proxy/listener/so_original_dst.ts).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
export const ADDON = join(here, 'build', 'so_original_dst.node');
const SOURCE = join(here, 'so_original_dst.c');

/** Where node_api.h is: beside the running runtime (every Node install ships include/node). */
function nodeHeaders() {
  const candidates = [join(dirname(process.execPath), '..', 'include', 'node'), '/usr/include/node', '/usr/local/include/node'];
  return candidates.find((d) => existsSync(join(d, 'node_api.h')));
}

/** Builds the addon unless it is newer than its source; never throws (warns instead). */
export function buildNative({ force = false } = {}) {
  if (process.platform !== 'linux') return false; // SO_ORIGINAL_DST is Linux netfilter's.
  if (!force && existsSync(ADDON) && statSync(ADDON).mtimeMs >= statSync(SOURCE).mtimeMs) return true;
  const include = nodeHeaders();
  if (!include) {
    console.warn('build: no node_api.h found beside this Node; skipped the SO_ORIGINAL_DST addon (traffic capture will not work).');
    return false;
  }
  const cc = process.env.CC || 'cc';
  mkdirSync(join(here, 'build'), { recursive: true });
  const tmp = `${ADDON}.${process.pid}.tmp`;
  const r = spawnSync(cc, ['-shared', '-fPIC', '-O2', '-Wall', `-I${include}`, '-DNODE_GYP_MODULE_NAME=so_original_dst', '-o', tmp, SOURCE], { encoding: 'utf8' });
  if (r.error || r.status !== 0) {
    const why = r.error ? `${cc}: ${r.error.code === 'ENOENT' ? 'not found' : r.error.message}` : r.stderr.trim();
    console.warn(`build: could not compile the SO_ORIGINAL_DST addon (${why}). tsmesh works without it except traffic capture (tsmesh init + REDIRECT sidecars): install a C compiler (apt-get install -y gcc) and run npm install again.`);
    return false;
  }
  // Renamed into place: a proxy starting meanwhile never loads a half-written file.
  renameSync(tmp, ADDON);
  console.log(`build: native/build/so_original_dst.node compiled (${cc}, headers ${include})`);
  return true;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) buildNative({ force: process.argv.includes('--force') });
