// Bookinfo's outbound calls through an HTTP proxy: the role the sidecar plays on 15001. A small
// HTTP server here plays that proxy, routing by Host to the real apps and recording what it got.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, request } from 'node:http';
import * as details from '../../samples/bookinfo/src/details.ts';
import * as productpage from '../../samples/bookinfo/src/productpage.ts';
import * as ratings from '../../samples/bookinfo/src/ratings.ts';
import * as reviews from '../../samples/bookinfo/src/reviews.ts';
import { listen, type Running } from '../../samples/common/server.ts';
import { LOOPBACK, quiet, type Seen } from './helpers.ts';

async function startRoutingProxy(routes: Record<string, number>): Promise<Running & { seen: Seen[] }> {
  const seen: Seen[] = [];
  const server = createServer((req, res) => {
    seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers });
    const port = routes[req.headers.host ?? ''];
    if (port === undefined) {
      res.writeHead(404, { 'content-length': 0 });
      return res.end();
    }
    const path = req.url!.startsWith('/') ? req.url! : new URL(req.url!).pathname;
    const up = request({ host: LOOPBACK, port, method: req.method, path, headers: req.headers }, (ur) => {
      res.writeHead(ur.statusCode ?? 502, ur.headers);
      ur.pipe(res);
    });
    up.on('error', () => (res.writeHead(502), res.end()));
    req.pipe(up);
  });
  const r = await listen(server, 0, LOOPBACK);
  return { ...r, seen };
}

async function run(proxyVar: 'HTTP_PROXY' | 'TSMESH_OUTBOUND_PROXY', check: (seen: Seen[]) => void): Promise<void> {
  const base = { host: LOOPBACK, port: 0, log: quiet, env: {} };
  const d = await details.start(base);
  const ra = await ratings.start(base);
  const routes: Record<string, number> = { 'details:9080': d.port, 'ratings:9080': ra.port };
  const proxy = await startRoutingProxy(routes);
  const env = { [proxyVar]: `http://127.0.0.1:${proxy.port}` };
  const rv = await reviews.start({ ...base, version: 'v2', env });
  routes['reviews:9080'] = rv.port;
  const pp = await productpage.start({ ...base, env });
  try {
    const html = await (await fetch(`http://127.0.0.1:${pp.port}/productpage`)).text();
    assert.match(html, /PublisherA/);
    assert.equal((html.match(/<font color="black">/g) ?? []).length, 2);
    check(proxy.seen);
  } finally {
    for (const r of [pp, rv, proxy, ra, d]) await r.close();
  }
}

test('HTTP_PROXY: absolute-form request line plus Host, for every hop', async () => {
  await run('HTTP_PROXY', (seen) => {
    const lines = seen.map((s) => `${s.headers.host} ${s.url}`).sort();
    assert.deepEqual(lines, ['details:9080 http://details:9080/details/0', 'ratings:9080 http://ratings:9080/ratings/0', 'reviews:9080 http://reviews:9080/reviews/0']);
  });
});

test('TSMESH_OUTBOUND_PROXY: origin-form request line, routed by Host alone', async () => {
  await run('TSMESH_OUTBOUND_PROXY', (seen) => {
    const lines = seen.map((s) => `${s.headers.host} ${s.url}`).sort();
    assert.deepEqual(lines, ['details:9080 /details/0', 'ratings:9080 /ratings/0', 'reviews:9080 /reviews/0']);
  });
});

test('NO_PROXY bypasses HTTP_PROXY for the listed hosts', async () => {
  const base = { host: LOOPBACK, port: 0, log: quiet, env: {} };
  const d = await details.start(base);
  const proxy = await startRoutingProxy({});
  const pp = await productpage.start({
    ...base,
    env: { HTTP_PROXY: `http://127.0.0.1:${proxy.port}`, NO_PROXY: '127.0.0.1', DETAILS_HOSTNAME: '127.0.0.1', DETAILS_SERVICE_PORT: String(d.port) },
  });
  try {
    const res = await fetch(`http://127.0.0.1:${pp.port}/api/v1/products/0`);
    assert.equal(res.status, 200);
    assert.equal(((await res.json()) as any).type, 'paperback');
    assert.equal(proxy.seen.length, 0);
  } finally {
    for (const r of [pp, proxy, d]) await r.close();
  }
});
