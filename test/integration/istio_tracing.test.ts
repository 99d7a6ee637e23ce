/**
 * Istio's "Distributed Tracing" task (tasks/observability/distributed-tracing) on the Bookinfo
 * demo: the demo traces 100% to the control plane's embedded Zipkin collector (Istio's demo
 * profile), every request goes through the ingress gateway, and the trace is read back through
 * Zipkin's API. Reviews is pinned to v3 (virtual-service-reviews-v3.yaml) so one page load
 * reaches ratings too.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { ISTIO_BOOKINFO_CONFIGS, ISTIO_NETWORKING, NO_ISTIO_DATA, startIstioDemo, type IstioDemo } from '../helpers/demo.ts';
import { until } from '../helpers/poll.ts';

interface Span {
  traceId: string;
  id: string;
  parentId?: string;
  name: string;
  kind: string;
  localEndpoint?: { serviceName?: string };
  tags?: Record<string, string>;
}

/** The workloads one product page touches, by their sidecar's (or the gateway's) service name prefix. */
const HOPS = ['istio-ingressgateway', 'productpage', 'details', 'reviews', 'ratings'];

const hex = (bytes: number) => randomBytes(bytes).toString('hex');

async function getJson<T>(url: string): Promise<T | undefined> {
  const r = await fetch(url, { signal: AbortSignal.timeout(5000) });
  return r.status === 200 ? ((await r.json()) as T) : undefined;
}

function servicesOf(spans: Span[]): string[] {
  return [...new Set(spans.map((s) => s.localEndpoint?.serviceName ?? '?'))].sort();
}

/** Which of HOPS have a span in `spans`. */
function hopsIn(spans: Span[]): string[] {
  const names = servicesOf(spans);
  return HOPS.filter((h) => names.some((n) => n.startsWith(`${h}.`)));
}

/** The trace `id` once spans from every hop have arrived (proxies flush every 5 s or 5 spans). */
async function fullTrace(zipkin: string, id: string): Promise<Span[]> {
  return until(async () => {
    const spans = await getJson<Span[]>(`${zipkin}/api/v2/trace/${id}`);
    return spans && hopsIn(spans).length === HOPS.length ? spans : undefined;
  }, `trace ${id} with spans from ${HOPS.join(', ')}`, 30_000, 250);
}

/** The one trace whose gateway span has `marker` in its http.url. */
async function traceByMarker(zipkin: string, marker: string): Promise<Span[]> {
  const found = await until(async () => {
    const traces = (await getJson<Span[][]>(`${zipkin}/api/v2/traces?limit=1000`)) ?? [];
    const mine = traces.filter((tr) => tr.some((s) => s.tags?.['http.url']?.includes(marker)));
    return mine.length > 0 && hopsIn(mine[0]!).length === HOPS.length ? mine : undefined;
  }, `a trace for ?${marker} with spans from ${HOPS.join(', ')}`, 30_000, 250);
  assert.equal(found.length, 1, `one request made ${found.length} traces`);
  return found[0]!;
}

async function pageLoad(demo: IstioDemo, path: string, headers: Record<string, string> = {}): Promise<void> {
  const r = await demo.get(path, { headers });
  assert.equal(r.status, 200, `GET ${path}: ${r.status} ${r.body.slice(0, 200)}`);
  assert.match(r.body, /color="red"/, 'reviews v3 (red stars): ratings was called');
}

test('distributed tracing: one request through the gateway is one trace across gateway, productpage, details, reviews and ratings; B3 and traceparent callers continue their trace', { skip: NO_ISTIO_DATA, timeout: 600_000 }, async (t) => {
  const demo = await startIstioDemo(t, { configs: ISTIO_BOOKINFO_CONFIGS });
  const zipkin = demo.state.controlplane.zipkin;
  assert.ok(zipkin, 'demo.json names the trace collector');
  await demo.applyFile(`${ISTIO_NETWORKING}/virtual-service-reviews-v3.yaml`);

  await t.test('one request, one trace with every hop', async () => {
    const marker = `trace=${hex(8)}`;
    await pageLoad(demo, `/productpage?${marker}`);
    const spans = await traceByMarker(zipkin!, marker);
    const traceIds = new Set(spans.map((s) => s.traceId));
    assert.equal(traceIds.size, 1);
    const [traceId] = traceIds;
    assert.match(traceId!, /^[0-9a-f]{32}$/, 'a 128-bit trace id, as Istio configures Zipkin');
    // Each sidecar reports its inbound side as SERVER and its calls out as CLIENT.
    const kinds = (svc: string) => spans.filter((s) => s.localEndpoint?.serviceName?.startsWith(`${svc}.`)).map((s) => s.kind).sort();
    assert.deepEqual(kinds('productpage'), ['CLIENT', 'CLIENT', 'SERVER'], 'productpage: served one request, made two (details, reviews)');
    assert.deepEqual(kinds('reviews'), ['CLIENT', 'SERVER'], 'reviews v3: served one request, called ratings');
    assert.deepEqual(kinds('ratings'), ['SERVER']);
    assert.deepEqual(kinds('details'), ['SERVER']);
    // Every span but the root hangs off another span of the same trace.
    const ids = new Set(spans.map((s) => s.id));
    const roots = spans.filter((s) => !s.parentId || !ids.has(s.parentId));
    assert.equal(roots.length, 1, `one root span, got ${roots.map((s) => `${s.localEndpoint?.serviceName} ${s.name}`).join(', ')}`);
    assert.ok(roots[0]!.localEndpoint?.serviceName?.startsWith('istio-ingressgateway.'), 'the gateway starts the trace');
    // Istio's tags.
    const pp = spans.find((s) => s.localEndpoint?.serviceName?.startsWith('productpage.') && s.kind === 'SERVER')!;
    for (const tag of ['node_id', 'http.url', 'http.method', 'http.protocol', 'http.status_code', 'response_flags', 'istio.canonical_service', 'istio.canonical_revision', 'istio.mesh_id', 'istio.namespace', 'peer.address', 'request_size', 'response_size', 'guid:x-request-id', 'upstream_cluster']) {
      assert.ok(pp.tags?.[tag] !== undefined, `productpage's server span has ${tag}: ${JSON.stringify(pp.tags)}`);
    }
    assert.equal(pp.tags!['istio.canonical_service'], 'productpage');
    assert.equal(pp.tags!['istio.canonical_revision'], 'v1');
    assert.equal(pp.tags!['http.status_code'], '200');
    const rv = spans.find((s) => s.localEndpoint?.serviceName?.startsWith('reviews.') && s.kind === 'SERVER')!;
    assert.equal(rv.tags!['istio.canonical_revision'], 'v3', 'each reviews version reports its own revision');
    const requestIds = new Set(spans.map((s) => s.tags?.['guid:x-request-id']));
    assert.equal(requestIds.size, 1, 'the apps forward x-request-id: one id along the whole trace');
    t.diagnostic(`trace ${traceId}: ${spans.length} spans from ${servicesOf(spans).join(', ')}`);
    t.diagnostic(`services known to the collector: ${((await getJson<string[]>(`${zipkin}/api/v2/services`)) ?? []).join(', ')}`);
  });

  await t.test('a caller with B3 headers: the trace continues under its trace id', async () => {
    const traceId = hex(16);
    const spanId = hex(8);
    await pageLoad(demo, '/productpage', { 'x-b3-traceid': traceId, 'x-b3-spanid': spanId, 'x-b3-sampled': '1' });
    const spans = await fullTrace(zipkin!, traceId);
    assert.ok(spans.every((s) => s.traceId === traceId));
    const gw = spans.find((s) => s.localEndpoint?.serviceName?.startsWith('istio-ingressgateway.'))!;
    assert.equal(gw.parentId, spanId, "the gateway's span is a child of the caller's");
    t.diagnostic(`B3 trace ${traceId}: ${spans.length} spans from ${servicesOf(spans).join(', ')}`);
  });

  await t.test('a caller with traceparent: the trace continues under its trace id', async () => {
    const traceId = hex(16);
    const parent = hex(8);
    await pageLoad(demo, '/productpage', { traceparent: `00-${traceId}-${parent}-01` });
    const spans = await fullTrace(zipkin!, traceId);
    const gw = spans.find((s) => s.localEndpoint?.serviceName?.startsWith('istio-ingressgateway.'))!;
    assert.equal(gw.parentId, parent, "the gateway's span is a child of the caller's");
    t.diagnostic(`traceparent trace ${traceId}: ${spans.length} spans from ${servicesOf(spans).join(', ')}`);
  });

  await t.test('a caller that decided not to sample: no spans, the decision travels on', async () => {
    const traceId = hex(16);
    await pageLoad(demo, '/productpage', { 'x-b3-traceid': traceId, 'x-b3-spanid': hex(8), 'x-b3-sampled': '0' });
    // A sampled request after it, whose trace arriving means the proxies have flushed.
    const after = hex(16);
    await pageLoad(demo, '/productpage', { 'x-b3-traceid': after, 'x-b3-spanid': hex(8), 'x-b3-sampled': '1' });
    await fullTrace(zipkin!, after);
    const r = await fetch(`${zipkin}/api/v2/trace/${traceId}`);
    assert.equal(r.status, 404, 'the unsampled trace reached no collector');
  });
});
