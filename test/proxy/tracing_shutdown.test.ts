/**
 * Tracing drivers' lifetime: a graceful stop sends the spans still queued (fewer than
 * min_flush_spans wait for a 5 s timer otherwise) and waits for the reports, and a driver no HCM
 * references any more (its listener replaced and drained) is closed rather than kept with its
 * batcher and timer. A real proxy, the control plane's Zipkin collector, loopback sockets.
 */
import assert from 'node:assert/strict';
import { createServer, request, type Server } from 'node:http';
import { after, before, test } from 'node:test';
import { ZipkinCollector } from '../../src/controlplane/zipkin/collector.ts';
import { tracingDriverCount } from '../../src/proxy/tracing/driver.ts';
import { TYPE, type EnvoyJson } from '../../src/xds/types.ts';
import { closeServer, httpListener, listen, staticCluster, startProxy, until } from './helpers.ts';

const ZIPKIN = 'type.googleapis.com/envoy.config.trace.v3.ZipkinConfig';

function tracing(hostname?: string): EnvoyJson {
  return {
    random_sampling: { value: 100 },
    provider: { name: 'envoy.tracers.zipkin', typed_config: { '@type': ZIPKIN, collector_cluster: 'zipkin', collector_endpoint: '/api/v2/spans', collector_endpoint_version: 'HTTP_JSON', trace_id_128bit: true, ...(hostname ? { collector_hostname: hostname } : {}) } },
  };
}

const route = [{ match: { prefix: '/' }, route: { cluster: 'app' } }];
const hex = (n: number) => [...Array(n)].map(() => Math.floor(Math.random() * 16).toString(16)).join('');

function get(port: number, traceId: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/', headers: { 'x-b3-traceid': traceId, 'x-b3-spanid': hex(16), 'x-b3-sampled': '1' }, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end();
  });
}

let app: Server;
let appPort: number;
let collector: ZipkinCollector;
let zipkinPort: number;

before(async () => {
  app = createServer((_req, res) => res.writeHead(200).end('ok'));
  appPort = await listen(app);
  collector = new ZipkinCollector();
  zipkinPort = await collector.listen(0, '127.0.0.1');
});

after(async () => {
  await collector?.close();
  await closeServer(app);
});

test('a graceful stop reports every span still queued: the last requests before SIGTERM are in the collector', async (t) => {
  const proxy = await startProxy({
    clusters: [staticCluster('app', [appPort]), staticCluster('zipkin', [zipkinPort])],
    listeners: [{ ...httpListener('egress', route, 0, { tracing: tracing() }), traffic_direction: 'OUTBOUND' }],
  });
  // Three spans: fewer than min_flush_spans (5), so they wait for the flush timer.
  const ids = [hex(32), hex(32), hex(32)];
  for (const id of ids) assert.equal(await get(proxy.port('egress'), id), 200);
  await proxy.close();
  const arrived = ids.filter((id) => collector.store.trace(id)?.length === 1);
  t.diagnostic(`spans in the collector when shutdown returned: ${arrived.length} of ${ids.length}`);
  assert.equal(arrived.length, ids.length);
  assert.equal(proxy.server.store.counter('tracing.zipkin.spans_sent').value(), ids.length);
});

test('an HCM replaced N times with a new collector config leaves one driver; identical pushes keep the live one', async (t) => {
  const proxy = await startProxy({ clusters: [staticCluster('app', [appPort]), staticCluster('zipkin', [zipkinPort])], listeners: [] }, { drainMs: 100 });
  const stats = proxy.server.store;
  const draining = () => stats.gauge('listener_manager.total_listeners_draining').value();
  const push = (hostname: string, version: string) => {
    const r = proxy.server.xds.setState(TYPE.LISTENER, [{ ...httpListener('egress', route, 0, { tracing: tracing(hostname) }), traffic_direction: 'OUTBOUND' }], version);
    assert.ok(r.ok, r.ok ? '' : r.error);
  };
  // Port 0: the listener's port is known once bound (later updates keep it).
  const port = () => until(() => proxy.server.listeners.active.get('egress')?.boundPort || undefined, 'egress bound', 5_000, 10);
  const N = 6;
  const ids: string[] = [];
  for (let i = 0; i < N; i++) {
    push(`zipkin-${i}`, `v${i}`);
    const id = hex(32);
    ids.push(id);
    assert.equal(await get(await port(), id), 200);
  }
  await until(() => draining() === 0 || undefined, 'replaced listeners drained', 10_000, 20);
  const afterReplace = tracingDriverCount(stats);
  t.diagnostic(`drivers after ${N} collector configs: ${afterReplace}`);
  assert.equal(afterReplace, 1);
  // Every closed driver sent what it had queued (the live one's span waits for its timer or shutdown).
  await until(() => ids.slice(0, -1).every((id) => collector.store.trace(id)) || undefined, 'spans of every replaced config', 15_000, 20);

  // The same config again (Istio re-pushes unchanged listeners): no new driver, the live one stays open.
  for (let i = 0; i < N; i++) push(`zipkin-${N - 1}`, `again-${i}`);
  await until(() => draining() === 0 || undefined, 'listeners drained', 10_000, 20);
  assert.equal(tracingDriverCount(stats), 1);
  const last = hex(32);
  assert.equal(await get(await port(), last), 200);
  await proxy.close();
  for (const id of [ids[N - 1]!, last]) assert.equal(collector.store.trace(id)?.length, 1, 'the live driver still reports (and is flushed at shutdown)');
  assert.equal(tracingDriverCount(stats), 0, 'shutdown closes every driver');
});
