/**
 * Istio's "Traffic Shifting" task (tasks/traffic-management/traffic-shifting): weighted routes
 * between reviews versions, with Istio's files unmodified, counted over 400 page loads through
 * the ingress gateway. Tolerances are 4 or more standard deviations of a binomial count: at 3
 * (200 loads) one CI run in a few dozen failed by chance (122 of 200 at 50/50).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { ISTIO_BOOKINFO_CONFIGS, ISTIO_NETWORKING, NO_ISTIO_DATA, loadPages, startIstioDemo, type ReviewsView } from '../helpers/demo.ts';

const N = 400;
const VIEW_OF_SUBSET: Record<string, ReviewsView> = { v1: 'no-stars', v2: 'black', v3: 'red' };

/** What a file actually routes: subset → weight, read from the file itself. */
function weights(file: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const doc of parseAllDocuments(readFileSync(file, 'utf8'))) {
    const vs = doc.toJS();
    if (vs?.kind !== 'VirtualService') continue;
    for (const d of vs.spec.http[0].route) out.set(d.destination.subset, d.weight ?? 100);
  }
  return out;
}

test('traffic shifting: reviews-50-v3, reviews-80-20 and reviews-90-10 split page loads by weight', { skip: NO_ISTIO_DATA, timeout: 900_000 }, async (t) => {
  const demo = await startIstioDemo(t, { configs: ISTIO_BOOKINFO_CONFIGS });
  await demo.applyFile(`${ISTIO_NETWORKING}/virtual-service-all-v1.yaml`);
  assert.deepEqual(Object.fromEntries(await loadPages(demo, 10)), { 'no-stars': 10 }, 'all-v1 first, as the task does');

  const cases: Array<[string, number]> = [
    // file, tolerance in percentage points for each weight
    ['virtual-service-reviews-50-v3.yaml', 10],
    ['virtual-service-reviews-80-20.yaml', 8],
    ['virtual-service-reviews-90-10.yaml', 7],
  ];
  for (const [file, tolerance] of cases) {
    await t.test(file, async () => {
      const w = weights(`${ISTIO_NETWORKING}/${file}`);
      assert.ok(w.size === 2, `${file} splits between two subsets: ${JSON.stringify([...w])}`);
      await demo.applyFile(`${ISTIO_NETWORKING}/${file}`);
      const counts = await loadPages(demo, N);
      const total = [...w.values()].reduce((a, b) => a + b, 0);
      const seen = Object.fromEntries(counts);
      for (const [view, n] of counts) assert.ok([...w.keys()].some((s) => VIEW_OF_SUBSET[s] === view), `${file}: unexpected page "${view}" ×${n}: ${JSON.stringify(seen)}`);
      for (const [subset, weight] of w) {
        const view = VIEW_OF_SUBSET[subset]!;
        const pct = (100 * (counts.get(view) ?? 0)) / N;
        const want = (100 * weight) / total;
        assert.ok(Math.abs(pct - want) <= tolerance, `${file}: reviews ${subset} (${view}) on ${pct}% of ${N} loads, want ${want}% ± ${tolerance}: ${JSON.stringify(seen)}`);
      }
    });
  }
});
