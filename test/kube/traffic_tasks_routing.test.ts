/**
 * Istio's "Request Routing" and "Fault Injection" tasks (tasks/traffic-management/request-routing,
 * fault-injection) in Kubernetes mode: Bookinfo from Istio's bookinfo.yaml in a namespace labelled
 * istio-injection=enabled, and each task's networking files applied with `kubectl apply -f`,
 * unmodified; every page through the ingress gateway. The same outcomes as the file-based demo's
 * tests (test/integration/istio_request_routing.test.ts, istio_fault_injection.test.ts).
 *
 * One mesh for the file; the tests run in order and build on each other as the tasks do (fault
 * injection starts from request routing's all-v1 + reviews-test-v2).
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { BOOKINFO_NETWORKING, NO_BOOKINFO, startBookinfo, type Bookinfo } from '../helpers/kube_bookinfo.ts';
import { NO_NETNS } from '../helpers/netns.ts';

const skip = NO_NETNS || NO_BOOKINFO;
let b: Bookinfo;
let jason: string;

before(async () => {
  if (skip) return;
  b = await startBookinfo();
}, { timeout: 240_000 });

after(async () => {
  await b?.close();
});

test('request routing: virtual-service-all-v1 → every page shows reviews v1 (no stars)', { skip, timeout: 120_000 }, async () => {
  await b.apply(`${BOOKINFO_NETWORKING}/virtual-service-all-v1.yaml`);
  // Until then reviews is round-robin over v1-v3: wait for a run of v1 pages, then count.
  await b.until('all-v1 routing', async () => {
    const seen = await b.pages(10);
    return seen.get('no-stars') === 10 || JSON.stringify(Object.fromEntries(seen));
  });
  assert.deepEqual(Object.fromEntries(await b.pages(50)), { 'no-stars': 50 }, 'all-v1: every page load shows reviews without stars');
});

test('request routing: virtual-service-reviews-test-v2 → jason sees black stars (v2), others none', { skip, timeout: 120_000 }, async () => {
  await b.apply(`${BOOKINFO_NETWORKING}/virtual-service-reviews-test-v2.yaml`);
  // Signed in, productpage sends `end-user: jason`, which the route matches.
  jason = await b.login('jason');
  await b.until('jason routed to reviews v2', async () => {
    const [p] = await b.load(1, { cookie: jason });
    return p!.view === 'black' || p!.view;
  });
  assert.deepEqual(Object.fromEntries(await b.pages(20, { cookie: jason })), { black: 20 }, 'jason: black stars (reviews v2) on every load');
  assert.deepEqual(Object.fromEntries(await b.pages(20)), { 'no-stars': 20 }, 'not signed in: reviews v1, no stars');
  const alice = await b.login('alice');
  assert.deepEqual(Object.fromEntries(await b.pages(20, { cookie: alice })), { 'no-stars': 20 }, 'another user: reviews v1, no stars');
});

test("fault injection: ratings delayed 7 s for jason → productpage's reviews call times out and the page says reviews are unavailable", { skip, timeout: 150_000 }, async (t) => {
  assert.ok(jason, 'request routing ran first and signed jason in');
  await b.apply(`${BOOKINFO_NETWORKING}/virtual-service-ratings-test-delay.yaml`);
  // productpage → reviews has a 3 s timeout and one retry; reviews v2 waits on ratings, delayed
  // 7 s for jason: both tries time out and the page answers without reviews (after about 6 s).
  await b.until(
    'the delay for jason',
    async () => {
      const [p] = await b.load(1, { cookie: jason, timeoutMs: 30_000 });
      return p!.view === 'reviews-unavailable' || p!.view;
    },
    90_000,
  );
  const t0 = performance.now();
  const [p] = await b.load(1, { cookie: jason, timeoutMs: 30_000 });
  t.diagnostic(`jason's page with the delay: ${Math.round(performance.now() - t0)} ms`);
  assert.equal(p!.status, 200);
  assert.ok(p!.body.includes('Sorry, product reviews are currently unavailable for this book.'), 'the page says reviews are unavailable');
  // Only jason's calls are delayed: others get reviews v1 as before.
  assert.deepEqual(Object.fromEntries(await b.pages(5)), { 'no-stars': 5 }, 'not signed in: reviews v1, no stars, no fault');
});

test('fault injection: ratings aborted with HTTP 500 for jason → "Ratings service is currently unavailable"', { skip, timeout: 120_000 }, async () => {
  assert.ok(jason, 'request routing ran first and signed jason in');
  await b.apply(`${BOOKINFO_NETWORKING}/virtual-service-ratings-test-abort.yaml`);
  await b.until('the abort for jason', async () => {
    const [p] = await b.load(1, { cookie: jason, timeoutMs: 30_000 });
    return p!.view === 'ratings-unavailable' || p!.view;
  });
  const pages = await b.load(5, { cookie: jason });
  for (const [i, p] of pages.entries()) {
    assert.equal(p.status, 200);
    assert.equal(p.view, 'ratings-unavailable', `load ${i + 1}: jason sees "Ratings service is currently unavailable"`);
  }
  assert.deepEqual(Object.fromEntries(await b.pages(5)), { 'no-stars': 5 }, 'others: reviews v1, no ratings call');
});
