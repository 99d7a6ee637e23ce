/**
 * Istio's "Authorization for HTTP traffic" task (tasks/security/authorization/authz-http) on
 * Bookinfo, every request through the ingress gateway: allow-nothing denies everything with
 * `RBAC: access denied`; productpage-viewer lets the page load with details and reviews refused;
 * details-viewer and reviews-viewer admit productpage's identity (its mTLS principal) so only
 * ratings is refused; ratings-viewer admits reviews' identity and the stars come back. The
 * policies are the task's, as its page lists them; Bookinfo's files are Istio's, unmodified.
 * reviews is pinned to v3 (Istio's virtual-service-reviews-v3.yaml) so every page calls ratings.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ISTIO_BOOKINFO_CONFIGS, ISTIO_NETWORKING, NO_ISTIO_DATA, reviewsView, startIstioDemo, type HttpResponse, type IstioDemo, type RequestOptions } from '../helpers/demo.ts';

const policy = (name: string, spec: string) => `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: ${name}
  namespace: default
spec:
${spec}`;

const ALLOW_NOTHING = policy('allow-nothing', '  {}\n');
const viewer = (name: string, app: string, principal?: string) =>
  policy(
    name,
    `  selector:
    matchLabels:
      app: ${app}
  action: ALLOW
  rules:
  - ${principal ? `from:\n    - source:\n        principals: ["${principal}"]\n    ` : ''}to:
    - operation:
        methods: ["GET"]
`,
  );

/**
 * The page once it shows what `ok` expects (or the last one after 30 s). A policy change reaches
 * a keep-alive connection that was open before it only after that connection's next response
 * (the old filter chain drains, as Envoy's does), so the first load after a change may still
 * see the previous policy; the task itself tells users to wait a few seconds.
 */
async function pageWhen(demo: IstioDemo, ok: (r: HttpResponse) => boolean, o: RequestOptions = {}): Promise<HttpResponse> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const r = await demo.get('/productpage', o);
    if (ok(r) || Date.now() > deadline) return r;
    await new Promise((res) => setTimeout(res, 200));
  }
}

test("Istio's HTTP authorization task on Bookinfo: allow-nothing, then per-service viewers by identity", { skip: NO_ISTIO_DATA, timeout: 600_000 }, async (t) => {
  const demo = await startIstioDemo(t, { configs: ISTIO_BOOKINFO_CONFIGS });
  await demo.applyFile(`${ISTIO_NETWORKING}/virtual-service-all-v1.yaml`);
  await demo.applyFile(`${ISTIO_NETWORKING}/virtual-service-reviews-v3.yaml`);
  assert.equal(reviewsView(await demo.get('/productpage')), 'red', 'before any policy: reviews v3 with red stars');

  await t.test('allow-nothing: every workload in default refuses', async () => {
    await demo.apply(ALLOW_NOTHING, 'allow-nothing.yaml');
    const r = await pageWhen(demo, (x) => x.status === 403);
    assert.equal(r.status, 403);
    assert.equal(r.body, 'RBAC: access denied');
  });

  await t.test('productpage-viewer: the page loads, details and reviews are refused', async () => {
    await demo.apply(viewer('productpage-viewer', 'productpage'), 'productpage-viewer.yaml');
    const r = await pageWhen(demo, (x) => x.status === 200);
    assert.equal(r.status, 200);
    assert.ok(r.body.includes('Error fetching product details!'), 'details refused');
    assert.ok(r.body.includes('Error fetching product reviews!'), 'reviews refused');
    // POST is not GET: the viewer policy does not admit it.
    const post = await pageWhen(demo, (x) => x.status === 403, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'x' });
    assert.equal(post.status, 403);
  });

  await t.test("details-viewer and reviews-viewer: productpage's identity is admitted, ratings still refused", async () => {
    await demo.apply(viewer('details-viewer', 'details', 'cluster.local/ns/default/sa/bookinfo-productpage'), 'details-viewer.yaml');
    await demo.apply(viewer('reviews-viewer', 'reviews', 'cluster.local/ns/default/sa/bookinfo-productpage'), 'reviews-viewer.yaml');
    const r = await pageWhen(demo, (x) => reviewsView(x) === 'ratings-unavailable');
    assert.equal(r.status, 200);
    assert.ok(!r.body.includes('Error fetching product details!'), 'details shown');
    assert.equal(reviewsView(r), 'ratings-unavailable', 'reviews shown, ratings refused');
  });

  await t.test("ratings-viewer: reviews' identity is admitted and the stars come back", async () => {
    await demo.apply(viewer('ratings-viewer', 'ratings', 'cluster.local/ns/default/sa/bookinfo-reviews'), 'ratings-viewer.yaml');
    assert.equal(reviewsView(await pageWhen(demo, (x) => reviewsView(x) === 'red')), 'red');
    // Once in effect it holds on every load.
    for (let i = 0; i < 5; i++) assert.equal(reviewsView(await demo.get('/productpage')), 'red');
  });

  await t.test('an identity other than the one admitted is refused', async () => {
    // ratings now admits only bookinfo-productpage: reviews (bookinfo-reviews) is refused again.
    await demo.apply(viewer('ratings-viewer', 'ratings', 'cluster.local/ns/default/sa/bookinfo-productpage'), 'ratings-viewer.yaml');
    assert.equal(reviewsView(await pageWhen(demo, (x) => reviewsView(x) === 'ratings-unavailable')), 'ratings-unavailable');
    for (let i = 0; i < 5; i++) assert.equal(reviewsView(await demo.get('/productpage')), 'ratings-unavailable');
  });

  await t.test('removing allow-nothing and the viewers restores the page', async () => {
    for (const n of ['allow-nothing', 'productpage-viewer', 'details-viewer', 'reviews-viewer', 'ratings-viewer']) await demo.delete(policy(n, '  {}\n'), `${n}.yaml`);
    assert.equal(reviewsView(await pageWhen(demo, (x) => reviewsView(x) === 'red')), 'red');
  });
});
