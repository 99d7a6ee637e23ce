/**
 * HCM tracing on the wire: a real proxy with Envoy's `tracing` block in front of an upstream that
 * echoes the headers it got, reporting to the control plane's Zipkin collector (or to an OTLP/HTTP
 * receiver). What is asserted is what a user sees: the headers the app receives and the spans the
 * collector holds.
 */
import assert from 'node:assert/strict';
import { createServer, request, type IncomingHttpHeaders, type Server } from 'node:http';
import { after, before, test } from 'node:test';
import { ZipkinCollector } from '../../src/controlplane/zipkin/collector.ts';
import { AdminServer } from '../../src/proxy/admin/admin.ts';
import type { ZipkinSpan } from '../../src/controlplane/zipkin/store.ts';
import type { EnvoyJson } from '../../src/xds/types.ts';
import { closeServer, httpListener, listen, staticCluster, startProxy, until, type Proxy } from './helpers.ts';

const ZIPKIN = 'type.googleapis.com/envoy.config.trace.v3.ZipkinConfig';
const OTEL = 'type.googleapis.com/envoy.config.trace.v3.OpenTelemetryConfig';

function zipkinTracing(extra: EnvoyJson = {}, zipkin: EnvoyJson = {}): EnvoyJson {
  return {
    random_sampling: { value: 100 },
    provider: { name: 'envoy.tracers.zipkin', typed_config: { '@type': ZIPKIN, collector_cluster: 'zipkin', collector_endpoint: '/api/v2/spans', collector_endpoint_version: 'HTTP_JSON', trace_id_128bit: true, shared_span_context: false, ...zipkin } },
    ...extra,
  };
}

interface Seen {
  status: number;
  /** The headers the upstream app received. */
  upstream: IncomingHttpHeaders;
}

function get(port: number, path: string, headers: Record<string, string> = {}): Promise<Seen> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers: { host: 'app.example:8080', ...headers }, agent: false }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, upstream: res.statusCode === 200 ? JSON.parse(body) : {} }));
    });
    req.on('error', reject);
    req.end();
  });
}

let app: Server;
let appPort: number;
let collector: ZipkinCollector;
let proxy: Proxy;
let deadProxy: Proxy;
let otlp: Server;
const otlpBodies: any[] = [];

const route = (decorator?: string) => [{ match: { prefix: '/' }, route: { cluster: 'app' }, ...(decorator ? { decorator: { operation: decorator } } : {}) }];

before(async () => {
  // The app: answers with the request headers it received, 503 on /fail.
  app = createServer((req, res) => {
    if (req.url === '/fail') return void res.writeHead(503).end('no');
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(req.headers));
  });
  appPort = await listen(app);
  collector = new ZipkinCollector();
  const zipkinPort = await collector.listen(0, '127.0.0.1');
  otlp = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      if (req.url === '/v1/traces') otlpBodies.push(JSON.parse(body));
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  const otlpPort = await listen(otlp);
  proxy = await startProxy({
    clusters: [staticCluster('app', [appPort]), staticCluster('zipkin', [zipkinPort]), staticCluster('otlp', [otlpPort])],
    listeners: [
      { ...httpListener('egress', route('app.example:8080/*'), 0, { tracing: zipkinTracing({ custom_tags: [{ tag: 'lit', literal: { value: 'x' } }, { tag: 'hdr', request_header: { name: 'x-tag', default_value: 'none' } }] }) }), traffic_direction: 'OUTBOUND' },
      { ...httpListener('ingress', route(), 0, { tracing: zipkinTracing({}, { shared_span_context: undefined, trace_id_128bit: false }) }), traffic_direction: 'INBOUND' },
      { ...httpListener('unsampled', route(), 0, { tracing: zipkinTracing({ random_sampling: { value: 0 } }) }), traffic_direction: 'OUTBOUND' },
      { ...httpListener('otel', route(), 0, { tracing: { random_sampling: { value: 100 }, provider: { name: 'envoy.tracers.opentelemetry', typed_config: { '@type': OTEL, http_service: { http_uri: { uri: `http://otlp.example:${otlpPort}/v1/traces`, cluster: 'otlp', timeout: '2s' } }, service_name: 'otel-svc' } } } }), traffic_direction: 'INBOUND' },
      httpListener('plain', route()),
    ],
  }, { extra: { node: { id: 'sidecar~127.0.0.9~app-1.default~default.svc.cluster.local', cluster: 'app.default', locality: { zone: 'z1' } } } });
  // The collector's address is closed: every report fails.
  const closed = createServer();
  const dead = await listen(closed);
  await closeServer(closed);
  deadProxy = await startProxy({
    clusters: [staticCluster('app', [appPort]), staticCluster('zipkin', [dead])],
    listeners: [{ ...httpListener('egress', route(), 0, { tracing: zipkinTracing() }), traffic_direction: 'OUTBOUND' }],
  });
});

after(async () => {
  await proxy?.close()
  await deadProxy?.close()
  await collector?.close()
  await closeServer(app)
  await closeServer(otlp)
});

const hex = (n: number) => [...Array(n)].map(() => Math.floor(Math.random() * 16).toString(16)).join('');

/** Spans of `traceId` once `n` have arrived (the proxy flushes every 5 spans or 5 s). */
function spansOf(traceId: string, n = 1): Promise<ZipkinSpan[]> {
  return until(() => {
    const s = collector.store.trace(traceId);
    return s && s.length >= n ? s : undefined;
  }, `${n} span(s) of trace ${traceId}`, 15_000, 20);
}

function counter(p: Proxy, name: string): number {
  return p.server.store.counter(name).value();
}

test('B3 multi-header: the trace continues; the upstream gets the child context; a CLIENT span with Istio\'s tags is reported', async () => {
  const traceId = hex(32);
  const parent = hex(16);
  const r = await get(proxy.port('egress'), '/some/path?q=1', { 'x-b3-traceid': traceId, 'x-b3-spanid': parent, 'x-b3-sampled': '1', 'x-tag': 'T' });
  assert.equal(r.status, 200);
  assert.equal(r.upstream['x-b3-traceid'], traceId);
  assert.equal(r.upstream['x-b3-parentspanid'], parent);
  assert.match(String(r.upstream['x-b3-spanid']), /^[0-9a-f]{16}$/);
  assert.notEqual(r.upstream['x-b3-spanid'], parent);
  assert.equal(r.upstream['x-b3-sampled'], '1');
  const [span] = await spansOf(traceId);
  assert.equal(span!.id, r.upstream['x-b3-spanid'], 'the span is the context the upstream got');
  assert.equal(span!.parentId, parent);
  assert.equal(span!.kind, 'CLIENT');
  assert.equal(span!.name, 'app.example:8080/*', "the route's decorator names the span");
  assert.equal(span!.localEndpoint?.serviceName, 'app.default');
  const tags = span!.tags!;
  assert.equal(tags['http.url'], 'http://app.example:8080/some/path?q=1');
  assert.equal(tags['http.method'], 'GET');
  assert.equal(tags['http.protocol'], 'HTTP/1.1');
  assert.equal(tags['http.status_code'], '200');
  assert.equal(tags.upstream_cluster, 'app');
  assert.equal(tags.node_id, 'sidecar~127.0.0.9~app-1.default~default.svc.cluster.local');
  assert.equal(tags.zone, 'z1');
  assert.equal(tags.response_flags, '-');
  assert.equal(tags.lit, 'x', 'literal custom tag');
  assert.equal(tags.hdr, 'T', 'request_header custom tag');
  assert.equal(tags['guid:x-request-id'], r.upstream['x-request-id']);
  assert.ok(Number(tags.response_size) > 0);
  assert.equal(tags.error, undefined);
});

test('single b3 header and a 64-bit trace id: continued, and sent on in both B3 forms', async () => {
  const traceId = hex(16);
  const parent = hex(16);
  const r = await get(proxy.port('egress'), '/', { b3: `${traceId}-${parent}-1` });
  assert.equal(r.upstream['x-b3-traceid'], traceId);
  const child = String(r.upstream['x-b3-spanid']);
  assert.equal(r.upstream.b3, `${traceId}-${child}-1-${parent}`);
  const [span] = await spansOf(traceId);
  assert.equal(span!.parentId, parent);
});

test('W3C traceparent: continued by the zipkin tracer; the upstream gets B3 and traceparent for the child', async () => {
  const traceId = hex(32);
  const parent = hex(16);
  const r = await get(proxy.port('egress'), '/', { traceparent: `00-${traceId}-${parent}-01`, tracestate: 'vendor=1' });
  const child = String(r.upstream['x-b3-spanid']);
  assert.equal(r.upstream['x-b3-traceid'], traceId);
  assert.equal(r.upstream.traceparent, `00-${traceId}-${child}-01`);
  assert.equal(r.upstream.tracestate, 'vendor=1');
  const [span] = await spansOf(traceId);
  assert.equal(span!.parentId, parent);
});

test('a new trace when none came in: 128-bit id, sampled, x-request-id marked as Envoy does', async () => {
  const r = await get(proxy.port('egress'), '/new');
  const traceId = String(r.upstream['x-b3-traceid']);
  assert.match(traceId, /^[0-9a-f]{32}$/);
  assert.equal(r.upstream['x-b3-parentspanid'], undefined);
  assert.equal(String(r.upstream['x-request-id'])[14], '9', 'random sampling leaves its reason in the uuid');
  const [span] = await spansOf(traceId);
  assert.equal(span!.parentId, undefined);
});

test('sampling: 0% samples nothing and says so upstream; x-envoy-force-trace and x-client-trace-id force it; a parent\'s "no" wins', async () => {
  const port = proxy.port('unsampled');
  const off = await get(port, '/');
  assert.equal(off.upstream['x-b3-sampled'], '0', 'the decision travels on');
  assert.equal(String(off.upstream['x-request-id'])[14], '4');
  const forced = await get(port, '/', { 'x-envoy-force-trace': 'true' });
  assert.equal(forced.upstream['x-b3-sampled'], '1');
  assert.equal(String(forced.upstream['x-request-id'])[14], 'a');
  const client = await get(port, '/', { 'x-client-trace-id': 'c-123' });
  assert.equal(client.upstream['x-b3-sampled'], '1');
  assert.equal(String(client.upstream['x-request-id'])[14], 'b');
  const vetoed = await get(port, '/', { 'x-envoy-force-trace': 'true', 'x-b3-traceid': hex(32), 'x-b3-spanid': hex(16), 'x-b3-sampled': '0' });
  assert.equal(vetoed.upstream['x-b3-sampled'], '0');
  const [span] = await spansOf(String(client.upstream['x-b3-traceid']));
  assert.equal(span!.tags!['guid:x-client-trace-id'], 'c-123');
  await spansOf(String(forced.upstream['x-b3-traceid']));
  assert.equal(collector.store.trace(String(off.upstream['x-b3-traceid'])), undefined);
  assert.equal(collector.store.trace(String(vetoed.upstream['x-b3-traceid'])), undefined);
  // The stats count why a request was traceable, before a parent's own decision is read.
  assert.ok(counter(proxy, 'http.unsampled.tracing.not_traceable') >= 1);
  assert.ok(counter(proxy, 'http.unsampled.tracing.service_forced') >= 2);
  assert.ok(counter(proxy, 'http.unsampled.tracing.client_enabled') >= 1);
});

test('inbound with Envoy\'s default shared_span_context: a SERVER span under the caller\'s span id; 5xx marks error', async () => {
  const traceId = hex(16);
  const spanId = hex(16);
  const grand = hex(16);
  const r = await get(proxy.port('ingress'), '/fail', { 'x-b3-traceid': traceId, 'x-b3-spanid': spanId, 'x-b3-parentspanid': grand, 'x-b3-sampled': '1' });
  assert.equal(r.status, 503);
  const [span] = await spansOf(traceId);
  assert.equal(span!.kind, 'SERVER');
  assert.equal(span!.id, spanId);
  assert.equal(span!.parentId, grand);
  assert.equal(span!.shared, true);
  assert.equal(span!.name, 'ingress');
  assert.equal(span!.tags!.error, 'true');
  assert.equal(span!.tags!['http.status_code'], '503');
});

test('no tracing block: nothing added, nothing reported', async () => {
  const r = await get(proxy.port('plain'), '/');
  assert.equal(r.upstream['x-b3-traceid'], undefined);
  assert.equal(r.upstream.traceparent, undefined);
  assert.match(String(r.upstream['x-request-id']), /^[0-9a-f-]{14}4/);
});

test('OpenTelemetry: traceparent continued and injected, spans POSTed as OTLP/HTTP JSON', async () => {
  const traceId = hex(32);
  const parent = hex(16);
  const port = proxy.port('otel');
  const r = await get(port, '/', { traceparent: `00-${traceId}-${parent}-01` });
  const child = String(r.upstream.traceparent).split('-')[2];
  assert.equal(r.upstream.traceparent, `00-${traceId}-${child}-01`);
  assert.equal(r.upstream['x-b3-traceid'], undefined, 'B3 only when it came in');
  // Four more to reach the batch size (5) rather than wait for the timer.
  for (let i = 0; i < 4; i++) await get(port, '/');
  const span = await until(() => otlpBodies.flatMap((b) => b.resourceSpans).flatMap((rs: any) => rs.scopeSpans.flatMap((ss: any) => ss.spans.map((s: any) => ({ ...s, service: rs.resource.attributes[0].value.stringValue })))).find((s: any) => s.traceId === traceId), 'the OTLP span', 15_000, 20);
  assert.equal(span.parentSpanId, parent);
  assert.equal(span.spanId, child);
  assert.equal(span.kind, 2, 'SPAN_KIND_SERVER');
  assert.equal(span.service, 'otel-svc');
  assert.ok(span.attributes.some((a: any) => a.key === 'http.status_code' && a.value.stringValue === '200'));
});

test('a dead collector costs a counter: traffic flows, reports fail, spans are dropped and counted', async () => {
  const port = deadProxy.port('egress');
  for (let i = 0; i < 12; i++) assert.equal((await get(port, '/')).status, 200);
  await until(() => counter(deadProxy, 'tracing.zipkin.spans_dropped') >= 10 && counter(deadProxy, 'tracing.zipkin.spans_dropped'), 'spans dropped', 15_000, 20);
  assert.ok(counter(deadProxy, 'tracing.zipkin.reports_failed') >= 2);
  assert.equal(counter(deadProxy, 'tracing.zipkin.spans_sent'), 0);
  const admin = new AdminServer({ server: deadProxy.server, onQuit: () => undefined, version: 'tsmesh/test', commandLineOptions: { concurrency: 1 } });
  const adminPort = await admin.listen('127.0.0.1', 0);
  try {
    const stats = await (await fetch(`http://127.0.0.1:${adminPort}/stats`)).text();
    assert.match(stats, /tracing\.zipkin\.spans_dropped: [1-9]\d*/, 'in /stats');
  } finally {
    await admin.close();
  }
});
