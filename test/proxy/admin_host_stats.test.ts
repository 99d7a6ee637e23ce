/**
 * /clusters' per-host counters (Envoy's host stats: cx_total, cx_active, cx_connect_fail,
 * rq_total, rq_success, rq_error, rq_timeout) count what reached each host, in both formats.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { AdminServer } from '../../src/proxy/admin/admin.ts';
import { closeServer, httpListener, listen, roundTrip, startEcho, startProxy, staticCluster, tcpListener } from './helpers.ts';
import { refusedPort } from '../helpers/refused_port.ts';

/** An upstream answering every request with `status`, or never answering (status 0). */
async function upstream(status: number): Promise<{ port: number; close: () => Promise<void> }> {
  const server = http.createServer((req, res) => {
    req.resume();
    if (status) res.writeHead(status).end('x');
  });
  const port = await listen(server);
  return { port, close: () => (server.closeAllConnections(), closeServer(server)) };
}

test('/clusters counts each host’s connections, requests, errors and timeouts', async (t) => {
  const [ok, bad, silent, echo] = await Promise.all([upstream(200), upstream(503), upstream(0), startEcho()]);
  const refused = await refusedPort();
  t.after(() => Promise.all([ok.close(), bad.close(), silent.close(), echo.close()]));
  const route = (prefix: string, cluster: string, extra = {}) => ({ match: { prefix }, route: { cluster, ...extra } });
  const proxy = await startProxy({
    clusters: [
      staticCluster('ok', [ok.port]),
      staticCluster('bad', [bad.port]),
      staticCluster('silent', [silent.port]),
      staticCluster('refused', [refused], { connect_timeout: '0.5s' }),
      staticCluster('tcp', [echo.port]),
      staticCluster('bad-retried', [bad.port]),
      staticCluster('silent-retried', [silent.port]),
    ],
    listeners: [
      httpListener('h', [route('/ok', 'ok'), route('/bad', 'bad'), route('/silent', 'silent', { timeout: '0.2s' }), route('/refused', 'refused'),
        route('/r-bad', 'bad-retried', { retry_policy: { retry_on: '5xx', num_retries: 1 } }),
        // Each try times out; the route's timeout ends the request during or between tries.
        route('/r-silent', 'silent-retried', { timeout: '0.5s', retry_policy: { retry_on: 'reset', num_retries: 5, per_try_timeout: '0.1s', retry_back_off: { base_interval: '0.3s' } } }),
      ]),
      tcpListener('t', 'tcp'),
    ],
  });
  t.after(() => proxy.close());
  const admin = new AdminServer({ server: proxy.server, onQuit: () => {}, version: 'tsmesh/test', commandLineOptions: { concurrency: 1 } });
  const adminPort = await admin.listen('127.0.0.1', 0);
  t.after(() => admin.close());

  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  t.after(() => agent.destroy());
  const get = (path: string) =>
    new Promise<number>((resolve, reject) => {
      http.get({ port: proxy.port('h'), path, agent }, (res) => res.resume().on('end', () => resolve(res.statusCode!))).on('error', reject);
    });
  for (let i = 0; i < 3; i++) assert.equal(await get('/ok'), 200);
  for (let i = 0; i < 2; i++) assert.equal(await get('/bad'), 503);
  assert.equal(await get('/silent'), 504);
  assert.equal(await get('/refused'), 503);
  assert.equal(await roundTrip(proxy.port('t'), 'hi'), 'hi');
  assert.equal(await get('/r-bad'), 503);
  assert.equal(await get('/r-silent'), 504);

  const host = async (cluster: string, port: number) => {
    const text = await (await fetch(`http://127.0.0.1:${adminPort}/clusters`)).text();
    const json = await (await fetch(`http://127.0.0.1:${adminPort}/clusters?format=json`)).json();
    const fromText: Record<string, number> = {};
    for (const m of text.matchAll(new RegExp(`^${cluster}::127\\.0\\.0\\.1:${port}::((?:cx|rq)_\\w+)::(\\d+)$`, 'gm'))) fromText[m[1]!] = Number(m[2]);
    const hs = json.cluster_statuses.find((c: any) => c.name === cluster).host_statuses[0];
    const fromJson = Object.fromEntries(hs.stats.map((s: any) => [s.name, Number(s.value ?? 0)]));
    assert.deepEqual(fromJson, fromText, `${cluster}: JSON and text agree`);
    return fromText;
  };
  const none = { cx_total: 0, cx_active: 0, cx_connect_fail: 0, rq_total: 0, rq_active: 0, rq_success: 0, rq_error: 0, rq_timeout: 0 };
  // Three keep-alive requests on one connection, still open.
  assert.deepEqual(await host('ok', ok.port), { ...none, cx_total: 1, cx_active: 1, rq_total: 3, rq_success: 3 });
  // A 5xx is an error for the host (no retry policy on the route).
  assert.deepEqual(await host('bad', bad.port), { ...none, cx_total: 1, cx_active: 1, rq_total: 2, rq_error: 2 });
  // The route's timeout ended the request before a response: a timeout and an error (the aborted
  // connection may not have closed yet).
  const s = await host('silent', silent.port);
  assert.deepEqual({ ...s, cx_active: 0 }, { ...none, cx_total: 1, rq_total: 1, rq_error: 1, rq_timeout: 1 });
  // A refused connection: an attempt that failed, and no request reached the host.
  assert.deepEqual(await host('refused', refused), { ...none, cx_total: 1, cx_connect_fail: 1, rq_error: 1 });
  // A retried 5xx is an error too: two tries, two errors.
  // (The retried try's connection may close with it: connections are not the point here.)
  const rb = await host('bad-retried', bad.port);
  assert.deepEqual({ ...rb, cx_total: 0, cx_active: 0 }, { ...none, rq_total: 2, rq_error: 2 });
  // Every try timed out once, and once only, whether the route's timeout came during a try or
  // between two (the back-off).
  const r = await host('silent-retried', silent.port);
  assert.ok(r.rq_total >= 2, `tries: ${JSON.stringify(r)}`);
  assert.deepEqual([r.rq_timeout, r.rq_error, r.rq_success], [r.rq_total, r.rq_total, 0], JSON.stringify(r));
  // tcp_proxy's connection, closed by now: one session is one request, as Envoy counts it.
  for (let i = 0; i < 100 && (await host('tcp', echo.port)).cx_active !== 0; i++) await new Promise((r) => setTimeout(r, 20));
  assert.deepEqual(await host('tcp', echo.port), { ...none, cx_total: 1, rq_total: 1 });
});

