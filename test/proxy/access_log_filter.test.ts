/**
 * AccessLog.filter on the wire: a real ProxyServer (its LDS validation included) logs through
 * file loggers whose filters are the CEL ExpressionFilter Istio emits for a Telemetry
 * `filter.expression`, status_code_filter, response_flag_filter and and/or/not_health_check;
 * a bad expression NACKs the listener naming the position; flushAccessLogs (the proxy's last
 * shutdown step) writes what is queued before it resolves.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ACCESS_LOGGER, ACCESS_LOG_FILTER, RESOURCE } from '../../src/xds/type_urls.ts';
import { compileAccessLogs, flushAccessLogs } from '../../src/proxy/http/common/access_log.ts';
import { until } from '../helpers/poll.ts';
import { request, startUpstream, type Upstream } from './http/harness.ts';
import { httpListener, roundTrip, startEcho, startProxy, staticCluster, tcpListener, type Proxy } from './helpers.ts';

const dir = mkdtempSync(join(tmpdir(), 'tsmesh-access-log-filter-'));
const lines = (path: string) => (existsSync(path) ? readFileSync(path, 'utf8').split('\n').filter(Boolean) : []);
const FORMAT = { log_format: { text_format_source: { inline_string: '%RESPONSE_CODE% %RESPONSE_FLAGS% %REQ(:PATH)%\n' } } };
const logger = (path: string, filter?: unknown) => ({
  name: 'envoy.access_loggers.file',
  typed_config: { '@type': ACCESS_LOGGER.FILE, path, ...FORMAT },
  ...(filter ? { filter } : {}),
});
const cel = (expression: string) => ({ extension_filter: { name: 'envoy.access_loggers.extension_filters.cel', typed_config: { '@type': ACCESS_LOG_FILTER.CEL, expression } } });

const ROUTES = [
  { match: { prefix: '/up' }, route: { cluster: 'up' } },
  { match: { prefix: '/dead' }, route: { cluster: 'dead' } },
];

let up: Upstream;
let proxy: Proxy;
const paths = {
  cel: join(dir, 'cel.log'),
  status: join(dir, 'status.log'),
  flags: join(dir, 'flags.log'),
  and: join(dir, 'and.log'),
  or: join(dir, 'or.log'),
};

before(async () => {
  // /up/<code> answers with that status.
  up = await startUpstream('up', (req, res) => {
    const code = Number(req.url?.split('/')[2]) || 200;
    res.writeHead(code).end('x');
    return true;
  });
  proxy = await startProxy({ clusters: [staticCluster('up', [up.port]), staticCluster('dead', [1])] });
  const accessLog = [
    logger(paths.cel, cel('response.code >= 400 && request.url_path.startsWith("/")')),
    logger(paths.status, { status_code_filter: { comparison: { op: 'GE', value: { default_value: 500, runtime_key: 'unused' } } } }),
    logger(paths.flags, { response_flag_filter: { flags: ['UF', 'UH'] } }),
    logger(paths.and, { and_filter: { filters: [{ not_health_check_filter: {} }, cel('request.method == "GET"'), { status_code_filter: { comparison: { op: 'EQ', value: { default_value: 404 } } } }] } }),
    logger(paths.or, { or_filter: { filters: [{ status_code_filter: { comparison: { op: 'LE', value: { default_value: 299 } } } }, cel('xds.cluster_name == "dead"')] } }),
  ];
  const res = proxy.server.setResources(RESOURCE.LISTENER, [httpListener('l', ROUTES, 0, { access_log: accessLog })], 'v1');
  assert.deepEqual(res, { ok: true });
  await proxy.server.listeners.listening();
});

after(async () => {
  await proxy.close();
  await up.close();
  rmSync(dir, { recursive: true, force: true });
});

test('each logger writes only the streams its filter passes', async (t) => {
  const port = proxy.port('l');
  for (const path of ['/up/200', '/up/404', '/up/500', '/dead']) await request(port, { path });
  await until(() => lines(paths.or).length === 2 && lines(paths.cel).length === 3, 'lines written');
  await flushAccessLogs();
  const got = Object.fromEntries(Object.entries(paths).map(([k, p]) => [k, lines(p)]));
  for (const [k, v] of Object.entries(got)) t.diagnostic(`${k}: ${JSON.stringify(v)}`);
  assert.deepEqual(got.cel, ['404 - /up/404', '500 - /up/500', '503 UF /dead']);
  assert.deepEqual(got.status, ['500 - /up/500', '503 UF /dead']);
  assert.deepEqual(got.flags, ['503 UF /dead']);
  assert.deepEqual(got.and, ['404 - /up/404']);
  assert.deepEqual(got.or, ['200 - /up/200', '503 UF /dead']);
});

test('a bad CEL expression or an unsupported filter NACKs the listener, naming the field and position', () => {
  const bad = proxy.server.setResources(RESOURCE.LISTENER, [httpListener('l', ROUTES, 0, { access_log: [logger(join(dir, 'bad.log'), cel('response.code >= 400 && request.bogus == "x"'))] })], 'v2');
  assert.equal(bad.ok, false);
  assert.match(String((bad as { error?: string }).error ?? JSON.stringify(bad)), /filter\.extension_filter\.typed_config\.expression: unsupported attribute request\.bogus at position 32/);
  const typeErr = proxy.server.setResources(RESOURCE.LISTENER, [httpListener('l', ROUTES, 0, { access_log: [logger(join(dir, 'bad.log'), cel('response.code'))] })], 'v3');
  assert.equal(typeErr.ok, false);
  assert.match(JSON.stringify(typeErr), /expected bool/);
  const runtime = proxy.server.setResources(RESOURCE.LISTENER, [httpListener('l', ROUTES, 0, { access_log: [logger(join(dir, 'bad.log'), { runtime_filter: { runtime_key: 'k' } })] })], 'v4');
  assert.equal(runtime.ok, false);
  assert.match(JSON.stringify(runtime), /runtime_filter/);
});

test('flushAccessLogs writes queued lines at once (what shutdown awaits)', async () => {
  const path = join(dir, 'flush.log');
  const log = compileAccessLogs([logger(path)], 'test')!;
  const info = { startTime: Date.now(), protocol: 'HTTP/1.1' as const, responseCode: 201, responseFlags: [], attemptCount: 1, bytesReceived: 0, bytesSent: 0, requestHeaders: new Map([[':path', '/flushed']]), connection: { remoteAddress: '127.0.0.1', remotePort: 1, localAddress: '127.0.0.1', localPort: 2 } };
  for (let i = 0; i < 100; i++) log(info);
  // No turn of the event loop in between: only the flush can have written them.
  await flushAccessLogs();
  assert.equal(lines(path).length, 100);
  assert.equal(lines(path)[0], '201 - /flushed');
});

test('tcp_proxy honours filters too: a TCP connection has no response code, so response.code >= 400 never logs it', async () => {
  const echo = await startEcho();
  const tcp = await startProxy({ clusters: [staticCluster('echo', [echo.port])] });
  try {
    const byCluster = join(dir, 'tcp-cluster.log');
    const byCode = join(dir, 'tcp-code.log');
    const l = tcpListener('t', 'echo');
    const typed = { ...l.filter_chains[0].filters[0].typed_config, access_log: [logger(byCluster, cel('xds.cluster_name == "echo" && upstream.port > 0')), logger(byCode, cel('response.code >= 400'))] };
    const res = tcp.server.setResources(RESOURCE.LISTENER, [{ ...l, filter_chains: [{ filters: [{ ...l.filter_chains[0].filters[0], typed_config: typed }] }] }], 'v1');
    assert.deepEqual(res, { ok: true });
    await tcp.server.listeners.listening();
    assert.equal(await roundTrip(tcp.port('t'), 'hi'), 'hi');
    await until(() => lines(byCluster).length === 1, 'the connection logged');
    await flushAccessLogs();
    assert.deepEqual(lines(byCode), []);
  } finally {
    await tcp.close();
    await echo.close();
  }
});
