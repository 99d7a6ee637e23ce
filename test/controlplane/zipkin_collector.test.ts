/**
 * The control plane's embedded Zipkin collector, through Zipkin's v2 API as a Zipkin client
 * (or a proxy) uses it: POST /api/v2/spans, then services, span names, traces and one trace.
 */
import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { after, before, test } from 'node:test';
import { ZipkinCollector } from '../../src/controlplane/zipkin/collector.ts';
import { MAX_SPAN_NAMES_PER_SERVICE } from '../../src/controlplane/zipkin/store.ts';

let collector: ZipkinCollector;
let base: string;

before(async () => {
  collector = new ZipkinCollector({ maxSpans: 20 });
  base = `http://127.0.0.1:${await collector.listen(0, '127.0.0.1')}`;
});
after(() => collector.close());

const T1 = '463ac35c9f6413ad48485a3953bb6124';
const T2 = '0000000000000000' + 'b7ad6b7169203331';
const now = Date.now() * 1000;

function span(traceId: string, id: string, service: string, name: string, extra: Record<string, unknown> = {}) {
  return { traceId, id, name, kind: 'SERVER', timestamp: now, duration: 1500, localEndpoint: { serviceName: service }, tags: { 'http.status_code': '200' }, ...extra };
}

async function post(body: unknown, headers: Record<string, string> = {}, raw?: Buffer) {
  return fetch(`${base}/api/v2/spans`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: raw ? new Uint8Array(raw) : JSON.stringify(body) });
}

async function getJson(path: string): Promise<{ status: number; body: any }> {
  const r = await fetch(`${base}${path}`);
  const text = await r.text();
  return { status: r.status, body: r.headers.get('content-type')?.includes('json') ? JSON.parse(text) : text };
}

test('POST spans, then read them back by service, span name and trace id', async () => {
  assert.equal((await post([span(T1, 'a000000000000001', 'productpage.default', 'productpage.default.svc.cluster.local:9080/*'), span(T1, 'a000000000000002', 'details.default', 'details:9080/*', { parentId: 'a000000000000001', tags: { error: 'true', 'http.status_code': '503' } })])).status, 202);
  assert.equal((await post([span(T2, 'b000000000000001', 'reviews.default', 'reviews:9080/*')], { 'content-encoding': 'gzip' }, gzipSync(JSON.stringify([span(T2, 'b000000000000001', 'reviews.default', 'reviews:9080/*')])))).status, 202, 'gzip bodies');
  assert.deepEqual((await getJson('/api/v2/services')).body, ['details.default', 'productpage.default', 'reviews.default']);
  assert.deepEqual((await getJson('/api/v2/spans?serviceName=details.default')).body, ['details:9080/*']);
  const one = await getJson(`/api/v2/trace/${T1}`);
  assert.equal(one.status, 200);
  assert.deepEqual(one.body.map((s: any) => s.id).sort(), ['a000000000000001', 'a000000000000002']);
  assert.equal((await getJson('/api/v2/trace/b7ad6b7169203331')).body.length, 1, 'a 64-bit id finds its trace');
  const byService = await getJson('/api/v2/traces?serviceName=reviews.default&limit=10');
  assert.equal(byService.body.length, 1);
  assert.equal(byService.body[0][0].traceId, T2);
  assert.equal((await getJson('/api/v2/traces?annotationQuery=error')).body.length, 1, 'tag query');
  assert.equal((await getJson('/api/v2/traces?annotationQuery=http.status_code%3D503')).body[0][0].traceId, T1);
  assert.equal((await getJson('/api/v2/traces?minDuration=2000')).body.length, 0);
  assert.equal((await getJson('/api/v2/trace/ffffffffffffffff')).status, 404);
});

test('bad input is refused with 400 naming the problem, and stores nothing', async () => {
  const before = collector.store.size.spans;
  const notList = await post({ traceId: T1 });
  assert.equal(notList.status, 400);
  const bad = await post([span(T1, 'c000000000000001', 's', 'n'), span('nothex', 'c000000000000002', 's', 'n')]);
  assert.equal(bad.status, 400);
  assert.match(await bad.text(), /span 1: traceId/);
  assert.equal((await post(undefined, {}, Buffer.from('{nope'))).status, 400);
  assert.equal(collector.store.size.spans, before);
});

test('bounded: past the span cap the oldest traces go', async () => {
  for (let i = 0; i < 30; i++) {
    const id = (0x1000 + i).toString(16).padStart(32, '0');
    assert.equal((await post([span(id, 'd000000000000001', 'load.default', 'x')])).status, 202);
  }
  assert.ok(collector.store.size.spans <= 20, `${collector.store.size.spans} spans kept`);
  assert.equal((await getJson(`/api/v2/trace/${T1}`)).status, 404, 'the oldest trace was dropped');
  assert.equal((await getJson(`/api/v2/trace/${(0x1000 + 29).toString(16).padStart(32, '0')}`)).status, 200, 'the newest is kept');
  const recent = await getJson('/api/v2/traces?serviceName=load.default&limit=5');
  assert.equal(recent.body.length, 5, 'limit');
});

test('eviction takes span names and services with the traces; names per service are capped', async (t) => {
  const c = new ZipkinCollector({ maxSpans: 10 });
  const url = `http://127.0.0.1:${await c.listen(0, '127.0.0.1')}`;
  t.after(() => c.close());
  const send = (spans: unknown[]) => fetch(`${url}/api/v2/spans`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(spans) });
  const names = async (service: string) => (await (await fetch(`${url}/api/v2/spans?serviceName=${service}`)).json()) as string[];
  const services = async () => (await (await fetch(`${url}/api/v2/services`)).json()) as string[];
  const tid = (i: number) => (0x2000 + i).toString(16).padStart(32, '0');
  // Ten traces, each with an `egress <authority>` name of its own, as a client reaching ten hosts.
  for (let i = 0; i < 10; i++) assert.equal((await send([span(tid(i), 'e000000000000001', 'client.default', `egress host-${i}:80`)])).status, 202);
  await send([span(tid(100), 'e000000000000002', 'gone.default', 'only-here')]);
  // Eleven spans for a cap of ten: the first trace (host-0) went.
  assert.deepEqual((await names('client.default')).length, 9);
  assert.ok(!(await names('client.default')).includes('egress host-0:80'), 'the evicted trace\'s name is gone');
  // Ten newer traces evict the rest, the gone.default one too.
  for (let i = 10; i < 20; i++) await send([span(tid(i), 'e000000000000001', 'server.default', 'inbound')]);
  assert.deepEqual(await names('client.default'), [], 'every name of evicted traces is gone');
  assert.deepEqual(await names('gone.default'), []);
  assert.deepEqual(await services(), ['server.default'], 'and so are their services');
  assert.deepEqual(await names('server.default'), ['inbound'], 'a name shared by kept traces stays');

  // Names per service stop at the cap; the spans are still stored and found by trace id.
  const big = new ZipkinCollector({ maxSpans: 5_000 });
  const bigUrl = `http://127.0.0.1:${await big.listen(0, '127.0.0.1')}`;
  t.after(() => big.close());
  const many = Array.from({ length: MAX_SPAN_NAMES_PER_SERVICE + 200 }, (_, i) => span(tid(1000 + i), 'f000000000000001', 'noisy.default', `egress h${i}:80`));
  assert.equal((await fetch(`${bigUrl}/api/v2/spans`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(many) })).status, 202);
  const listed = (await (await fetch(`${bigUrl}/api/v2/spans?serviceName=noisy.default`)).json()) as string[];
  t.diagnostic(`span names listed for ${many.length} distinct names: ${listed.length}`);
  assert.equal(listed.length, MAX_SPAN_NAMES_PER_SERVICE);
  assert.equal((await fetch(`${bigUrl}/api/v2/trace/${tid(1000 + many.length - 1)}`)).status, 200);
});
