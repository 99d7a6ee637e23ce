/**
 * envoy.filters.http.ext_authz through a real HTTP connection manager on loopback, against Istio's
 * sample authorizer (samples/ext-authz, HTTP and gRPC) and recording servers: what the client
 * gets (allowed, the service's denial, status_on_error), what the upstream receives (headers the
 * service adds), what the check carries (allowed headers, path_prefix, headers_to_add; the gRPC
 * CheckRequest's headers and peer), failure_mode_allow, timeouts, the metadata gate Istio uses,
 * and the stats.
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { startHcm, startUpstream, request, hcmConfig, listenOn, type Upstream, type TestProxy } from './http/harness.ts';
import { HTTP_FILTER } from '../../src/xds/type_urls.ts';
import type { EnvoyJson } from '../../src/xds/types.ts';
import { start as startExtAuthz, DENY_BODY, type RunningExtAuthz } from '../../samples/ext-authz/main.ts';
import { extAuthzFilterFactory } from '../../src/proxy/http/filters/ext_authz.ts';
import { refusedPort } from '../helpers/refused_port.ts';

const routes = { name: 'r', virtual_hosts: [{ name: 'all', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster: 'backend' } }] }] };

let up: Upstream;
let sample: RunningExtAuthz;
const open: TestProxy[] = [];
const servers: Array<{ close(): Promise<void> }> = [];

before(async () => {
  up = await startUpstream('backend');
  sample = await startExtAuthz({ port: 0, grpcPort: 0, host: '127.0.0.1', log: () => {} });
});
after(async () => {
  for (const p of open) await p.close();
  for (const s of servers) await s.close();
  await up.close();
  await sample.close();
});

function extAuthz(config: EnvoyJson): EnvoyJson {
  return { name: 'envoy.filters.http.ext_authz', typed_config: { '@type': HTTP_FILTER.EXT_AUTHZ, transport_api_version: 'V3', ...config } };
}
const httpService = (cluster: string, extra: EnvoyJson = {}) => ({ server_uri: { uri: `http://${cluster}`, cluster, timeout: '2s' }, ...extra });
const grpcService = (cluster: string, timeout = '2s') => ({ envoy_grpc: { cluster_name: cluster, authority: 'ext-authz.foo.svc.cluster.local' }, timeout });

async function proxyWith(filters: EnvoyJson[], clusters: { name: string; ports: number[]; protocol?: 'http1' | 'http2' }[]): Promise<TestProxy> {
  const p = await startHcm(hcmConfig(routes, {}, filters), [{ name: 'backend', ports: [up.port] }, ...clusters]);
  open.push(p);
  return p;
}
const lastSeen = () => up.seen[up.seen.length - 1]!;
const stat = (p: TestProxy, n: string) => p.stats.counter(`http.test.ext_authz.${n}`).value();

/** An HTTP authorizer that records each check and answers with `answer` (or never, when it returns false). */
async function recordingAuthz(answer: (req: http.IncomingMessage, res: http.ServerResponse) => boolean | void): Promise<{ port: number; seen: http.IncomingMessage[] }> {
  const seen: http.IncomingMessage[] = [];
  const held: http.ServerResponse[] = [];
  const server = http.createServer((req, res) => {
    seen.push(req);
    req.resume();
    req.on('end', () => {
      if (answer(req, res) === false) held.push(res);
    });
  });
  const port = await listenOn(server);
  servers.push({
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  });
  return { port, seen };
}

test('HTTP service (the sample): allow goes upstream with the allowed headers, deny is the service\'s 403 with its body and headers', async () => {
  const p = await proxyWith(
    [
      extAuthz({
        http_service: httpService('ext-authz', {
          authorization_request: { allowed_headers: { patterns: [{ exact: 'x-ext-authz', ignore_case: true }] } },
          authorization_response: {
            allowed_upstream_headers: { patterns: [{ exact: 'x-ext-authz-check-result' }, { exact: 'x-ext-authz-check-received' }] },
            allowed_client_headers_on_success: { patterns: [{ prefix: 'x-ext-authz-additional' }] },
          },
        }),
      }),
    ],
    [{ name: 'ext-authz', ports: [sample.port] }],
  );
  const ok = await request(p.port, { path: '/headers', headers: { 'x-ext-authz': 'allow', 'x-secret': 's3', 'x-ext-authz-additional-header-override': 'mine' } });
  assert.equal(ok.status, 200);
  const seen = lastSeen();
  assert.equal(seen.url, '/headers');
  assert.equal(seen.headers['x-ext-authz-check-result'], 'allowed');
  // What the sample received: the allowed header, not the others.
  const received = String(seen.headers['x-ext-authz-check-received']);
  assert.match(received, /^GET .*\/headers, headers: map\[.*X-Ext-Authz:\[allow\]/);
  assert.doesNotMatch(received, /X-Secret/);
  // The sample echoes the override header it received: not allowed in the check, so it is empty.
  assert.equal(ok.headers['x-ext-authz-additional-header-override'], '');
  assert.equal(seen.headers['x-secret'], 's3', 'the request itself keeps its headers');

  const before = up.seen.length;
  const denied = await request(p.port, { path: '/headers', headers: { 'x-ext-authz': 'deny' } });
  assert.equal(denied.status, 403);
  assert.equal(denied.body, DENY_BODY);
  assert.equal(denied.headers['x-ext-authz-check-result'], 'denied');
  assert.equal(up.seen.length, before, 'a denied request never reaches the upstream');
  assert.equal(stat(p, 'ok'), 1);
  assert.equal(stat(p, 'denied'), 1);
  assert.equal(p.completed.at(-1)?.responseCodeDetails, 'ext_authz_denied');
  assert.deepEqual(p.completed.at(-1)?.responseFlags, ['UAEX']);
});

test('HTTP service: the check keeps the method, prefixes the path, adds headers_to_add, sends no body; allowed_client_headers limit the denial', async () => {
  const authz = await recordingAuthz((req, res) => {
    if (req.headers['x-ext-authz'] === 'allow') {
      res.writeHead(200, { 'x-user': 'alice', 'x-append': 'from-authz', 'x-envoy-auth-headers-to-remove': 'x-drop', 'x-not-forwarded': '1' });
      res.end('ignored');
    } else {
      res.writeHead(401, { 'www-authenticate': 'Basic', 'x-hidden': 'h', 'x-shown': 'yes' });
      res.end('who are you');
    }
  });
  const p = await proxyWith(
    [
      extAuthz({
        http_service: httpService('authz', {
          path_prefix: '/check',
          authorization_request: { allowed_headers: { patterns: [{ exact: 'x-ext-authz' }] }, headers_to_add: [{ key: 'x-from-proxy', value: 'sidecar' }] },
          authorization_response: {
            allowed_upstream_headers: { patterns: [{ exact: 'x-user' }] },
            allowed_upstream_headers_to_append: { patterns: [{ exact: 'x-append' }] },
            allowed_client_headers: { patterns: [{ exact: 'x-shown' }] },
          },
        }),
      }),
    ],
    [{ name: 'authz', ports: [authz.port] }],
  );
  const ok = await request(p.port, { method: 'POST', path: '/api?q=1', body: 'payload', headers: { 'x-ext-authz': 'allow', 'x-user': 'mallory', 'x-append': 'from-client', 'x-drop': 'gone', authorization: 'Bearer t', 'x-other': 'o' } });
  assert.equal(ok.status, 200);
  const check = authz.seen.at(-1)!;
  assert.equal(check.method, 'POST');
  assert.equal(check.url, '/check/api?q=1');
  assert.equal(check.headers['content-length'], '0');
  assert.equal(check.headers['x-from-proxy'], 'sidecar');
  assert.equal(check.headers.authorization, 'Bearer t', 'authorization is always sent');
  assert.equal(check.headers['x-other'], undefined);
  const seen = lastSeen();
  assert.equal(seen.body, 'payload');
  assert.equal(seen.headers['x-user'], 'alice', 'allowed_upstream_headers replace');
  assert.equal(seen.headers['x-append'], 'from-client, from-authz', 'allowed_upstream_headers_to_append append');
  assert.equal(seen.headers['x-drop'], undefined, 'x-envoy-auth-headers-to-remove');
  assert.equal(seen.headers['x-not-forwarded'], undefined);

  const denied = await request(p.port, { path: '/api', headers: { 'x-ext-authz': 'no' } });
  assert.equal(denied.status, 401);
  assert.equal(denied.body, 'who are you');
  assert.equal(denied.headers['www-authenticate'], 'Basic', 'www-authenticate always goes to the client');
  assert.equal(denied.headers['x-shown'], 'yes');
  assert.equal(denied.headers['x-hidden'], undefined);
});

test('gRPC service (the sample): Check over gRPC allows with the header, denies with the sample\'s 403; the CheckRequest carries the headers and the peer', async () => {
  const p = await proxyWith([extAuthz({ grpc_service: grpcService('ext-authz-grpc') })], [{ name: 'ext-authz-grpc', ports: [sample.grpcPort], protocol: 'http2' }]);
  const ok = await request(p.port, { path: '/headers', headers: { 'x-ext-authz': 'allow' } });
  assert.equal(ok.status, 200);
  const seen = lastSeen();
  assert.equal(seen.headers['x-ext-authz-check-result'], 'allowed');
  assert.equal(seen.headers['x-ext-authz-additional-header-override'], 'grpc-additional-header-override-value');
  const attrs = JSON.parse(String(seen.headers['x-ext-authz-check-received']));
  assert.equal(attrs.request.http.headers['x-ext-authz'], 'allow');
  assert.equal(attrs.request.http.headers[':path'], '/headers');
  assert.equal(attrs.request.http.method, 'GET');
  assert.equal(attrs.request.http.path, '/headers');
  assert.equal(attrs.source.address.socket_address.address, '127.0.0.1');
  assert.ok(attrs.destination.address.socket_address.port_value > 0);

  const denied = await request(p.port, { path: '/headers', headers: { 'x-ext-authz': 'deny' } });
  assert.equal(denied.status, 403);
  assert.equal(denied.body, DENY_BODY);
  assert.equal(denied.headers['x-ext-authz-check-result'], 'denied');
  // No header and no principal `.../sa/a`: the sample denies.
  assert.equal((await request(p.port, { path: '/headers' })).status, 403);
  assert.equal(stat(p, 'ok'), 1);
  assert.equal(stat(p, 'denied'), 2);
});

test('errors: no server, a 5xx, a timeout (HTTP and gRPC) answer status_on_error; failure_mode_allow lets the request through', async () => {
  // A port with nothing listening.
  const deadPort = await refusedPort();
  const fivexx = await recordingAuthz((_req, res) => void res.writeHead(503).end('down'));
  const silent = await recordingAuthz(() => false);

  const closed = await proxyWith([extAuthz({ http_service: httpService('authz') })], [{ name: 'authz', ports: [deadPort] }]);
  const r1 = await request(closed.port, { path: '/x' });
  assert.equal(r1.status, 403);
  assert.equal(r1.body, '');
  assert.equal(stat(closed, 'error'), 1);
  assert.equal(closed.completed.at(-1)?.responseCodeDetails, 'ext_authz_error');

  const err503 = await proxyWith([extAuthz({ http_service: httpService('authz'), status_on_error: { code: 503 } })], [{ name: 'authz', ports: [fivexx.port] }]);
  assert.equal((await request(err503.port, { path: '/x' })).status, 503, 'a 5xx from the service is an error, answered with status_on_error');

  const slow = await proxyWith([extAuthz({ http_service: { server_uri: { uri: 'http://authz', cluster: 'authz', timeout: '0.2s' } } })], [{ name: 'authz', ports: [silent.port] }]);
  assert.equal((await request(slow.port, { path: '/x' })).status, 403);
  assert.equal(stat(slow, 'error'), 1);

  const slowGrpc = await proxyWith([extAuthz({ grpc_service: grpcService('authz', '0.2s') })], [{ name: 'authz', ports: [silent.port], protocol: 'http2' }]);
  assert.equal((await request(slowGrpc.port, { path: '/x' })).status, 403, 'a gRPC check that gets no answer (here: an HTTP/1 server) is an error');

  const open = await proxyWith([extAuthz({ http_service: httpService('authz'), failure_mode_allow: true, failure_mode_allow_header_add: true })], [{ name: 'authz', ports: [deadPort] }]);
  const r2 = await request(open.port, { path: '/open' });
  assert.equal(r2.status, 200);
  assert.equal(lastSeen().url, '/open');
  assert.equal(lastSeen().headers['x-envoy-auth-failure-mode-allowed'], 'true');
  assert.equal(stat(open, 'error'), 1);
  assert.equal(stat(open, 'failure_mode_allowed'), 1);

  const openGrpc = await proxyWith([extAuthz({ grpc_service: grpcService('nowhere'), failure_mode_allow: true })], []);
  assert.equal((await request(openGrpc.port, { path: '/open' })).status, 200, 'an unknown cluster is an error too');
});

test("filter_enabled_metadata: only requests the rbac shadow rules matched (Istio's CUSTOM gate) are checked", async () => {
  const authz = await recordingAuthz((_req, res) => void res.writeHead(403).end('nope'));
  const rbac = {
    name: 'envoy.filters.http.rbac',
    typed_config: {
      '@type': HTTP_FILTER.RBAC,
      shadow_rules: { action: 'DENY', policies: { 'istio-ext-authz-ns[foo]-policy[ext-authz]-rule[0]': { permissions: [{ url_path: { path: { exact: '/headers' } } }], principals: [{ any: true }] } } },
      shadow_rules_stat_prefix: 'istio_ext_authz_',
    },
  };
  const gate = { filter: 'envoy.filters.http.rbac', path: [{ key: 'istio_ext_authz_shadow_effective_policy_id' }], value: { string_match: { prefix: 'istio-ext-authz' } } };
  const p = await proxyWith([rbac, extAuthz({ http_service: httpService('authz'), filter_enabled_metadata: gate })], [{ name: 'authz', ports: [authz.port] }]);
  assert.equal((await request(p.port, { path: '/ip' })).status, 200);
  assert.equal(authz.seen.length, 0, '/ip is not checked');
  const r = await request(p.port, { path: '/headers' });
  assert.equal(r.status, 403);
  assert.equal(r.body, 'nope');
  assert.equal(authz.seen.length, 1);
  assert.equal(stat(p, 'disabled'), 1);
});

test('config: fields the filter does not honour are refused naming the field', () => {
  const ctx = { statPrefix: 'http.t.', stats: { counter: () => ({ inc() {}, value: () => 0 }) } } as any;
  const create = (c: EnvoyJson) => extAuthzFilterFactory.create({ '@type': HTTP_FILTER.EXT_AUTHZ, ...c }, ctx);
  assert.throws(() => create({ grpc_service: grpcService('x'), include_peer_certificate: true }), /ExtAuthz\.include_peer_certificate: not supported/);
  assert.throws(() => create({ grpc_service: grpcService('x'), with_request_body: { max_request_bytes: 0 } }), /with_request_body\.max_request_bytes: must be greater than 0/);
  assert.throws(() => create({}), /one of http_service, grpc_service is required/);
  assert.throws(() => create({ grpc_service: { google_grpc: { target_uri: 'x' } } }), /grpc_service\.google_grpc/);
  assert.throws(() => create({ http_service: { server_uri: { uri: 'http://a', cluster: 'a' } } }), /server_uri\.timeout: required/);
  assert.throws(() => create({ http_service: httpService('a', { path_prefix: 'check' }) }), /path_prefix: must start with "\/"/);
  assert.throws(() => create({ grpc_service: grpcService('x'), transport_api_version: 'V2' }), /transport_api_version/);
  assert.doesNotThrow(() => create({ grpc_service: grpcService('x'), status_on_error: { code: 'ServiceUnavailable' } }));
});

test('with_request_body: the check waits for the body and carries it (HTTP and gRPC); over the limit it is cut (allow_partial_message) or refused with 413', async () => {
  const bodies: string[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      bodies.push(`${req.headers['x-envoy-auth-partial-body']}|${req.headers['content-length']}|${Buffer.concat(chunks).toString()}`);
      res.writeHead(Buffer.concat(chunks).includes('forbidden') ? 403 : 200).end();
    });
  });
  const port = await listenOn(server);
  servers.push({ close: async () => void (server.closeAllConnections(), await new Promise<void>((r) => server.close(() => r()))) });
  const allowPartial = { patterns: [{ exact: 'x-envoy-auth-partial-body' }] };
  const whole = await proxyWith([extAuthz({ http_service: httpService('authz', { authorization_request: { allowed_headers: allowPartial } }), with_request_body: { max_request_bytes: 64 } })], [{ name: 'authz', ports: [port] }]);
  const ok = await request(whole.port, { method: 'POST', path: '/upload', body: 'hello body' });
  assert.equal(ok.status, 200);
  assert.equal(bodies.at(-1), 'false|10|hello body');
  assert.equal(lastSeen().body, 'hello body', 'the upstream still gets the whole body');
  assert.equal((await request(whole.port, { method: 'POST', path: '/upload', body: 'this is forbidden' })).status, 403, 'the authorizer decides on the body');
  const big = 'x'.repeat(100);
  assert.equal((await request(whole.port, { method: 'POST', path: '/upload', body: big })).status, 413);
  assert.equal((await request(whole.port, { path: '/nobody' })).status, 200, 'a request without a body is checked at once');

  const partial = await proxyWith([extAuthz({ http_service: httpService('authz', { authorization_request: { allowed_headers: allowPartial } }), with_request_body: { max_request_bytes: 8, allow_partial_message: true } })], [{ name: 'authz', ports: [port] }]);
  assert.equal((await request(partial.port, { method: 'POST', path: '/upload', body: big })).status, 200);
  assert.equal(bodies.at(-1), 'true|8|xxxxxxxx');
  assert.equal(lastSeen().body, big);

  // A filter before it holds the request first (a fault delay): the body that queued meanwhile still reaches the check.
  const delay = { name: 'envoy.filters.http.fault', typed_config: { '@type': HTTP_FILTER.FAULT, delay: { fixed_delay: '0.05s', percentage: { numerator: 100 } } } };
  const delayed = await proxyWith([delay, extAuthz({ http_service: httpService('authz', { authorization_request: { allowed_headers: allowPartial } }), with_request_body: { max_request_bytes: 64 } })], [{ name: 'authz', ports: [port] }]);
  assert.equal((await request(delayed.port, { method: 'POST', path: '/upload', body: 'after a delay' })).status, 200);
  assert.equal(bodies.at(-1), 'false|13|after a delay');
  assert.equal(lastSeen().body, 'after a delay');

  const grpc = await proxyWith([extAuthz({ grpc_service: grpcService('ext-authz-grpc'), with_request_body: { max_request_bytes: 1024 } })], [{ name: 'ext-authz-grpc', ports: [sample.grpcPort], protocol: 'http2' }]);
  assert.equal((await request(grpc.port, { method: 'POST', path: '/headers', body: '{"a":1}', headers: { 'x-ext-authz': 'allow', 'content-type': 'application/json' } })).status, 200);
  const attrs = JSON.parse(String(lastSeen().headers['x-ext-authz-check-received']));
  assert.equal(attrs.request.http.body, '{"a":1}');
  assert.equal(attrs.request.http.headers['x-envoy-auth-partial-body'], 'false');
  assert.equal(lastSeen().body, '{"a":1}');
});
