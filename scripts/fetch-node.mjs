#!/usr/bin/env node
// Fetches the newest Node.js release of a major version from npm's node-<platform>-<arch>
// package (the binaries nodejs.org ships, republished on npm), unpacks it once into a cache
// directory, and prints the directory holding `node`. CI puts it first in PATH to test each
// major of the range package.json's engines declares.
// Usage: node scripts/fetch-node.mjs <major>   (cache: $TSMESH_NODE_CACHE or ~/.cache/tsmesh/node)
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

const major = process.argv[2];
if (!/^\d+$/.test(major ?? '')) {
  console.error('usage: node scripts/fetch-node.mjs <major>');
  process.exit(2);
}
const pkg = `node-${process.platform}-${process.arch}`;
const cache = process.env.TSMESH_NODE_CACHE ?? join(homedir(), '.cache', 'tsmesh', 'node');

function npm(args, cwd) {
  const r = spawnSync('npm', args, { cwd, encoding: 'utf8', timeout: 300_000 });
  if (r.status !== 0) {
    console.error(`npm ${args.join(' ')} failed:\n${r.stderr || r.error?.message}`);
    process.exit(1);
  }
  return r.stdout.trim();
}

const versions = JSON.parse(npm(['view', `${pkg}@${major}`, 'version', '--json']));
const version = Array.isArray(versions) ? versions.at(-1) : versions;
const dir = join(cache, `${pkg}-${version}`);
const bin = join(dir, 'package', 'bin');
if (!existsSync(join(bin, 'node'))) {
  const tmp = `${dir}.tmp-${process.pid}`;
  mkdirSync(tmp, { recursive: true });
  npm(['pack', `${pkg}@${version}`, '--pack-destination', tmp, '--silent'], tmp);
  const tgz = readdirSync(tmp).find((f) => f.endsWith('.tgz'));
  const t = spawnSync('tar', ['xzf', join(tmp, tgz), '-C', tmp]);
  if (t.status !== 0) {
    console.error(`cannot unpack ${tgz}: ${t.stderr}`);
    process.exit(1);
  }
  rmSync(join(tmp, tgz));
  rmSync(dir, { recursive: true, force: true });
  renameSync(tmp, dir);
}
console.log(bin);
