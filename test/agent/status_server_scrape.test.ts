/**
 * The status server's merged scrape against misbehaving sources (real sockets on loopback, the
 * agent's own StatusServer and AgentMetrics): an app that drips its metrics slowly is cut at the
 * scrape deadline (not only when its socket goes idle), an oversized app body is dropped, and
 * concurrent scrapes share one fetch of each source. Each case leaves the rest of the merge intact
 * and counts the failed source in istio_agent_scrape_failures_total.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { StatusServer } from '../../src/agent/status_server.ts';
import { AgentMetrics } from '../../src/agent/metrics.ts';

const HOST = '127.0.0.1';
const PROXY_SERIES = '# TYPE envoy_server_live gauge\nenvoy_server_live 1\n';

async function serve(t: { after(fn: () => unknown): void }, handler: (url: string, res: ServerResponse) => void): Promise<{ port: number; server: Server }> {
  const server = createServer((req, res) => handler(req.url ?? '/', res));
  await new Promise<void>((r) => server.listen(0, HOST, () => r()));
  t.after(() => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }));
  return { port: (server.address() as AddressInfo).port, server };
}

async function statusServer(t: { after(fn: () => unknown): void }, appPort: number, extra: { scrapeTimeoutMs?: number; maxScrapeBytes?: number } = {}) {
  const proxy = await serve(t, (_url, res) => res.writeHead(200, { 'content-type': 'text/plain' }).end(PROXY_SERIES));
  const metrics = new AgentMetrics();
  const s = new StatusServer({
    address: HOST, statusPort: 0, readinessPort: 0, notReady: () => undefined,
    proxyStatsUrl: () => `http://${HOST}:${proxy.port}/stats/prometheus`,
    app: { host: HOST, port: appPort, path: '/metrics' }, metrics, ...extra,
  });
  await s.listen();
  t.after(() => s.close());
  const scrape = async () => {
    const res = await fetch(`http://${HOST}:${s.statusPort}/stats/prometheus`, { signal: AbortSignal.timeout(15_000) });
    return { status: res.status, body: await res.text() };
  };
  return { s, scrape, metrics };
}

const failures = (body: string, type: string): number => Number(new RegExp(`^istio_agent_scrape_failures_total\\{type="${type}"\\} (\\d+)`, 'm').exec(body)?.[1] ?? 0);

test('an app that drips its metrics is cut at the scrape deadline; the proxy and agent series are still served', { timeout: 30_000 }, async (t) => {
  // One line every 100 ms, never idle long enough for a socket-idle timeout, and never done.
  const timers = new Set<NodeJS.Timeout>();
  t.after(() => { for (const x of timers) clearInterval(x); });
  const app = await serve(t, (_url, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    let i = 0;
    const x = setInterval(() => res.write(`app_drip_${i++} 1\n`), 100);
    timers.add(x);
    res.on('close', () => { clearInterval(x); timers.delete(x); });
  });
  const { scrape } = await statusServer(t, app.port, { scrapeTimeoutMs: 500 });
  const r = await scrape();
  assert.equal(r.status, 200);
  assert.match(r.body, /^envoy_server_live 1$/m, 'the proxy part');
  assert.doesNotMatch(r.body, /app_drip_/, 'no partial app output');
  assert.equal(failures(r.body, 'application'), 1);
  t.diagnostic(`merged scrape with a dripping app: ${r.body.length} bytes, application failures ${failures(r.body, 'application')}`);
});

test('an app body over the cap is dropped, not buffered whole', { timeout: 30_000 }, async (t) => {
  const line = 'app_big_series{label="xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"} 1\n';
  const big = line.repeat(Math.ceil((1 << 20) / line.length)); // about 1 MB
  const app = await serve(t, (_url, res) => res.writeHead(200, { 'content-type': 'text/plain' }).end(big));
  const { scrape } = await statusServer(t, app.port, { maxScrapeBytes: 64 * 1024 });
  const r = await scrape();
  assert.equal(r.status, 200);
  assert.match(r.body, /^envoy_server_live 1$/m);
  assert.doesNotMatch(r.body, /app_big_series/);
  assert.equal(failures(r.body, 'application'), 1);
  t.diagnostic(`app body ${big.length} bytes over a 65536-byte cap: merged ${r.body.length} bytes`);
});

test('concurrent scrapes share one fetch of the app', { timeout: 30_000 }, async (t) => {
  let appRequests = 0;
  const app = await serve(t, (_url, res) => {
    appRequests++;
    setTimeout(() => res.writeHead(200, { 'content-type': 'text/plain' }).end('# TYPE app_orders_total counter\napp_orders_total 7\n'), 300);
  });
  const { scrape } = await statusServer(t, app.port);
  const answers = await Promise.all(Array.from({ length: 5 }, () => scrape()));
  for (const a of answers) {
    assert.equal(a.status, 200);
    assert.match(a.body, /^app_orders_total 7$/m);
    assert.match(a.body, /^envoy_server_live 1$/m);
  }
  t.diagnostic(`5 concurrent scrapes → ${appRequests} app request(s)`);
  assert.equal(appRequests, 1);
  // A later scrape fetches again (nothing is cached once the fetch is done).
  await scrape();
  assert.equal(appRequests, 2);
});
