/**
 * CEL over Envoy's attributes: what compiles (and evaluates to what on a StreamInfo), and what is
 * rejected at compile time with the position of the fault (so nothing is silently false).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileCel, celAttributes } from '../../src/proxy/cel/expression.ts';
import type { StreamInfo } from '../../src/proxy/interfaces.ts';

function info(over: Partial<StreamInfo> = {}): StreamInfo {
  return {
    startTime: 1_700_000_000_000,
    endTime: 1_700_000_000_250,
    protocol: 'HTTP/1.1',
    requestHeaders: new Map<string, string | string[]>([
      [':method', 'GET'],
      [':path', '/api/v1/items?limit=5'],
      [':authority', 'reviews:9080'],
      [':scheme', 'http'],
      ['user-agent', 'curl/8'],
      ['x-request-id', 'abc'],
      ['x-multi', ['a', 'b']],
    ]),
    responseHeaders: new Map([[':status', '503']]),
    responseCode: 503,
    responseCodeDetails: 'upstream_reset_before_response_started',
    responseFlags: ['UO'],
    upstreamCluster: 'outbound|9080||reviews.default.svc.cluster.local',
    routeName: 'default',
    upstreamHost: { address: '10.0.0.7:9080', ip: '10.0.0.7', port: 9080, weight: 1, healthy: true },
    attemptCount: 1,
    bytesReceived: 12,
    bytesSent: 81,
    connection: { remoteAddress: '127.0.0.9', remotePort: 40000, localAddress: '10.0.0.1', localPort: 15006, peerCertificateUris: ['spiffe://cluster.local/ns/default/sa/productpage'], serverName: 'outbound_.9080_._.reviews' },
    ...over,
  };
}

function run(expr: string, i: StreamInfo = info()): unknown {
  const c = compileCel(expr);
  if (!c.ok) assert.fail(`${expr}: ${c.message} at ${c.position}`);
  return c.eval(celAttributes(i));
}

test('the attribute vocabulary evaluates against StreamInfo', () => {
  const cases: Array<[string, unknown]> = [
    ['response.code >= 400', true],
    ['response.code == 503 && response.flags == 128', true], // UO is bit 7 in Envoy's ResponseFlag
    ['response.code_details.startsWith("upstream_reset")', true],
    ['request.method in ["GET", "HEAD"]', true],
    ['request.path == "/api/v1/items?limit=5"', true],
    ['request.url_path == "/api/v1/items" && request.query == "limit=5"', true],
    ['request.host.endsWith(":9080") && request.scheme == "http"', true],
    ['request.headers["x-multi"] == "a,b"', true],
    ['request.useragent.contains("curl") && request.id == "abc"', true],
    ['request.protocol == "HTTP/1.1"', true],
    ['request.duration == duration("250ms")', true],
    ['request.time == timestamp("2023-11-14T22:13:20Z")', true],
    ['request.size == 12 && response.size == 81', true],
    ['request.url_path.matches("^/api/v[0-9]+/")', true],
    ['size(request.headers) == 7', true],
    ['!(response.code == 200) || false', true],
    ['connection.mtls && connection.requested_server_name.startsWith("outbound_")', true],
    ['source.address == "127.0.0.9" && source.port == 40000', true],
    ['destination.port == 15006', true],
    ['upstream.address == "10.0.0.7" && upstream.port == 9080', true],
    ['xds.cluster_name.contains("reviews") && xds.route_name == "default"', true],
    ['has(request.headers.referer)', false],
  ];
  for (const [expr, want] of cases) assert.equal(run(expr), want, expr);
});

test('grpc_status comes from trailers, else from a trailers-only response', () => {
  assert.equal(run('response.grpc_status == 14', info({ responseTrailers: new Map([['grpc-status', '14']]) })), true);
  assert.equal(run('response.grpc_status == 0', info({ responseHeaders: new Map([['grpc-status', '0']]) })), true);
});

test('an attribute the stream lacks is an evaluation error (undefined), not false or a throw', () => {
  const tcp = info({ protocol: undefined, requestHeaders: undefined, responseCode: undefined, upstreamHost: undefined });
  assert.equal(run('response.code >= 400', tcp), undefined);
  assert.equal(run('upstream.address == "x"', tcp), undefined);
  assert.equal(run('request.headers["absent"] == "x"'), undefined);
});

test('compile errors name the problem and its 0-based position', () => {
  const cases: Array<[string, RegExp, number]> = [
    ['response.code >= ', /Unexpected token/, 17],
    ['response.cod >= 400', /unsupported attribute response\.cod/, 9],
    ['connection.tls_version == "TLSv1.3"', /unsupported attribute connection\.tls_version/, 11],
    ['response.code == 200 && filter_state.x == 1', /unknown attribute filter_state/, 24],
    ['response.code == "200"', /no such overload: int == string/, 0],
  ];
  for (const [expr, msg, pos] of cases) {
    const c = compileCel(expr);
    assert.equal(c.ok, false, expr);
    if (c.ok) continue;
    assert.match(c.message, msg, expr);
    assert.equal(c.position, pos, `${expr}: ${c.message}`);
  }
});

test('an expected result type is checked at compile time', () => {
  const c = compileCel('response.code', 'bool');
  assert.equal(c.ok, false);
  assert.equal(compileCel('request.headers["x-foo"]', 'string').ok, true);
});

test('Istio peer attributes come from the peer metadata exchange', () => {
  const peer = { workload: 'productpage-v1', namespace: 'default', app: 'productpage', version: 'v1', labels: { app: 'productpage' } };
  assert.equal(run('downstream_peer.name == "productpage-v1" && downstream_peer.labels["app"] == "productpage"', info({ downstreamPeer: peer })), true);
  assert.equal(run('upstream_peer.app == "productpage"', info()), undefined, 'an unknown peer is an evaluation error');
});
