/**
 * Istio's peer metadata and standard metrics at the proxy level, two in-process proxies on
 * loopback: a "client sidecar" (OUTBOUND listener: peer_metadata upstream side + istio.stats) in
 * front of a "server sidecar" (INBOUND: peer_metadata downstream side + istio.stats) in front of
 * real HTTP/1.1 and HTTP/2 (gRPC) apps; and a gateway (router node, outbound config) in front of
 * the server sidecar. Shows: the header round trip (each side learns the other, neither app sees
 * the headers), stripping at the edge (a client's forged header is replaced, the response's
 * removed), labels of a 200, a 503 and a gRPC stream (message counts, grpc_response_status), and
 * the cardinality cap with its drop counter.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import http2 from 'node:http2';
import { startProxy, staticCluster, type Proxy } from './helpers.ts';
import { renderPrometheus } from '../../src/proxy/stats/render.ts';
import { labelledRegistry } from '../../src/proxy/istio/metrics_registry.ts';
import { StatsStore } from '../../src/proxy/stats/stats_store.ts';
import { encodeStruct } from '../../src/proxy/istio/proto_struct.ts';
import { CLUSTER_EXT, HTTP_FILTER, ISTIO_FILTER, NETWORK_FILTER, TYPED_STRUCT } from '../../src/xds/type_urls.ts';
import type { EnvoyJson } from '../../src/xds/types.ts';

const ts = (type_url: string, value: EnvoyJson) => ({ '@type': TYPED_STRUCT[0], type_url, value });
const H = [{ istio_headers: {} }];
const INBOUND_PM = { name: 'envoy.filters.http.peer_metadata', typed_config: ts(ISTIO_FILTER.PEER_METADATA, { downstream_discovery: H, downstream_propagation: H }) };
const OUTBOUND_PM = { name: 'envoy.filters.http.peer_metadata', typed_config: ts(ISTIO_FILTER.PEER_METADATA, { upstream_discovery: [...H, { workload_discovery: {} }], upstream_propagation: H }) };
const STATS = (cfg: EnvoyJson = {}) => ({ name: 'istio.stats', typed_config: ts(ISTIO_FILTER.STATS, cfg) });
const ROUTER = { name: 'envoy.filters.http.router', typed_config: { '@type': HTTP_FILTER.ROUTER } };

function node(id: string, workload: string, app: string, version: string, sa: string): EnvoyJson {
  return { id, cluster: `${app}.default`, metadata: { NAMESPACE: 'default', WORKLOAD_NAME: workload, NAME: `${workload}-1`, LABELS: { app, version }, SERVICE_ACCOUNT: sa, CLUSTER_ID: 'Kubernetes', MESH_ID: 'cluster.local' } };
}

function listener(name: string, direction: string, filters: EnvoyJson[], cluster: string): EnvoyJson {
  return {
    name,
    address: { socket_address: { address: '127.0.0.1', port_value: 0 } },
    traffic_direction: direction,
    filter_chains: [{ filters: [{ name: 'envoy.filters.network.http_connection_manager', typed_config: { '@type': NETWORK_FILTER.HTTP_CONNECTION_MANAGER, stat_prefix: name, route_config: { name: 'r', virtual_hosts: [{ name: 'all', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster, timeout: '5s' } }] }] }, http_filters: [...filters, ROUTER] } }] }],
  };
}

const H2: EnvoyJson = { typed_extension_protocol_options: { 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': { '@type': CLUSTER_EXT.HTTP_PROTOCOL_OPTIONS, explicit_http_config: { http2_protocol_options: {} } } } };
const SERVICE_META = (host: string): EnvoyJson => ({ metadata: { filter_metadata: { istio: { services: [{ host, name: host.split('.')[0], namespace: 'default' }] } } } });

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}
function scrape(p: Proxy): Sample[] {
  const out: Sample[] = [];
  for (const line of renderPrometheus(p.server.store.snapshot()).split('\n')) {
    const m = /^([a-z_]+)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-z_]+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    out.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return out;
}
const find = (s: Sample[], name: string, match: Record<string, string>) => s.filter((x) => x.name === name && Object.entries(match).every(([k, v]) => x.labels[k] === v));

/** The message framing gRPC uses: 1-byte flag, 4-byte length, message. */
function grpcFrames(n: number, size: number): Buffer {
  const parts: Buffer[] = [];
  for (let i = 0; i < n; i++) {
    const h = Buffer.alloc(5);
    h.writeUInt32BE(size, 1);
    parts.push(h, Buffer.alloc(size, 97));
  }
  return Buffer.concat(parts);
}

test('peer metadata round trip, edge stripping, labels for 200 / 503 / gRPC, and the series cap', async (t) => {
  const seen: http.IncomingHttpHeaders[] = [];
  const app = http.createServer((req, res) => {
    seen.push(req.headers);
    req.resume();
    req.on('end', () => {
      res.writeHead(req.url === '/fail' ? 503 : req.url?.startsWith('/code/') ? Number(req.url.slice(6)) : 200, { 'content-type': 'text/plain' });
      res.end('ok');
    });
  });
  await new Promise<void>((r) => app.listen(0, '127.0.0.1', () => r()));
  t.after(() => app.close());
  const grpcApp = http2.createServer();
  grpcApp.on('stream', (stream) => {
    stream.resume();
    stream.on('end', () => {
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
      stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '5', 'grpc-message': 'not found' }));
      stream.end(grpcFrames(2, 3000));
    });
  });
  await new Promise<void>((r) => grpcApp.listen(0, '127.0.0.1', () => r()));
  t.after(() => grpcApp.close());
  const appPort = (app.address() as { port: number }).port;
  const grpcPort = (grpcApp.address() as { port: number }).port;

  const server = await startProxy(
    { clusters: [staticCluster('inbound|8080||', [appPort], SERVICE_META('server.default.svc.cluster.local')), staticCluster('inbound|7070||', [grpcPort], { ...H2, ...SERVICE_META('server.default.svc.cluster.local') })], listeners: [listener('in', 'INBOUND', [INBOUND_PM, STATS()], 'inbound|8080||'), listener('in-grpc', 'INBOUND', [INBOUND_PM, STATS()], 'inbound|7070||')] },
    { extra: { node: node('sidecar~127.0.0.1~server-v1-1.default~default.svc.cluster.local', 'server-v1', 'server', 'v1', 'server') } },
  );
  t.after(() => server.close());
  const out = 'outbound|8080||server.default.svc.cluster.local';
  const outGrpc = 'outbound|7070||server.default.svc.cluster.local';
  const client = await startProxy(
    { clusters: [staticCluster(out, [server.port('in')], SERVICE_META('server.default.svc.cluster.local')), staticCluster(outGrpc, [server.port('in-grpc')], { ...H2, ...SERVICE_META('server.default.svc.cluster.local') })], listeners: [listener('out', 'OUTBOUND', [OUTBOUND_PM, STATS({ metrics: [{ name: 'requests_total', dimensions: { request_method: 'request.method' } }] })], out), listener('out-grpc', 'OUTBOUND', [OUTBOUND_PM, STATS()], outGrpc)] },
    { extra: { node: node('sidecar~127.0.0.1~client-v2-1.default~default.svc.cluster.local', 'client-v2', 'client', 'v2', 'client') } },
  );
  t.after(() => client.close());

  // ---- HTTP: 200 and 503 through both ----
  const get = async (port: number, path: string, headers: Record<string, string> = {}) => {
    const r = await fetch(`http://127.0.0.1:${port}${path}`, { headers });
    await r.text();
    return r;
  };
  const r200 = await get(client.port('out'), '/hello');
  assert.equal(r200.status, 200);
  assert.equal(r200.headers.get('x-envoy-peer-metadata'), null, 'the client app does not see the server side header');
  assert.equal(r200.headers.get('x-envoy-peer-metadata-id'), null);
  assert.equal((await get(client.port('out'), '/fail')).status, 503);
  for (const h of seen) assert.equal(h['x-envoy-peer-metadata'], undefined, 'the server app does not see the client side header');

  const srv = scrape(server);
  const cli = scrape(client);
  const both = { source_workload: 'client-v2', source_app: 'client', source_version: 'v2', destination_workload: 'server-v1', destination_app: 'server', destination_version: 'v1', destination_service: 'server.default.svc.cluster.local', destination_service_name: 'server', request_protocol: 'http' };
  // Plaintext between the two: no principals, connection_security_policy none.
  const d200 = find(srv, 'istio_requests_total', { ...both, reporter: 'destination', response_code: '200', connection_security_policy: 'none', source_principal: 'unknown', response_flags: '-' });
  assert.equal(d200.length, 1, JSON.stringify(find(srv, 'istio_requests_total', {})));
  assert.equal(find(srv, 'istio_requests_total', { ...both, reporter: 'destination', response_code: '503' }).length, 1);
  const s200 = find(cli, 'istio_requests_total', { ...both, reporter: 'source', response_code: '200', request_method: 'GET', connection_security_policy: 'unknown' });
  assert.equal(s200.length, 1, JSON.stringify(find(cli, 'istio_requests_total', {})));
  t.diagnostic(`source: ${JSON.stringify(s200[0]!.labels)}`);
  assert.equal(find(cli, 'istio_request_duration_milliseconds_bucket', { reporter: 'source', response_code: '503', le: '+Inf' })[0]?.value, 1);

  // ---- gRPC: messages counted both ways, status from the trailers ----
  const session = http2.connect(`http://127.0.0.1:${client.port('out-grpc')}`);
  t.after(() => session.close());
  const grpcStatus = await new Promise<string>((resolve, reject) => {
    const req = session.request({ ':method': 'POST', ':path': '/echo.Echo/Stream', 'content-type': 'application/grpc', te: 'trailers' });
    let status = '';
    req.on('trailers', (tr) => (status = String(tr['grpc-status'])));
    req.on('error', reject);
    req.resume();
    req.on('end', () => resolve(status));
    // Three messages in uneven chunks: the counter follows frames across chunk boundaries.
    const body = grpcFrames(3, 1000);
    req.write(body.subarray(0, 3));
    req.write(body.subarray(3, 1700));
    req.end(body.subarray(1700));
  });
  assert.equal(grpcStatus, '5');
  const g = { reporter: 'destination', request_protocol: 'grpc', grpc_response_status: '5', source_workload: 'client-v2' };
  const srv2 = scrape(server);
  assert.equal(find(srv2, 'istio_request_messages_total', g)[0]?.value, 3, 'request messages');
  assert.equal(find(srv2, 'istio_response_messages_total', g)[0]?.value, 2, 'response messages');
  assert.equal(find(scrape(client), 'istio_requests_total', { reporter: 'source', request_protocol: 'grpc', grpc_response_status: '5', destination_workload: 'server-v1' }).length, 1);

  // ---- gateway: forged headers replaced, the server side's answer removed ----
  const gw = await startProxy(
    { clusters: [staticCluster(out, [server.port('in')], SERVICE_META('server.default.svc.cluster.local'))], listeners: [listener('gw', 'OUTBOUND', [OUTBOUND_PM, STATS()], out)] },
    { extra: { node: { ...node('router~127.0.0.1~istio-ingressgateway-1.istio-system~istio-system.svc.cluster.local', 'istio-ingressgateway', 'istio-ingressgateway', 'v1', 'istio-ingressgateway-service-account'), metadata: { ...node('', 'istio-ingressgateway', 'istio-ingressgateway', '', '').metadata, NAMESPACE: 'istio-system' } } } },
  );
  t.after(() => gw.close());
  const forged = encodeStruct({ WORKLOAD_NAME: 'evil', NAMESPACE: 'default' }).toString('base64');
  const viaGw = await get(gw.port('gw'), '/edge', { 'x-envoy-peer-metadata': forged, 'x-envoy-peer-metadata-id': 'evil' });
  assert.equal(viaGw.status, 200);
  assert.equal(viaGw.headers.get('x-envoy-peer-metadata'), null, 'nothing of the mesh leaves through the gateway');
  const srv3 = scrape(server);
  assert.equal(find(srv3, 'istio_requests_total', { source_workload: 'evil' }).length, 0, 'the forged peer is not believed');
  assert.equal(find(srv3, 'istio_requests_total', { reporter: 'destination', source_workload: 'istio-ingressgateway', source_workload_namespace: 'istio-system' }).length, 1);
  assert.equal(find(scrape(gw), 'istio_requests_total', { reporter: 'source', source_workload: 'istio-ingressgateway', destination_workload: 'server-v1' }).length, 1);

  // ---- the cap: past it, new series are dropped and counted ----
  const reg = labelledRegistry(server.server.store);
  reg.maxSeries = reg.seriesCount + 4;
  for (const code of [201, 202, 203, 204, 205, 206]) await get(client.port('out'), `/code/${code}`);
  const srv4 = scrape(server);
  const dropped = find(srv4, 'tsmesh_istio_series_dropped_total', {})[0]!.value;
  t.diagnostic(`series ${reg.seriesCount} (cap ${reg.maxSeries}), dropped ${dropped}`);
  assert.equal(reg.seriesCount, reg.maxSeries);
  assert.ok(dropped > 0, 'drops are counted');
  // A request's four series (one counter, three histograms) are admitted together: the 201 gets all of them.
  const fams = ['istio_requests_total', 'istio_request_duration_milliseconds_count', 'istio_request_bytes_count', 'istio_response_bytes_count'];
  assert.deepEqual(fams.map((f) => find(srv4, f, { response_code: '201' }).length), [1, 1, 1, 1], 'series under the cap are kept, in every family');
  assert.deepEqual(fams.map((f) => find(srv4, f, { response_code: '206' }).length), [0, 0, 0, 0], 'series past the cap are not');
});

/** One app and a server sidecar (INBOUND, Istio's filters) in front of it. */
async function inboundSidecar(t: { after(fn: () => unknown): void }, appHandler: http.RequestListener, stats: EnvoyJson = {}) {
  const app = http.createServer(appHandler);
  await new Promise<void>((r) => app.listen(0, '127.0.0.1', () => r()));
  t.after(() => app.close());
  const appPort = (app.address() as { port: number }).port;
  const server = await startProxy(
    { clusters: [staticCluster('inbound|8080||', [appPort], SERVICE_META('server.default.svc.cluster.local'))], listeners: [listener('in', 'INBOUND', [INBOUND_PM, STATS(stats)], 'inbound|8080||')] },
    { extra: { node: node('sidecar~127.0.0.1~server-v1-1.default~default.svc.cluster.local', 'server-v1', 'server', 'v1', 'server') } },
  );
  t.after(() => server.close());
  return server;
}

test('inbound: a client that sent no peer metadata gets none back (Istio answers only what it received)', async (t) => {
  const server = await inboundSidecar(t, (_req, res) => res.end('ok'));
  const plain = await fetch(`http://127.0.0.1:${server.port('in')}/`);
  await plain.text();
  assert.equal(plain.status, 200);
  assert.equal(plain.headers.get('x-envoy-peer-metadata'), null, 'a plain client does not learn the node metadata');
  assert.equal(plain.headers.get('x-envoy-peer-metadata-id'), null, 'nor the node id (pod IP)');
  // A mesh client (it sent both) gets both; one that sent only the id gets only the id.
  const md = encodeStruct({ WORKLOAD_NAME: 'client-v2', NAMESPACE: 'default' }).toString('base64');
  const mesh = await fetch(`http://127.0.0.1:${server.port('in')}/`, { headers: { 'x-envoy-peer-metadata': md, 'x-envoy-peer-metadata-id': 'sidecar~10.0.0.1~client' } });
  await mesh.text();
  assert.ok(mesh.headers.get('x-envoy-peer-metadata'), 'a mesh client learns the server');
  assert.match(mesh.headers.get('x-envoy-peer-metadata-id') ?? '', /server-v1-1/);
  const idOnly = await fetch(`http://127.0.0.1:${server.port('in')}/`, { headers: { 'x-envoy-peer-metadata-id': 'sidecar~10.0.0.1~client' } });
  await idOnly.text();
  assert.equal(idOnly.headers.get('x-envoy-peer-metadata'), null);
  assert.ok(idOnly.headers.get('x-envoy-peer-metadata-id'));
});

test('gRPC answered with a plain HTTP error and no grpc-status: grpc_response_status from the HTTP code (Envoy httpToGrpcStatus)', async (t) => {
  const server = await inboundSidecar(t, (req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(req.url === '/svc.S/Missing' ? 404 : 503, { 'content-type': 'text/plain' }).end('no'));
  });
  const session = http2.connect(`http://127.0.0.1:${server.port('in')}`);
  t.after(() => session.close());
  const call = (path: string) =>
    new Promise<number>((resolve, reject) => {
      const req = session.request({ ':method': 'POST', ':path': path, 'content-type': 'application/grpc', te: 'trailers' });
      let status = 0;
      req.on('response', (h) => (status = Number(h[':status'])));
      req.on('error', reject);
      req.resume();
      req.on('end', () => resolve(status));
      req.end(grpcFrames(1, 10));
    });
  assert.equal(await call('/svc.S/Unavailable'), 503);
  assert.equal(await call('/svc.S/Missing'), 404);
  const s = scrape(server);
  const series = find(s, 'istio_requests_total', { reporter: 'destination', request_protocol: 'grpc' });
  t.diagnostic(series.map((x) => `${x.labels.response_code} → grpc_response_status "${x.labels.grpc_response_status}"`).join(', '));
  assert.equal(find(s, 'istio_requests_total', { request_protocol: 'grpc', response_code: '503', grpc_response_status: '14' }).length, 1, 'UNAVAILABLE');
  assert.equal(find(s, 'istio_requests_total', { request_protocol: 'grpc', response_code: '404', grpc_response_status: '12' }).length, 1, 'UNIMPLEMENTED');
});

test('destination_service* for passthrough, blackhole and metadata-less clusters: cluster/route names and the Host fallback (outbound only)', async (t) => {
  const app = http.createServer((req, res) => (req.resume(), res.end('ok')));
  await new Promise<void>((r) => app.listen(0, '127.0.0.1', () => r()));
  t.after(() => app.close());
  const appPort = (app.address() as { port: number }).port;
  const routes = [
    { name: 'allow_any', match: { prefix: '/any' }, route: { cluster: 'PassthroughCluster', timeout: '5s' } },
    { name: 'block_all', match: { prefix: '/blocked' }, direct_response: { status: 502 } },
    { match: { prefix: '/' }, route: { cluster: 'outbound|80||plain', timeout: '5s' } },
  ];
  const out = (name: string, direction: string, stats: EnvoyJson) => ({
    ...listener(name, direction, [], 'unused'),
    filter_chains: [{ filters: [{ name: 'envoy.filters.network.http_connection_manager', typed_config: { '@type': NETWORK_FILTER.HTTP_CONNECTION_MANAGER, stat_prefix: name, route_config: { name: 'r', virtual_hosts: [{ name: 'all', domains: ['*'], routes }] }, http_filters: [OUTBOUND_PM, STATS(stats), ROUTER] } }] }],
  });
  const client = await startProxy(
    { clusters: [staticCluster('PassthroughCluster', [appPort]), staticCluster('outbound|80||plain', [appPort])], listeners: [out('out', 'OUTBOUND', {}), out('in', 'INBOUND', { disable_host_header_fallback: true })] },
    { extra: { node: node('sidecar~127.0.0.1~client-v2-1.default~default.svc.cluster.local', 'client-v2', 'client', 'v2', 'client') } },
  );
  t.after(() => client.close());
  const get = (port: number, path: string, host: string) =>
    new Promise<number>((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port, path, headers: { host } }, (res) => (res.resume(), res.on('end', () => resolve(res.statusCode ?? 0))));
      req.on('error', reject);
      req.end();
    });
  assert.equal(await get(client.port('out'), '/any', 'httpbin.example.com'), 200);
  assert.equal(await get(client.port('out'), '/blocked', 'blocked.example.com'), 502);
  assert.equal(await get(client.port('out'), '/plain', 'plain.example.com:8080'), 200);
  assert.equal(await get(client.port('in'), '/plain', 'inbound.example.com'), 200);
  const s = scrape(client);
  const label = (x: Sample) => `${x.labels.reporter} ${x.labels.destination_service} / ${x.labels.destination_service_name} (${x.labels.response_code})`;
  t.diagnostic(find(s, 'istio_requests_total', {}).map(label).join('; '));
  assert.equal(find(s, 'istio_requests_total', { reporter: 'source', destination_service: 'httpbin.example.com', destination_service_name: 'PassthroughCluster' }).length, 1, 'allow_any: PassthroughCluster, the service from the Host');
  assert.equal(find(s, 'istio_requests_total', { reporter: 'source', destination_service: 'blocked.example.com', destination_service_name: 'BlackHoleCluster', response_code: '502' }).length, 1, 'block_all: BlackHoleCluster');
  assert.equal(find(s, 'istio_requests_total', { reporter: 'source', destination_service: 'plain.example.com:8080', destination_service_name: 'plain.example.com:8080' }).length, 1, 'no istio metadata: the Host');
  assert.equal(find(s, 'istio_requests_total', { reporter: 'destination', destination_service: 'unknown' }).length, 1, 'disable_host_header_fallback: never the Host');
});

test('peer_metadata istio_headers.skip_external_clusters: no node id/metadata to PassthroughCluster or istio.external clusters; istio.disable_mx always; unimplemented fields NACK', async (t) => {
  const seen = new Map<string, http.IncomingHttpHeaders>();
  const app = http.createServer((req, res) => (seen.set(req.url!, req.headers), req.resume(), res.end('ok')));
  await new Promise<void>((r) => app.listen(0, '127.0.0.1', () => r()));
  t.after(() => app.close());
  const appPort = (app.address() as { port: number }).port;
  const istioMd = (md: EnvoyJson) => ({ metadata: { filter_metadata: { istio: md } } });
  const routes = [
    { match: { prefix: '/passthrough' }, route: { cluster: 'PassthroughCluster' } },
    { match: { prefix: '/external' }, route: { cluster: 'outbound|443||api.example.com' } },
    { match: { prefix: '/nomx' }, route: { cluster: 'outbound|80||nomx' } },
    { match: { prefix: '/' }, route: { cluster: 'outbound|80||mesh' } },
  ];
  const pm = (skip: boolean) => ({ name: 'envoy.filters.http.peer_metadata', typed_config: ts(ISTIO_FILTER.PEER_METADATA, { upstream_discovery: H, upstream_propagation: [{ istio_headers: skip ? { skip_external_clusters: true } : {} }] }) });
  const l = (name: string, skip: boolean) => ({
    ...listener(name, 'OUTBOUND', [], 'unused'),
    filter_chains: [{ filters: [{ name: 'envoy.filters.network.http_connection_manager', typed_config: { '@type': NETWORK_FILTER.HTTP_CONNECTION_MANAGER, stat_prefix: name, route_config: { name: 'r', virtual_hosts: [{ name: 'all', domains: ['*'], routes }] }, http_filters: [pm(skip), ROUTER] } }] }],
  });
  const client = await startProxy(
    {
      clusters: [staticCluster('PassthroughCluster', [appPort]), staticCluster('outbound|443||api.example.com', [appPort], istioMd({ external: true })), staticCluster('outbound|80||nomx', [appPort], istioMd({ disable_mx: true })), staticCluster('outbound|80||mesh', [appPort])],
      listeners: [l('skip', true), l('plain', false)],
    },
    { extra: { node: node('sidecar~127.0.0.1~client-v2-1.default~default.svc.cluster.local', 'client-v2', 'client', 'v2', 'client') } },
  );
  t.after(() => client.close());
  const sent = async (listenerName: string, path: string) => {
    const r = await fetch(`http://127.0.0.1:${client.port(listenerName)}${path}`);
    await r.text();
    const h = seen.get(path)!;
    return h['x-envoy-peer-metadata'] !== undefined || h['x-envoy-peer-metadata-id'] !== undefined;
  };
  const got: Record<string, boolean> = {};
  for (const [ln, p] of [['skip', '/passthrough/1'], ['skip', '/external/1'], ['skip', '/nomx/1'], ['skip', '/mesh/1'], ['plain', '/passthrough/2'], ['plain', '/external/2'], ['plain', '/nomx/2'], ['plain', '/mesh/2']] as const) got[`${ln} ${p}`] = await sent(ln, p);
  t.diagnostic(`headers sent: ${JSON.stringify(got)}`);
  assert.deepEqual(got, {
    'skip /passthrough/1': false,
    'skip /external/1': false,
    'skip /nomx/1': false,
    'skip /mesh/1': true,
    'plain /passthrough/2': true,
    'plain /external/2': true,
    'plain /nomx/2': false,
    'plain /mesh/2': true,
  });
  const { peerMetadataFilterFactory } = await import('../../src/proxy/istio/peer_metadata_filter.ts');
  const create = (v: EnvoyJson) => () => peerMetadataFilterFactory.create({ '@type': ISTIO_FILTER.PEER_METADATA, ...v }, {} as never);
  assert.throws(create({ shared_with_upstream: true }), /shared_with_upstream/);
  assert.doesNotThrow(create({ shared_with_upstream: false }));
  assert.throws(create({ upstream_propagation: [{ istio_headers: { something: 1 } }] }), /something/);
  assert.throws(create({ upstream_discovery: [{ istio_headers: { skip_external_clusters: true } }] }), /skip_external_clusters/);
  // Discovery by address needs Istio's workload metadata discovery: refused, not ignored.
  assert.throws(create({ downstream_discovery: [{ workload_discovery: {} }] }), /downstream_discovery\[0\]: unsupported discovery method workload_discovery/);
  const { metadataExchangeFactory } = await import('../../src/proxy/istio/metadata_exchange_filter.ts');
  const mx = (v: EnvoyJson) => () => metadataExchangeFactory.create({ '@type': ISTIO_FILTER.METADATA_EXCHANGE, protocol: 'istio-peer-exchange', ...v }, { stats: new StatsStore() } as never);
  assert.throws(mx({ enable_discovery: true }), /enable_discovery/);
  assert.doesNotThrow(mx({ enable_discovery: false }));
});

test('series cap: a request gets all of its series or none (families agree), and the drops are counted', async (t) => {
  const server = await inboundSidecar(t, (req, res) => (req.resume(), res.writeHead(Number(req.url!.slice(1))).end('ok')));
  const get = async (path: string) => (await (await fetch(`http://127.0.0.1:${server.port('in')}${path}`)).text(), undefined);
  await get('/200');
  const reg = labelledRegistry(server.server.store);
  const families = ['istio_requests_total', 'istio_request_duration_milliseconds_count', 'istio_request_bytes_count', 'istio_response_bytes_count'];
  const present = (code: string) => families.map((f) => find(scrape(server), f, { response_code: code }).length);
  // Room for two new series; a 201 needs four (one counter, three histograms).
  reg.maxSeries = reg.seriesCount + 2;
  const before = reg.dropped;
  await get('/201');
  t.diagnostic(`cap ${reg.maxSeries}: 201's series per family ${JSON.stringify(present('201'))}, dropped ${reg.dropped - before}`);
  assert.deepEqual(present('201'), [0, 0, 0, 0], 'none of the request\'s series past the cap');
  assert.equal(reg.dropped - before, 4, 'each refused series counted');
  reg.maxSeries = reg.seriesCount + 4;
  await get('/202');
  assert.deepEqual(present('202'), [1, 1, 1, 1], 'all four when they fit');
  assert.equal(reg.seriesCount, reg.maxSeries);
  await get('/200');
  assert.equal(find(scrape(server), 'istio_requests_total', { response_code: '200' })[0]!.value, 2, 'existing series keep counting at the cap');
});
