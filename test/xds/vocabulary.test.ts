/**
 * Issue 7, "one home for shared vocabulary": src/xds is the ADS machinery and knows nothing of
 * pilot (its Generator, snapshot and proxy types are generic), and Envoy type URLs are spelled
 * only in src/xds/type_urls.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

function sources(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) sources(p, out);
    else if (name.endsWith('.ts')) out.push(p);
  }
  return out;
}

test('nothing in src/xds imports src/pilot', () => {
  const offenders = sources('src/xds').filter((f) => /from '[^']*\/pilot\//.test(readFileSync(f, 'utf8')));
  assert.deepEqual(offenders, []);
});

test('no type.googleapis.com literal in src/pilot or src/xds outside type_urls.ts', () => {
  const offenders = [...sources('src/pilot'), ...sources('src/xds')]
    .filter((f) => !f.endsWith('type_urls.ts'))
    .filter((f) => readFileSync(f, 'utf8').includes('type.googleapis.com/'));
  assert.deepEqual(offenders, []);
});
