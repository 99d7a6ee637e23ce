/**
 * Istio's "Request Routing" task (tasks/traffic-management/request-routing), with Istio's own
 * Bookinfo YAML unmodified, every request through the ingress gateway to /productpage.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ISTIO_BOOKINFO_CONFIGS, ISTIO_NETWORKING, NO_ISTIO_DATA, loadPages, login, startIstioDemo } from '../helpers/demo.ts';

test("request routing: virtual-service-all-v1 → no stars; reviews-test-v2 → jason sees black stars, others none", { skip: NO_ISTIO_DATA, timeout: 600_000 }, async (t) => {
  const demo = await startIstioDemo(t, { configs: ISTIO_BOOKINFO_CONFIGS });

  await demo.applyFile(`${ISTIO_NETWORKING}/virtual-service-all-v1.yaml`);
  const v1 = await loadPages(demo, 50);
  assert.deepEqual(Object.fromEntries(v1), { 'no-stars': 50 }, 'all-v1: every page load shows reviews without stars');

  await demo.applyFile(`${ISTIO_NETWORKING}/virtual-service-reviews-test-v2.yaml`);
  const cookie = await login(demo, 'jason');
  const jason = await loadPages(demo, 20, cookie);
  assert.deepEqual(Object.fromEntries(jason), { black: 20 }, 'jason: black stars (reviews v2) on every load');
  const anonymous = await loadPages(demo, 20);
  assert.deepEqual(Object.fromEntries(anonymous), { 'no-stars': 20 }, 'not signed in: reviews v1, no stars');
  const other = await loadPages(demo, 20, await login(demo, 'alice'));
  assert.deepEqual(Object.fromEntries(other), { 'no-stars': 20 }, 'another user: reviews v1, no stars');
});
