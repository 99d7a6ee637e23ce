/**
 * Issue 15, acceptance 4: while page loads go through the ingress gateway to Bookinfo,
 *  - one of two control-plane replicas is SIGKILLed: the proxies fail over to the other, which
 *    then pushes a VirtualService applied after the kill;
 *  - the whole control plane is SIGKILLed and started again, then the API server is restarted:
 *    the routing set before holds throughout, and a VirtualService applied afterwards reaches the
 *    proxies (nothing lost, pushes flow, the informers came back from the API server restart);
 * and no page load fails at any point.
 *
 * Everything is real: kube-apiserver, etcd and the controller manager, `kubectl apply` of Istio's
 * unmodified Bookinfo files into an injection-labelled namespace, the node agent running the pods
 * and their sidecars inside a network namespace the test creates (test/helpers/kube_mesh.ts).
 * The sidecars' xDS cluster lists both replicas (src/kube/node/sidecar.ts, xdsReplicas), as
 * Istio's reach every istiod behind its Service.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { reviewsView, type ReviewsView } from '../helpers/demo.ts';
import { ISTIO_DATA } from '../helpers/istio_data.ts';
import { startKubeMesh, type KubeMesh } from '../helpers/kube_mesh.ts';

const BOOKINFO = `${ISTIO_DATA}/samples/bookinfo/platform/kube/bookinfo.yaml`;
const NETWORKING = `${ISTIO_DATA}/samples/bookinfo/networking`;
const NO_BOOKINFO = existsSync(BOOKINFO) ? false : `Istio's samples are not in ${ISTIO_DATA}/samples`;
/** details, ratings, reviews v1-v3, productpage. */
const BOOKINFO_PODS = 6;
const PODS_READY_MS = 120_000;
const CONVERGE_MS = 60_000;
/** The load: sequential page loads in batches, bounded by a count and a time. */
const BATCH = 5;
const MAX_PAGES = 3000;
const MAX_LOAD_MS = 150_000;

interface Page {
  status: number;
  view: ReviewsView;
  body: string;
}

let mesh: KubeMesh | undefined;
let gateway = '';

function tail(text: string, lines = 60): string {
  return text.split('\n').slice(-lines).join('\n');
}

const kubectl = (args: string[], input?: string): Promise<string> => mesh!.kubectlOk(args, input);

async function pages(n: number): Promise<Page[]> {
  const rs = await mesh!.http(`${gateway}/productpage`, { count: n, timeoutMs: 30_000 });
  return rs.map((r) => ({ status: r.status, body: r.body, view: reviewsView({ status: r.status, body: r.body, headers: r.headers, ms: 0 }) }));
}

function views(ps: Page[]): Map<ReviewsView, number> {
  const m = new Map<ReviewsView, number>();
  for (const p of ps) m.set(p.view, (m.get(p.view) ?? 0) + 1);
  return m;
}

/** Page loads a user would call failed: no 200, or a product page without its reviews or ratings. */
function failures(ps: Page[]): string[] {
  return ps.flatMap((p, i) => (p.status === 200 && p.view !== 'error' && p.view !== 'reviews-unavailable' && p.view !== 'ratings-unavailable' ? [] : [`#${i}: ${p.status} ${p.view} ${p.body.slice(0, 120)}`]));
}

/** Polls until `check` is true (bounded); the error names what, the last thing seen and the mesh's output. */
async function until(what: string, check: () => Promise<boolean | string>, timeoutMs = CONVERGE_MS): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: boolean | string = false;
  for (;;) {
    last = await check().catch((err: Error) => `error: ${err.message}`);
    if (last === true) return;
    if (Date.now() > deadline) throw new Error(`${what}: not seen within ${timeoutMs / 1000} s (last: ${String(last)})\n--- mesh output (tail) ---\n${tail(mesh!.output())}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

const allViews = async (view: ReviewsView, n = 10): Promise<boolean | string> => {
  const got = views(await pages(n));
  return got.get(view) === n || JSON.stringify([...got]);
};

/**
 * Page loads through the gateway in the background, one batch after another, until stop() (or
 * the count or time bound). `next(what)` resolves once a further batch has completed, so each
 * step of a test is known to have had traffic across it.
 */
function startLoad() {
  const done: Page[] = [];
  const steps: string[] = [];
  const t0 = Date.now();
  const waiters: Array<() => void> = [];
  let stopping = false;
  const deadline = Date.now() + MAX_LOAD_MS;
  const running = (async () => {
    while (!stopping && done.length < MAX_PAGES && Date.now() < deadline) {
      done.push(...(await pages(BATCH)));
      for (const w of waiters.splice(0)) w();
    }
    stopping = true;
    for (const w of waiters.splice(0)) w();
  })();
  return {
    async next(what: string): Promise<void> {
      if (stopping) throw new Error(`${what}: the load stopped at its bound (${done.length} pages)`);
      await new Promise<void>((r) => waiters.push(r));
      if (stopping) throw new Error(`${what}: the load stopped at its bound (${done.length} pages)`);
      steps.push(`${what}: ${done.length} pages at ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    },
    /** What happened when, for the test's diagnostics (never asserted). */
    steps,
    get count() {
      return done.length;
    },
    async stop(): Promise<Page[]> {
      stopping = true;
      await running;
      return done;
    },
  };
}

/** Replica i's HTTP port, from the demo's "control plane i (Kubernetes mode) ready: …, HTTP 127.0.0.1:<port>" line. */
function replicaHttp(i: number): string {
  const m = new RegExp(`control plane ${i} \\(Kubernetes mode\\) ready: xDS [^,]+, HTTP (\\S+),`).exec(mesh!.output());
  if (!m) throw new Error(`no ready line for control plane ${i} in the mesh output:\n${tail(mesh!.output())}`);
  return `http://${m[1]}`;
}

/** The proxies (by workload: productpage-v1, istio-ingressgateway) streaming ADS from replica i now (its /debug/connections); none when it is down. */
async function proxiesOn(i: number, apps: string[]): Promise<string[]> {
  const [r] = await mesh!.http(`${replicaHttp(i)}/debug/connections`, { timeoutMs: 5000 });
  if (r?.status !== 200) return [];
  const ids = (JSON.parse(r.body) as Array<{ proxyId: string }>).map((c) => c.proxyId);
  return apps.filter((app) => ids.some((id) => new RegExp(`^(sidecar|router)~[^~]+~${app}-`).test(id)));
}

describe('Kubernetes mode under load: control plane replica failover, control plane and API server restarts', { timeout: 360_000, skip: NO_BOOKINFO }, () => {
  // Registered here, not from inside before(): node:test runs an after() added in a hook when that hook ends.
  after(() => mesh?.close());
  before(async () => {
    mesh = await startKubeMesh({ replicas: 2 });
    // Istio's "Before you begin": injection on, Bookinfo, its gateway and subsets, all reviews on v1.
    await kubectl(['label', 'namespace', 'default', 'istio-injection=enabled', '--overwrite']);
    await kubectl(['apply', '-f', BOOKINFO]);
    await kubectl(['apply', '-f', `${NETWORKING}/bookinfo-gateway.yaml`]);
    await kubectl(['apply', '-f', `${NETWORKING}/destination-rule-all.yaml`]);
    await kubectl(['apply', '-f', `${NETWORKING}/virtual-service-all-v1.yaml`]);
    await mesh.waitForPods('default', 'app in (productpage,details,reviews,ratings)', { count: BOOKINFO_PODS, timeoutMs: PODS_READY_MS });
    gateway = await mesh.gatewayUrl();
    await until('every page through the gateway with reviews v1 (no stars)', () => allViews('no-stars'));
  });

  test('one of two control-plane replicas killed: the proxies fail over, no page load fails, a change after the kill reaches them', async (t) => {
    const m = mesh!;
    const proxies = ['productpage-v1', 'istio-ingressgateway'];
    // The proxies' gRPC target lists replica 0 first, so they all stream from it.
    await until('the productpage sidecar and the gateway streaming from replica 0', async () => (await proxiesOn(0, proxies)).length === 2 || 'not yet');

    const load = startLoad();
    await load.next('load before the kill');
    await m.controlPlane(0).kill('SIGKILL');
    await load.next('load after the kill');
    await until('the productpage sidecar and the gateway reconnected to replica 1', async () => (await proxiesOn(1, proxies)).length === 2 || 'not yet');
    await load.next('load after the failover');

    // The webhook configurations name replica 0's webhook server (there is no Service VIP without
    // kube-proxy) and validation fails closed, so it comes back before the change is applied; the
    // proxies stay on replica 1, which pushes the change.
    await m.controlPlane(0).start();
    await kubectl(['apply', '-f', `${NETWORKING}/virtual-service-reviews-v3.yaml`]);
    await until('every page with reviews v3 (red stars), pushed by replica 1', () => allViews('red'));
    await load.next('load after the change');
    const ps = await load.stop();
    t.diagnostic(`${ps.length} page loads; ${load.steps.join('; ')}`);

    assert.deepEqual(failures(ps), [], `of ${ps.length} page loads through the gateway, these failed`);
    const firstRed = ps.findIndex((p) => p.view === 'red');
    assert.deepEqual([...views(firstRed === -1 ? ps : ps.slice(0, firstRed)).keys()], ['no-stars'], 'reviews v1 until the change');
    assert.equal(ps.at(-1)!.view, 'red', 'the last page load shows the change');
    assert.deepEqual(await proxiesOn(0, proxies), [], 'the proxies stayed on replica 1: the change came from it');
    assert.deepEqual(await proxiesOn(1, proxies), proxies);
  });

  test('the control plane SIGKILLed and started again, then the API server restarted: no page load fails, nothing is lost, pushes flow', async (t) => {
    const m = mesh!;
    // Where the previous test left it (unchanged then), so this test also runs alone.
    await kubectl(['apply', '-f', `${NETWORKING}/virtual-service-reviews-v3.yaml`]);
    await until('every page with reviews v3 (red stars) before the restarts', () => allViews('red'));
    const load = startLoad();
    await load.next('load before the kill');

    await Promise.all([m.controlPlane(0).kill('SIGKILL'), m.controlPlane(1).kill('SIGKILL')]);
    // With no control plane at all, the proxies serve from the config they have.
    await load.next('load with no control plane');
    await load.next('load with no control plane');
    await Promise.all([m.controlPlane(0).start(), m.controlPlane(1).start()]);
    const proxies = ['productpage-v1', 'istio-ingressgateway'];
    await until('the productpage sidecar and the gateway streaming from the restarted replicas', async () => new Set([...(await proxiesOn(0, proxies)), ...(await proxiesOn(1, proxies))]).size === 2 || 'not yet');
    await load.next('load once the control plane is back');

    await m.restartApiServer();
    await load.next('load once the API server is back');

    // A change made now (through the restarted API server, to the restarted replicas' informers) reaches the sidecars.
    await kubectl(['apply', '-f', `${NETWORKING}/virtual-service-all-v1.yaml`]);
    await until('every page with reviews v1 (no stars) after the restarts', () => allViews('no-stars'));
    await load.next('load after the change');
    const ps = await load.stop();
    t.diagnostic(`${ps.length} page loads; ${load.steps.join('; ')}`);

    assert.deepEqual(failures(ps), [], `of ${ps.length} page loads through the gateway, these failed`);
    // The routing set before the restarts held until the change made after them.
    const firstV1 = ps.findIndex((p) => p.view === 'no-stars');
    assert.deepEqual([...views(firstV1 === -1 ? ps : ps.slice(0, firstV1)).keys()], ['red'], 'reviews v3 until the change');
    assert.equal(ps.at(-1)!.view, 'no-stars', 'the last page load shows the change');
  });
});
