/**
 * Istio's "Fault Injection" task (tasks/traffic-management/fault-injection): with
 * virtual-service-all-v1 and virtual-service-reviews-test-v2 applied, jason's calls to ratings
 * get a 7 s delay (virtual-service-ratings-test-delay.yaml) or an HTTP 500
 * (virtual-service-ratings-test-abort.yaml). Istio's files, unmodified; every request through
 * the ingress gateway.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ISTIO_BOOKINFO_CONFIGS, ISTIO_NETWORKING, NO_ISTIO_DATA, login, reviewsView, startIstioDemo } from '../helpers/demo.ts';

test('fault injection: a 7 s delay for jason breaks his reviews after ~6 s; an abort shows ratings unavailable', { skip: NO_ISTIO_DATA, timeout: 600_000 }, async (t) => {
  const demo = await startIstioDemo(t, { configs: ISTIO_BOOKINFO_CONFIGS });
  await demo.applyFile(`${ISTIO_NETWORKING}/virtual-service-all-v1.yaml`);
  await demo.applyFile(`${ISTIO_NETWORKING}/virtual-service-reviews-test-v2.yaml`);
  const cookie = await login(demo, 'jason');
  assert.equal(reviewsView(await demo.get('/productpage', { headers: { cookie } })), 'black', 'before any fault jason sees black stars');

  await t.test('delay: virtual-service-ratings-test-delay.yaml', async () => {
    await demo.applyFile(`${ISTIO_NETWORKING}/virtual-service-ratings-test-delay.yaml`);
    // productpage → reviews has a 3 s timeout and one retry; reviews v2 waits on ratings, which
    // is delayed 7 s for jason: both tries time out, so the page answers after about 6 s.
    const r = await demo.get('/productpage', { headers: { cookie }, timeoutMs: 30_000 });
    assert.equal(r.status, 200);
    assert.ok(r.body.includes('Sorry, product reviews are currently unavailable for this book.'), 'the page says reviews are unavailable');
    assert.ok(r.ms >= 5900, `answers after about 6 s (2 tries × 3 s), took ${Math.round(r.ms)} ms`);
    assert.ok(r.ms < 12_000, `answers after about 6 s, not after the full delay chain; took ${Math.round(r.ms)} ms`);

    // Others are not delayed: reviews v1 without stars.
    const anon = await demo.get('/productpage');
    assert.equal(reviewsView(anon), 'no-stars');
    assert.ok(anon.ms < 5000, `not signed in: no 7 s delay, took ${Math.round(anon.ms)} ms`);
  });

  await t.test('abort: virtual-service-ratings-test-abort.yaml', async () => {
    await demo.applyFile(`${ISTIO_NETWORKING}/virtual-service-ratings-test-abort.yaml`);
    for (let i = 0; i < 5; i++) {
      const r = await demo.get('/productpage', { headers: { cookie } });
      assert.equal(r.status, 200);
      assert.equal(reviewsView(r), 'ratings-unavailable', `load ${i + 1}: jason sees "Ratings service is currently unavailable"`);
      assert.ok(r.body.includes('Ratings service is currently unavailable'));
      assert.ok(r.ms < 5000, `an abort answers without the delay, took ${Math.round(r.ms)} ms`);
    }
    for (let i = 0; i < 5; i++) assert.equal(reviewsView(await demo.get('/productpage')), 'no-stars', 'others: reviews v1, no ratings call');
  });
});
