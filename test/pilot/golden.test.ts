/**
 * Golden files: everything Bookinfo's productpage sidecar receives (CDS, EDS, LDS, RDS), for the
 * base install and for each sample in samples/bookinfo/networking applied on top. Regenerate with
 * UPDATE_GOLDEN=1 after an intended change and review the diff.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { checkConsistency } from '../../src/pilot/consistency.ts';
import { generate } from '../../src/pilot/generator.ts';
import { stableStringify } from '../../src/pilot/util.ts';
import { TYPE } from '../../src/xds/types.ts';
import { BOOKINFO_NETWORKING, bookinfoPush, bookinfoProxy } from './fixtures.ts';

const GOLDEN_DIR = join(import.meta.dirname, 'testdata', 'golden');
const UPDATE = process.env.UPDATE_GOLDEN === '1';

/** Samples that route to subsets without defining them need the subsets from destination-rule-all. */
function filesFor(sample: string): string[] {
  const text = readFileSync(join(BOOKINFO_NETWORKING, sample), 'utf8');
  return /subset:/.test(text) && !/kind: DestinationRule/.test(text) ? ['destination-rule-all.yaml', sample] : [sample];
}

function render(files: string[]): string {
  const { push, workloads } = bookinfoPush(files);
  const proxy = bookinfoProxy(workloads, 'productpage');
  const set = {
    clusters: generate(push, proxy, TYPE.CLUSTER),
    endpoints: generate(push, proxy, TYPE.ENDPOINT),
    listeners: generate(push, proxy, TYPE.LISTENER),
    routes: generate(push, proxy, TYPE.ROUTE),
  };
  assert.deepEqual(checkConsistency(set), [], `inconsistent output for ${files.join(' + ') || 'base'}`);
  const asMap = (rs: typeof set.clusters) => Object.fromEntries(rs.map((r) => [r.name, r.resource]));
  return stableStringify({ clusters: asMap(set.clusters), endpoints: asMap(set.endpoints), listeners: asMap(set.listeners), routes: asMap(set.routes) }, 2) + '\n';
}

function checkGolden(name: string, files: string[]): void {
  const path = join(GOLDEN_DIR, `${name}.json`);
  const got = render(files);
  assert.equal(render(files), got, 'generation is not deterministic');
  if (UPDATE || !existsSync(path)) {
    if (!UPDATE) assert.fail(`golden ${path} missing; run with UPDATE_GOLDEN=1`);
    mkdirSync(GOLDEN_DIR, { recursive: true });
    writeFileSync(path, got);
    return;
  }
  assert.equal(got, readFileSync(path, 'utf8'), `${name} differs from its golden file; rerun with UPDATE_GOLDEN=1 if intended`);
}

test('golden: bookinfo base, productpage sidecar', () => checkGolden('bookinfo-base', []));

for (const sample of readdirSync(BOOKINFO_NETWORKING).filter((f) => f.endsWith('.yaml')).sort()) {
  const files = filesFor(sample);
  test(`golden: bookinfo + ${files.join(' + ')}`, () => checkGolden(`bookinfo-${sample.replace(/\.yaml$/, '')}`, files));
}
