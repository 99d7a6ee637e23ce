/**
 * The graph builder from Prometheus text as the proxies serve it: two scrapes of each proxy, 10 s
 * apart, give rates; Bookinfo's calls become Kiali's workload graph with service nodes, each edge
 * with its rate, error percentage, p95 and mTLS share.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildGraph, quantile, type EdgeData, type Graph } from '../../src/dashboard/graph.ts';
import { parsePrometheusText } from '../../src/dashboard/prom_text.ts';
import { ratesBetween, snapshotOf, trafficOf, windowRates, type Round } from '../../src/dashboard/rates.ts';
import { nodeSeries } from '../../src/dashboard/series.ts';

/** One istio_requests_total line (and its duration buckets) as a proxy writes them. */
function requests(o: { reporter: string; src: string; srcApp: string; srcVer: string; svc: string; dst: string; dstApp: string; dstVer: string; code: number; mtls?: boolean; count: number; ms?: number }): string {
  const l = [
    `reporter="${o.reporter}"`,
    `source_workload="${o.src}"`, `source_canonical_service="${o.srcApp}"`, `source_canonical_revision="${o.srcVer}"`, 'source_workload_namespace="default"',
    `source_principal="spiffe://cluster.local/ns/default/sa/bookinfo-${o.srcApp}"`, `source_app="${o.srcApp}"`, `source_version="${o.srcVer}"`, 'source_cluster="Kubernetes"',
    `destination_workload="${o.dst}"`, 'destination_workload_namespace="default"', `destination_principal="unknown"`, `destination_app="${o.dstApp}"`, `destination_version="${o.dstVer}"`,
    `destination_service="${o.svc}.default.svc.cluster.local"`, `destination_canonical_service="${o.dstApp}"`, `destination_canonical_revision="${o.dstVer}"`,
    `destination_service_name="${o.svc}"`, 'destination_service_namespace="default"', 'destination_cluster="Kubernetes"',
    'request_protocol="http"', `response_code="${o.code}"`, 'grpc_response_status=""', 'response_flags="-"', `connection_security_policy="${o.mtls === false ? 'none' : 'mutual_tls'}"`,
  ].join(',');
  const lines = [`istio_requests_total{${l}} ${o.count}`];
  // All requests took `ms`: every bucket from it up holds them all.
  for (const le of [1, 5, 10, 25, 50, 100, 250, 500, 1000]) lines.push(`istio_request_duration_milliseconds_bucket{${l},le="${le}"} ${le >= (o.ms ?? 8) ? o.count : 0}`);
  lines.push(`istio_request_duration_milliseconds_bucket{${l},le="+Inf"} ${o.count}`);
  return lines.join('\n');
}

const HEADER = '# HELP istio_requests_total Total requests.\n# TYPE istio_requests_total counter\nenvoy_cluster_upstream_rq_total{envoy_cluster_name="x"} 12\n';

/** Bookinfo's proxies after `n` page loads (each page: details once, reviews once; reviews v2/v3 call ratings). */
function scrapes(n: number): Map<string, string> {
  const third = n / 3;
  return new Map([
    ['default/productpage-v1', HEADER + requests({ reporter: 'destination', src: 'istio-ingressgateway', srcApp: 'istio-ingressgateway', srcVer: 'unknown', svc: 'productpage', dst: 'productpage-v1', dstApp: 'productpage', dstVer: 'v1', code: 200, count: n, ms: 40 })
      + '\n' + requests({ reporter: 'source', src: 'productpage-v1', srcApp: 'productpage', srcVer: 'v1', svc: 'details', dst: 'details-v1', dstApp: 'details', dstVer: 'v1', code: 200, count: n })],
    ['default/details-v1', requests({ reporter: 'destination', src: 'productpage-v1', srcApp: 'productpage', srcVer: 'v1', svc: 'details', dst: 'details-v1', dstApp: 'details', dstVer: 'v1', code: 200, count: n, ms: 3 })],
    ['default/reviews-v1', requests({ reporter: 'destination', src: 'productpage-v1', srcApp: 'productpage', srcVer: 'v1', svc: 'reviews', dst: 'reviews-v1', dstApp: 'reviews', dstVer: 'v1', code: 200, count: third })],
    ['default/reviews-v2', requests({ reporter: 'destination', src: 'productpage-v1', srcApp: 'productpage', srcVer: 'v1', svc: 'reviews', dst: 'reviews-v2', dstApp: 'reviews', dstVer: 'v2', code: 200, count: third })],
    // reviews-v3 failed a tenth of its requests.
    ['default/reviews-v3', requests({ reporter: 'destination', src: 'productpage-v1', srcApp: 'productpage', srcVer: 'v1', svc: 'reviews', dst: 'reviews-v3', dstApp: 'reviews', dstVer: 'v3', code: 200, count: third * 0.9 })
      + '\n' + requests({ reporter: 'destination', src: 'productpage-v1', srcApp: 'productpage', srcVer: 'v1', svc: 'reviews', dst: 'reviews-v3', dstApp: 'reviews', dstVer: 'v3', code: 503, count: third * 0.1 })],
    ['default/ratings-v1', requests({ reporter: 'destination', src: 'reviews-v2', srcApp: 'reviews', srcVer: 'v2', svc: 'ratings', dst: 'ratings-v1', dstApp: 'ratings', dstVer: 'v1', code: 200, count: third, mtls: false })
      + '\n' + requests({ reporter: 'destination', src: 'reviews-v3', srcApp: 'reviews', srcVer: 'v3', svc: 'ratings', dst: 'ratings-v1', dstApp: 'ratings', dstVer: 'v1', code: 200, count: third })],
  ]);
}

function round(t: number, texts: Map<string, string>): Round {
  return { t, targets: new Map([...texts].map(([k, v]) => [k, snapshotOf(v, t)])) };
}

function edge(g: Graph, source: string, target: string): EdgeData {
  const e = g.elements.edges.find((x) => x.data.source === source && x.data.target === target);
  assert.ok(e, `edge ${source} -> ${target} in ${g.elements.edges.map((x) => x.data.id).join(', ')}`);
  return e.data;
}

test('parsePrometheusText: labels with escapes, +Inf, comments and other families skipped', () => {
  const s = parsePrometheusText('# HELP x y\nistio_requests_total{a="q\\"uote",b="back\\\\slash",le="+Inf"} 3 1700000000\nother 1\nbad{ 2\nistio_requests_total 5\n', new Set(['istio_requests_total']));
  assert.deepEqual(s, [
    { name: 'istio_requests_total', labels: { a: 'q"uote', b: 'back\\slash', le: '+Inf' }, value: 3 },
    { name: 'istio_requests_total', labels: {}, value: 5 },
  ]);
});

test("two scrapes of Bookinfo's proxies make Kiali's workload graph with service nodes", () => {
  // 30 page loads before, 330 after, 10 s apart: 30 pages per second.
  const rounds = [round(1_000_000, scrapes(30)), round(1_010_000, scrapes(330))];
  const { traffic, covered } = windowRates(rounds, 60);
  assert.equal(covered, 10);
  const g = buildGraph(traffic, { duration: 60, timestamp: 1010 });
  assert.equal(g.graphType, 'workload');
  assert.deepEqual(
    g.elements.edges.map((e) => e.data.id),
    [
      'svc:default:details->wl:default:details-v1',
      'svc:default:productpage->wl:default:productpage-v1',
      'svc:default:ratings->wl:default:ratings-v1',
      'svc:default:reviews->wl:default:reviews-v1',
      'svc:default:reviews->wl:default:reviews-v2',
      'svc:default:reviews->wl:default:reviews-v3',
      'wl:default:istio-ingressgateway->svc:default:productpage',
      'wl:default:productpage-v1->svc:default:details',
      'wl:default:productpage-v1->svc:default:reviews',
      'wl:default:reviews-v2->svc:default:ratings',
      'wl:default:reviews-v3->svc:default:ratings',
    ],
  );
  // The client's report of productpage -> details is not counted again beside the server's.
  const details = edge(g, 'wl:default:productpage-v1', 'svc:default:details');
  assert.equal(details.traffic.protocol, 'http');
  assert.equal(details.traffic.rates.http, '30');
  assert.equal(details.traffic.rates.httpPercentErr, '0');
  assert.equal(details.isMTLS, '100');
  assert.equal(details.health, 'Healthy');
  assert.equal(Number(details.responseTime) <= 5 && Number(details.responseTime) > 1, true, `p95 of 3 ms requests inside the (1, 5] bucket: ${details.responseTime}`);

  const reviews = edge(g, 'wl:default:productpage-v1', 'svc:default:reviews');
  assert.equal(reviews.traffic.rates.http, '30');
  assert.equal(reviews.traffic.rates.httpPercentErr, '3.3');
  assert.equal(reviews.traffic.rates.http5xx, '1');
  assert.equal(reviews.health, 'Degraded');
  const v3 = edge(g, 'svc:default:reviews', 'wl:default:reviews-v3');
  assert.equal(v3.traffic.rates.httpPercentErr, '10');
  assert.equal(v3.health, 'Failure');
  assert.deepEqual(v3.traffic.responses, { '200': '90', '503': '10' });
  for (const v of ['v1', 'v2']) assert.equal(edge(g, 'svc:default:reviews', `wl:default:reviews-${v}`).traffic.rates.http, '10');
  // Half of ratings' callers came in plaintext.
  assert.equal(edge(g, 'wl:default:reviews-v2', 'svc:default:ratings').isMTLS, undefined);
  assert.equal(edge(g, 'wl:default:reviews-v3', 'svc:default:ratings').isMTLS, '100');
  assert.equal(edge(g, 'svc:default:ratings', 'wl:default:ratings-v1').isMTLS, '50');

  const node = (id: string) => g.elements.nodes.find((n) => n.data.id === id)?.data;
  assert.deepEqual(
    { ...node('wl:default:reviews-v2'), traffic: undefined },
    { id: 'wl:default:reviews-v2', nodeType: 'workload', cluster: 'Kubernetes', namespace: 'default', workload: 'reviews-v2', app: 'reviews', version: 'v2', traffic: undefined, health: 'Healthy' },
  );
  assert.deepEqual(node('svc:default:reviews')?.destServices, [{ namespace: 'default', name: 'reviews' }]);
  assert.equal(node('svc:default:reviews')?.nodeType, 'service');
  assert.equal(node('svc:default:reviews')?.traffic[0]?.rates.httpIn, '30');
  assert.equal(node('wl:default:istio-ingressgateway')?.isRoot, true);
  assert.equal(node('wl:default:reviews-v3')?.health, 'Failure');
});

test('a counter that reset (proxy restart) counts from zero; a series new since the last scrape counts from zero', () => {
  const before = snapshotOf(requests({ reporter: 'destination', src: 'a', srcApp: 'a', srcVer: 'v1', svc: 'b', dst: 'b-v1', dstApp: 'b', dstVer: 'v1', code: 200, count: 1000 }), 0);
  const after = snapshotOf(
    requests({ reporter: 'destination', src: 'a', srcApp: 'a', srcVer: 'v1', svc: 'b', dst: 'b-v1', dstApp: 'b', dstVer: 'v1', code: 200, count: 20 }) + '\n' +
      requests({ reporter: 'destination', src: 'a', srcApp: 'a', srcVer: 'v1', svc: 'b', dst: 'b-v1', dstApp: 'b', dstVer: 'v1', code: 500, count: 20 }),
    10_000,
  );
  const g = buildGraph(trafficOf(ratesBetween(before, after)), { duration: 10, timestamp: 10 });
  const e = edge(g, 'wl:default:a', 'svc:default:b');
  assert.equal(e.traffic.rates.http, '4');
  assert.equal(e.traffic.rates.httpPercentErr, '50');
  assert.equal(e.health, 'Failure');
});

test('a call no server reported (the client got a 503 without an upstream) is drawn from the client report', () => {
  const older = snapshotOf('', 0);
  const newer = snapshotOf(requests({ reporter: 'source', src: 'productpage-v1', srcApp: 'productpage', srcVer: 'v1', svc: 'reviews', dst: 'unknown', dstApp: 'unknown', dstVer: 'unknown', code: 503, count: 50 }), 10_000);
  const g = buildGraph(trafficOf(ratesBetween(older, newer)), { duration: 10, timestamp: 10 });
  assert.deepEqual(g.elements.edges.map((e) => e.data.id), ['wl:default:productpage-v1->svc:default:reviews']);
  assert.equal(g.elements.edges[0]!.data.traffic.rates.httpPercentErr, '100');
});

test('namespaces: only nodes in those namespaces and their neighbours', () => {
  const g = buildGraph(trafficOf(ratesBetween(snapshotOf('', 0), snapshotOf(scrapes(30).get('default/details-v1')!, 10_000))), { duration: 10, timestamp: 10, namespaces: ['other'] });
  assert.equal(g.elements.edges.length, 0);
  assert.equal(g.elements.nodes.length, 0);
});

test("quantile: Prometheus' histogram_quantile interpolation", () => {
  assert.equal(quantile(0.5, new Map([[10, 50], [20, 100], [Infinity, 100]])), 10);
  assert.equal(quantile(0.95, new Map([[10, 50], [20, 100], [Infinity, 100]])), 19);
  assert.equal(quantile(0.95, new Map([[10, 0], [Infinity, 10]])), 10);
  assert.equal(quantile(0.95, new Map()), undefined);
});

test("series: a service's inbound rate, error % and p95, one point per pair of scrapes", () => {
  const rounds = [round(0, scrapes(30)), round(10_000, scrapes(330)), round(20_000, scrapes(330))];
  const s = nodeSeries(rounds, 'svc:default:reviews');
  assert.deepEqual(s.t, [10, 20]);
  assert.deepEqual(s.requests, [30, 0]);
  assert.deepEqual(s.errors, [3.333, 0]);
  assert.equal(s.p95[1], null);
  assert.ok((s.p95[0] ?? 0) > 5 && (s.p95[0] ?? 0) <= 10, `p95 ${s.p95[0]}`);
  assert.deepEqual(nodeSeries(rounds, 'wl:default:reviews-v1').requests, [10, 0]);
});

test('TCP traffic (istio_tcp_*_bytes_total) is an edge with a byte rate, not a request rate', () => {
  const l = 'reporter="destination",source_workload="sleep",source_workload_namespace="default",destination_workload="tcp-echo",destination_workload_namespace="default",destination_service_name="tcp-echo",destination_service_namespace="default",request_protocol="tcp",connection_security_policy="mutual_tls"';
  const before = snapshotOf(`istio_tcp_sent_bytes_total{${l}} 0\nistio_tcp_received_bytes_total{${l}} 0`, 0);
  const after = snapshotOf(`istio_tcp_sent_bytes_total{${l}} 600\nistio_tcp_received_bytes_total{${l}} 400`, 10_000);
  const g = buildGraph(trafficOf(ratesBetween(before, after)), { duration: 10, timestamp: 10 });
  const e = edge(g, 'wl:default:sleep', 'svc:default:tcp-echo');
  assert.equal(e.traffic.protocol, 'tcp');
  assert.deepEqual(e.traffic.rates, { tcp: '100' });
  assert.equal(e.isMTLS, '100');
  assert.equal(edge(g, 'svc:default:tcp-echo', 'wl:default:tcp-echo').traffic.rates.tcp, '100');
});
