/**
 * access_log with envoy.access_loggers.file, on the wire: requests through an HCM and connections
 * through tcp_proxy write the expected lines (Envoy's default format, a text format with the
 * operators Istio's format uses, json_format) to a file; a logger with an unsupported filter is refused.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ACCESS_LOGGER, RESOURCE } from '../../../src/xds/type_urls.ts';
import { until } from '../../helpers/poll.ts';
import { hcmConfig, request, startHcm, startUpstream, type TestProxy, type Upstream } from './harness.ts';
import { roundTrip, startEcho, startProxy, staticCluster, tcpListener } from '../helpers.ts';

const dir = mkdtempSync(join(tmpdir(), 'tsmesh-access-log-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const fileLog = (path: string, extra: Record<string, unknown> = {}) => [{ name: 'envoy.access_loggers.file', typed_config: { '@type': ACCESS_LOGGER.FILE, path, ...extra } }];
const lines = (path: string) => (existsSync(path) ? readFileSync(path, 'utf8').split('\n').filter(Boolean) : []);
const routes = {
  name: 'rc',
  virtual_hosts: [
    {
      name: 'v',
      domains: ['*'],
      routes: [
        { name: 'to-up', match: { prefix: '/up' }, route: { cluster: 'up' } },
        { name: 'to-dead', match: { prefix: '/dead' }, route: { cluster: 'dead', retry_policy: { num_retries: 0 } } },
      ],
    },
  ],
};

describe('HTTP access log', () => {
  let up: Upstream;
  const proxies: TestProxy[] = [];
  const start = async (accessLog: unknown) => {
    const p = await startHcm(hcmConfig(routes, { access_log: accessLog }), [
      { name: 'up', ports: [up.port] },
      { name: 'dead', ports: [1] },
    ]);
    proxies.push(p);
    return p;
  };
  before(async () => {
    up = await startUpstream('up');
  });
  after(async () => {
    for (const p of proxies) await p.close();
    await up.close();
  });

  test("no format: Envoy's default format, one line per request", async () => {
    const path = join(dir, 'default.log');
    const p = await start(fileLog(path));
    const r = await request(p.port, { path: '/up/x?y=1', headers: { 'user-agent': 'ua/1', 'x-request-id': 'rid-1' } });
    assert.equal(r.status, 200);
    await until(() => lines(path).length === 1, 'one line');
    const re = new RegExp(
      String.raw`^\[\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\] "GET /up/x\?y=1 HTTP/1\.1" 200 - 0 ${r.body.length} \d+ \d+ "-" "ua/1" "rid-1" "127\.0\.0\.1:${p.port}" "127\.0\.0\.1:${up.port}"$`,
    );
    assert.match(lines(path)[0], re);
  });

  test("text_format_source with Istio's operators; unset values print as -", async () => {
    const path = join(dir, 'istio.log');
    const format = '%RESPONSE_CODE% %RESPONSE_FLAGS% "%UPSTREAM_TRANSPORT_FAILURE_REASON%" %UPSTREAM_CLUSTER% %ROUTE_NAME% %DOWNSTREAM_REMOTE_ADDRESS% %DOWNSTREAM_LOCAL_ADDRESS% %REQUESTED_SERVER_NAME% %RESP(x-upstream)% %REQ(:PATH):3% %PROTOCOL%\n';
    const p = await start(fileLog(path, { log_format: { text_format_source: { inline_string: format } } }));
    assert.equal((await request(p.port, { path: '/up' })).status, 200);
    assert.equal((await request(p.port, { path: '/dead' })).status, 503);
    await until(() => lines(path).length === 2, 'two lines');
    const [ok, dead] = lines(path);
    assert.match(ok, new RegExp(String.raw`^200 - "-" up to-up 127\.0\.0\.1:\d+ 127\.0\.0\.1:${p.port} - up /up HTTP/1\.1$`));
    assert.match(dead, /^503 UF "[^"-][^"]*" dead to-dead 127\.0\.0\.1:\d+ 127\.0\.0\.1:\d+ - - \/de HTTP\/1\.1$/);
  });

  test('json_format: a lone operator keeps its type, unset is null, text is formatted', async () => {
    const path = join(dir, 'json.log');
    const json_format = { code: '%RESPONSE_CODE%', bytes: '%BYTES_SENT%', sni: '%REQUESTED_SERVER_NAME%', line: '%REQ(:METHOD)% %REQ(:PATH)%', nested: { cluster: '%UPSTREAM_CLUSTER%' }, n: 7 };
    const p = await start(fileLog(path, { log_format: { json_format } }));
    const r = await request(p.port, { path: '/up/j' });
    await until(() => lines(path).length === 1, 'one line');
    assert.deepEqual(JSON.parse(lines(path)[0]), { code: 200, bytes: r.body.length, sni: null, line: 'GET /up/j', nested: { cluster: 'up' }, n: 7 });
  });

  test('a logger with an unsupported filter, an unknown operator or another logger type is refused', async () => {
    await assert.rejects(start([{ ...fileLog(join(dir, 'x.log'))[0], filter: { runtime_filter: { runtime_key: 'k' } } }]), /access_log\[0\]\.filter/);
    await assert.rejects(start(fileLog(join(dir, 'x.log'), { log_format: { text_format: '%NOPE%' } })), /NOPE/);
    await assert.rejects(start([{ name: 'grpc', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.access_loggers.grpc.v3.HttpGrpcAccessLogConfig' } }]), /not supported/);
  });
});

test('tcp_proxy access_log: one line per connection, HTTP-only operators are -', async () => {
  const echo = await startEcho();
  const proxy = await startProxy({ clusters: [staticCluster('echo', [echo.port])] });
  const path = join(dir, 'tcp.log');
  try {
    const l = tcpListener('tcp-l', 'echo');
    const withLog = (extra: Record<string, unknown>) => ({
      ...l,
      filter_chains: [{ filters: [{ ...l.filter_chains[0].filters[0], typed_config: { ...l.filter_chains[0].filters[0].typed_config, ...extra } }] }],
    });
    const refused = proxy.server.setResources(RESOURCE.LISTENER, [withLog({ access_log: [{ ...fileLog(path)[0], filter: { runtime_filter: { runtime_key: 'k' } } }] })], 'v0');
    assert.equal(refused.ok, false, 'an unsupported access log filter NACKs the listener');
    const format = '%UPSTREAM_CLUSTER% %BYTES_RECEIVED% %BYTES_SENT% %PROTOCOL% %RESPONSE_CODE% %RESPONSE_FLAGS% %UPSTREAM_HOST% %UPSTREAM_LOCAL_ADDRESS% %DURATION%\n';
    const ok = proxy.server.setResources(RESOURCE.LISTENER, [withLog({ access_log: fileLog(path, { log_format: { text_format: format } }) })], 'v1');
    assert.deepEqual(ok, { ok: true });
    await proxy.server.listeners.listening();
    assert.equal(await roundTrip(proxy.port('tcp-l'), 'hello'), 'hello');
    await until(() => lines(path).length === 1, 'one line');
    assert.match(lines(path)[0], new RegExp(String.raw`^echo 5 5 - - - 127\.0\.0\.1:${echo.port} 127\.0\.0\.1:\d+ \d+$`));
  } finally {
    await proxy.close();
    await echo.close();
  }
});
