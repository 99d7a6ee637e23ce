/**
 * README's layout table names every folder under src/, test/, bench/, samples/ and scripts/, so
 * a newcomer finds each one explained (and a new folder is explained when it is added).
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { REPO } from '../helpers/processes.ts';

function folders(dir: string, out: string[] = []): string[] {
  for (const e of readdirSync(join(REPO, dir), { withFileTypes: true })) {
    if (!e.isDirectory() || e.name === 'node_modules' || e.name.startsWith('.')) continue;
    const sub = `${dir}/${e.name}`;
    out.push(sub);
    folders(sub, out);
  }
  return out;
}

test("README's layout section lists every folder", () => {
  const readme = readFileSync(join(REPO, 'README.md'), 'utf8');
  const start = readme.indexOf('## Layout');
  assert.ok(start >= 0, 'README has a Layout section');
  const section = readme.slice(start, readme.indexOf('\n## ', start + 1));
  const named = new Set([...section.matchAll(/`([a-z][\w./-]*)\/`/g)].map((m) => m[1]));
  const all = ['src', 'test', 'bench', 'samples', 'scripts'].flatMap((top) => [top, ...folders(top)]);
  assert.deepEqual(all.filter((f) => !named.has(f)), []);
});
