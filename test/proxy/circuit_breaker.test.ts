/**
 * Circuit breakers and connection-pool limits (Envoy's ResourceManager and conn pools): the
 * resource manager's arithmetic (retry budget, remaining_* and *_open gauges), then through a
 * real proxy on loopback: max_connections across hosts, max_pending_requests answering 503 UO
 * with x-envoy-overloaded, HTTP/2 max_concurrent_streams, max_connection_duration.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { StatsStore } from '../../src/proxy/stats/stats_store.ts';
import { ResourceManager } from '../../src/proxy/upstream/resource_manager.ts';
import { CLUSTER_EXT } from '../../src/xds/type_urls.ts';
import type { EnvoyJson } from '../../src/xds/types.ts';
import { httpListener, startProxy, staticCluster, until, type Proxy } from './helpers.ts';

const HTTP_OPTIONS = CLUSTER_EXT.HTTP_PROTOCOL_OPTIONS.slice(CLUSTER_EXT.HTTP_PROTOCOL_OPTIONS.lastIndexOf('/') + 1);

test('retry budget: retries in flight are budget_percent of active + pending requests, at least min_retry_concurrency', () => {
  const store = new StatsStore();
  const rm = new ResourceManager({ thresholds: [{ max_retries: 1000, retry_budget: { budget_percent: { value: 20 }, min_retry_concurrency: 3 }, track_remaining: true }] }, store);
  assert.equal(rm.maxOf('retries'), 3, 'no traffic: the minimum');
  rm.attemptsChanged(30);
  assert.equal(rm.maxOf('retries'), 6, '20% of the 30 requests on the pools');
  rm.attemptsChanged(10);
  assert.equal(rm.maxOf('retries'), 8, 'pending requests count too');
  const retries = Array.from({ length: 8 }, () => rm.tryAcquire('retries'));
  assert.ok(retries.every(Boolean));
  assert.equal(rm.tryAcquire('retries'), undefined, 'the ninth retry is over budget');
  assert.equal(store.counter('upstream_rq_retry_overflow').value(), 1);
  assert.equal(store.gauge('circuit_breakers.default.rq_retry_open').value(), 1);
  assert.equal(store.gauge('circuit_breakers.default.remaining_retries').value(), 0);
  retries[0]!();
  assert.equal(store.gauge('circuit_breakers.default.rq_retry_open').value(), 0);
  assert.equal(store.gauge('circuit_breakers.default.remaining_retries').value(), 1);
  rm.attemptsChanged(-40);
  assert.equal(rm.maxOf('retries'), 3);
  // Defaults when the budget's fields are unset (Envoy: 20% and 3).
  const d = new ResourceManager({ thresholds: [{ retry_budget: {} }] }, new StatsStore());
  d.attemptsChanged(100);
  assert.equal(d.maxOf('retries'), 20);
});

test('without a budget, max_retries; remaining_* gauges only with track_remaining; Envoy defaults 1024/1024/1024/3', () => {
  const store = new StatsStore();
  const rm = new ResourceManager(undefined, store);
  assert.deepEqual(rm.max, { connections: 1024, pending: 1024, requests: 1024, retries: 3 });
  const r = [rm.tryAcquire('retries'), rm.tryAcquire('retries'), rm.tryAcquire('retries')];
  assert.ok(r.every(Boolean));
  assert.equal(rm.tryAcquire('retries'), undefined);
  assert.equal(store.gauges.has('circuit_breakers.default.remaining_retries'), false);
  const tracked = new StatsStore();
  const t = new ResourceManager({ thresholds: [{ priority: 'HIGH', max_connections: 1 }, { max_connections: 2, max_pending_requests: 1, track_remaining: true }] }, tracked);
  assert.equal(t.max.connections, 2, 'the DEFAULT priority thresholds apply');
  assert.equal(tracked.gauge('circuit_breakers.default.remaining_cx').value(), 2);
  assert.equal(tracked.gauge('circuit_breakers.default.remaining_pending').value(), 1);
  assert.ok(t.tryOpenConnection(true));
  assert.ok(t.tryOpenConnection(false));
  assert.equal(tracked.gauge('circuit_breakers.default.cx_open').value(), 1);
  assert.equal(t.tryOpenConnection(false), false, 'at max_connections a pool with connections opens no more');
  assert.equal(tracked.counter('upstream_cx_overflow').value(), 1);
  assert.ok(t.tryOpenConnection(true), 'a pool with none still opens one (Envoy), counted as an overflow');
  assert.equal(tracked.counter('upstream_cx_overflow').value(), 2);
  t.connectionClosed();
  t.connectionClosed();
  assert.equal(tracked.gauge('circuit_breakers.default.remaining_cx').value(), 1);
  assert.equal(tracked.gauge('circuit_breakers.default.cx_open').value(), 0);
});

/** An HTTP/1.1 upstream that holds every request until released; counts connections. */
async function heldUpstream(): Promise<{ port: number; held: http.ServerResponse[]; connections: () => number; release: () => void; close: () => Promise<void> }> {
  const held: http.ServerResponse[] = [];
  let conns = 0;
  const server = http.createServer((_req, res) => held.push(res));
  server.on('connection', () => conns++);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    held,
    connections: () => conns,
    release: () => {
      for (const res of held.splice(0)) res.end('ok');
    },
    close: () => {
      server.closeAllConnections();
      return new Promise((r) => server.close(() => r()));
    },
  };
}

function get(port: number, path = '/'): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
    req.on('error', reject);
  });
}

function routeTo(cluster: string): EnvoyJson[] {
  return [{ match: { prefix: '/' }, route: { cluster, timeout: '10s' } }];
}

test('max_pending_requests: a request no connection can take waits; beyond the queue, 503 UO with x-envoy-overloaded', { timeout: 30_000 }, async () => {
  const up = await heldUpstream();
  let proxy: Proxy | undefined;
  try {
    proxy = await startProxy({
      clusters: [staticCluster('cb', [up.port], { circuit_breakers: { thresholds: [{ max_connections: 1, max_pending_requests: 1, track_remaining: true }] } })],
      listeners: [httpListener('in', routeTo('cb'))],
    });
    const port = proxy.port('in');
    const g = (n: string) => proxy!.server.store.gauge(`cluster.cb.circuit_breakers.default.${n}`).value();
    const c = (n: string) => proxy!.server.store.counter(`cluster.cb.${n}`).value();
    const first = get(port, '/1');
    await until(() => up.held.length === 1, 'first request upstream');
    const second = get(port, '/2');
    await until(() => g('remaining_pending') === 0, 'second request pending');
    assert.equal(g('rq_pending_open'), 1);
    const third = await get(port, '/3');
    assert.equal(third.status, 503);
    assert.equal(third.headers['x-envoy-overloaded'], 'true');
    assert.match(third.body, /reset reason: overflow/);
    assert.equal(c('upstream_rq_pending_overflow'), 1);
    assert.ok(c('upstream_cx_overflow') >= 1, 'the second request wanted a connection over max_connections');
    up.release();
    await until(() => up.held.length === 1, 'the pending request reached the upstream on the same connection');
    up.release();
    assert.deepEqual([(await first).status, (await second).status], [200, 200]);
    assert.equal(up.connections(), 1);
    await until(() => g('remaining_pending') === 1 && g('rq_pending_open') === 0, 'queue empty again');
  } finally {
    await proxy?.close();
    await up.close();
  }
});

test('max_connections counts across every host of the cluster, not per host', { timeout: 30_000 }, async () => {
  const a = await heldUpstream();
  const b = await heldUpstream();
  let proxy: Proxy | undefined;
  try {
    proxy = await startProxy({
      clusters: [staticCluster('two', [a.port, b.port], { lb_policy: 'ROUND_ROBIN', circuit_breakers: { thresholds: [{ max_connections: 2 }] } })],
      listeners: [httpListener('in', routeTo('two'))],
    });
    const port = proxy.port('in');
    const all = Array.from({ length: 6 }, (_, i) => get(port, `/${i}`));
    await until(() => a.held.length + b.held.length === 2, 'two requests upstream');
    // Give the proxy time to (wrongly) open more connections.
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(a.connections() + b.connections(), 2, 'two connections in all (one per host), the other requests wait');
    let finished = false;
    const done = Promise.all(all).then((r) => ((finished = true), r));
    await until(() => (a.release(), b.release(), finished), 'every request answered');
    const res = await done;
    assert.deepEqual(res.map((r) => r.status), [200, 200, 200, 200, 200, 200]);
    assert.equal(a.connections() + b.connections(), 2);
  } finally {
    await proxy?.close();
    await a.close();
    await b.close();
  }
});

test('HTTP/2 upstream: max_concurrent_streams caps streams per connection; queued streams count as pending', { timeout: 30_000 }, async () => {
  const held: http2.ServerHttp2Stream[] = [];
  let sessions = 0;
  const server = http2.createServer();
  server.on('session', () => sessions++);
  server.on('stream', (s) => held.push(s));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const upPort = (server.address() as AddressInfo).port;
  let proxy: Proxy | undefined;
  try {
    const h2 = { [HTTP_OPTIONS]: { '@type': CLUSTER_EXT.HTTP_PROTOCOL_OPTIONS, explicit_http_config: { http2_protocol_options: { max_concurrent_streams: 1 } } } };
    proxy = await startProxy({
      clusters: [staticCluster('h2', [upPort], { typed_extension_protocol_options: h2, circuit_breakers: { thresholds: [{ max_connections: 1, max_pending_requests: 1 }] } })],
      listeners: [httpListener('in', routeTo('h2'))],
    });
    const port = proxy.port('in');
    const first = get(port, '/1');
    await until(() => held.length === 1, 'first stream upstream');
    const second = get(port, '/2');
    await until(() => proxy!.server.store.counter('cluster.h2.upstream_cx_overflow').value() >= 1 || held.length > 1, 'second request waits');
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(held.length, 1, 'one stream at a time on the only connection (the peer allows 100)');
    const third = await get(port, '/3');
    assert.equal(third.status, 503);
    assert.equal(third.headers['x-envoy-overloaded'], 'true');
    const answer = () => {
      for (const s of held.splice(0)) {
        s.respond({ ':status': 200 });
        s.end('ok');
      }
    };
    answer();
    await until(() => held.length === 1, 'the queued stream started');
    answer();
    assert.deepEqual([(await first).status, (await second).status], [200, 200]);
    assert.equal(sessions, 1);
  } finally {
    await proxy?.close();
    server.close();
  }
});

test('max_connection_duration: an expired connection finishes its request, then the next request gets a new connection', { timeout: 30_000 }, async () => {
  const up = await heldUpstream();
  let proxy: Proxy | undefined;
  try {
    const opts = { [HTTP_OPTIONS]: { '@type': CLUSTER_EXT.HTTP_PROTOCOL_OPTIONS, common_http_protocol_options: { max_connection_duration: '0.3s' }, explicit_http_config: { http_protocol_options: {} } } };
    proxy = await startProxy({
      clusters: [staticCluster('dur', [up.port], { typed_extension_protocol_options: opts, upstream_connection_options: { tcp_keepalive: { keepalive_time: 30 } } })],
      listeners: [httpListener('in', routeTo('dur'))],
    });
    const port = proxy.port('in');
    const slow = get(port, '/slow');
    await until(() => up.held.length === 1, 'request upstream');
    await until(() => proxy!.server.store.counter('cluster.dur.upstream_cx_max_duration_reached').value() === 1, 'duration reached while busy', 5000);
    up.release();
    assert.equal((await slow).status, 200, 'the in-flight request finished');
    const next = get(port, '/next');
    await until(() => up.held.length === 1, 'next request upstream');
    up.release();
    assert.equal((await next).status, 200);
    assert.equal(up.connections(), 2, 'the expired connection took no new request');
    // An idle connection past its duration closes by itself.
    await until(() => proxy!.server.store.gauge('cluster.dur.upstream_cx_active').value() === 0, 'idle expired connection closed', 5000);
  } finally {
    await proxy?.close();
    await up.close();
  }
});

test('a queued request whose client goes away leaves the queue at once: its pending slot is free for the next, and it never reaches the upstream', { timeout: 30_000 }, async () => {
  const up = await heldUpstream();
  let proxy: Proxy | undefined;
  try {
    proxy = await startProxy({
      clusters: [staticCluster('cb', [up.port], { circuit_breakers: { thresholds: [{ max_connections: 1, max_pending_requests: 1, track_remaining: true }] } })],
      listeners: [httpListener('in', routeTo('cb'))],
    });
    const port = proxy.port('in');
    const g = (n: string) => proxy!.server.store.gauge(`cluster.cb.circuit_breakers.default.${n}`).value();
    const first = get(port, '/1');
    await until(() => up.held.length === 1, 'first request upstream');
    // The second waits for the one connection; its client gives up.
    const gone = http.get({ host: '127.0.0.1', port, path: '/gone', agent: false });
    gone.on('error', () => {});
    await until(() => g('remaining_pending') === 0, 'second request pending');
    // A reset, not a FIN (a FIN after a whole request is a half-close: the answer is still sent).
    gone.socket!.resetAndDestroy();
    await until(() => g('remaining_pending') === 1, 'the abandoned request left the queue');
    // Its slot takes the next request, which is not refused.
    const third = get(port, '/3');
    await until(() => g('remaining_pending') === 0, 'third request pending');
    up.release();
    await until(() => up.held.length === 1, 'the next request upstream');
    const paths = up.held.map((res) => String(res.req.url));
    up.release();
    assert.deepEqual([(await first).status, (await third).status], [200, 200]);
    assert.deepEqual(paths, ['/3'], 'the abandoned request never reached the upstream');
    assert.equal(proxy.server.store.counter('cluster.cb.upstream_rq_pending_overflow').value(), 0);
  } finally {
    await proxy?.close();
    await up.close();
  }
});
