/**
 * Istio's "Ingress Gateways" task with Bookinfo's bookinfo-gateway.yaml (unmodified): the
 * gateway exposes /productpage, /static/..., /login, /logout and /api/v1/products..., and
 * nothing else: every other path is a 404 from the gateway itself.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ISTIO_BOOKINFO_CONFIGS, NO_ISTIO_DATA, reviewsView, startIstioDemo } from '../helpers/demo.ts';

test("ingress: Istio's bookinfo-gateway.yaml exposes productpage's paths and nothing else", { skip: NO_ISTIO_DATA, timeout: 600_000 }, async (t) => {
  const demo = await startIstioDemo(t, { configs: ISTIO_BOOKINFO_CONFIGS });

  await t.test('exposed paths reach productpage', async () => {
    const page = await demo.get('/productpage');
    assert.equal(page.status, 200);
    assert.match(String(page.headers['content-type']), /text\/html/);
    assert.ok(['no-stars', 'black', 'red'].includes(reviewsView(page)), `the page shows reviews: ${reviewsView(page)}`);
    assert.ok(page.body.includes('The Comedy of Errors'), 'details are on the page');

    const css = await demo.get('/static/bookinfo.css');
    assert.equal(css.status, 200);
    assert.match(String(css.headers['content-type']), /css/);

    const products = await demo.get('/api/v1/products');
    assert.equal(products.status, 200);
    assert.ok(Array.isArray(JSON.parse(products.body)), '/api/v1/products is a JSON list');
    const reviews = await demo.get('/api/v1/products/0/reviews');
    assert.equal(reviews.status, 200, '/api/v1/products is a prefix');

    const login = await demo.get('/login', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'username=jason&passwd=x' });
    assert.equal(login.status, 302, 'POST /login signs in and redirects');
    assert.match(String(login.headers['set-cookie']), /session=/);
    const getLogin = await demo.get('/login');
    assert.equal(getLogin.status, 405, 'GET /login reaches productpage, which takes POST only (as Flask answers)');
    assert.notEqual(getLogin.headers['x-envoy-upstream-service-time'], undefined, 'GET /login was routed upstream');
    const logout = await demo.get('/logout');
    assert.equal(logout.status, 302, '/logout redirects');
  });

  await t.test('everything else is a 404 from the gateway', async () => {
    for (const path of ['/', '/details/0', '/reviews/0', '/ratings/0', '/health', '/productpage/x', '/productpagex', '/loginx', '/api/v1', '/api/v2/products', '/metrics']) {
      const r = await demo.get(path);
      assert.equal(r.status, 404, `${path}: ${r.status}`);
      // The gateway's own 404 (no route): no upstream answered.
      assert.equal(r.headers['x-envoy-upstream-service-time'], undefined, `${path} reached an upstream`);
    }
    // Other methods on exposed paths still route (the VirtualService matches on the URI only).
    const r = await demo.get('/productpage', { method: 'HEAD' });
    assert.equal(r.status, 200);
  });
});
