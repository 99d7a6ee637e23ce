/**
 * Issue 13's dashboard in a real headless Chromium (Debian's, driven by playwright-core) against
 * the Bookinfo demo: after a bounded load of /productpage through the ingress gateway, the graph
 * page draws productpage -> details, productpage -> reviews with its three versions, and reviews
 * -> ratings, each with a non-zero rate and the lock of mutual TLS; the graph API answers the
 * same edges the page drew; the reviews service page charts its traffic; a trace from the
 * embedded collector is drawn as a waterfall; tap streams reviews-v2's requests. Screenshots: test-artifacts/dashboard/.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Page } from 'playwright-core';
import { ISTIO_BOOKINFO_CONFIGS, NO_ISTIO_DATA, startIstioDemo, type IstioDemo } from '../helpers/demo.ts';
import { artifactDir, NO_CHROMIUM, screenshot, startBrowser } from '../helpers/browser.ts';
import { until } from '../helpers/poll.ts';
import { execFile } from 'node:child_process';
import { spawnTsmesh } from '../helpers/processes.ts';
import { tsmeshCommand } from '../../src/common/self_command.ts';
import { NO_PROMETHEUS, startPrometheus, type Prometheus } from '../helpers/prometheus.ts';
import { fetchConnections, scrapeConfigYaml } from '../../src/controlplane/metrics/scrape_config.ts';

interface EdgeView {
  id: string;
  source: string;
  target: string;
  traffic: { protocol: string; rates: Record<string, string> };
  isMTLS?: string;
  responseTime?: string;
}

interface GraphJson {
  covered: number;
  source: string;
  elements: { nodes: Array<{ data: Record<string, unknown> }>; edges: Array<{ data: EdgeView }> };
}

/** What the issue asks the graph to show after page loads (Kiali's workload graph with service nodes). */
const EXPECTED: Array<[string, string]> = [
  ['wl:default:productpage-v1', 'svc:default:details'],
  ['wl:default:productpage-v1', 'svc:default:reviews'],
  ['svc:default:reviews', 'wl:default:reviews-v1'],
  ['svc:default:reviews', 'wl:default:reviews-v2'],
  ['svc:default:reviews', 'wl:default:reviews-v3'],
  ['wl:default:reviews-v2', 'svc:default:ratings'],
  ['wl:default:reviews-v3', 'svc:default:ratings'],
];

/**
 * Page loads through the gateway: at most `n` requests, `concurrency` at a time, each worker
 * waiting `gapMs` after each of its requests, and never past `maxMs`.
 */
async function load(demo: IstioDemo, n: number, concurrency: number, maxMs: number, gapMs = 0): Promise<Map<number, number>> {
  const codes = new Map<number, number>();
  const deadline = performance.now() + maxMs;
  let sent = 0;
  const worker = async () => {
    while (sent < n && performance.now() < deadline) {
      sent++;
      const r = await demo.get('/productpage', { timeoutMs: 30_000 }).catch(() => ({ status: 0 }));
      codes.set(r.status, (codes.get(r.status) ?? 0) + 1);
      if (gapMs > 0) await new Promise((res) => setTimeout(res, gapMs));
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return codes;
}

/** `tsmesh <args>` to its end (60 s at most). */
function tsmesh(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const cmd = tsmeshCommand(args);
  return new Promise((resolve) => {
    execFile(cmd.command, cmd.args, { timeout: 60_000 }, (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr }));
  });
}

async function getJson<T>(url: string): Promise<T> {
  const r = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  assert.equal(r.status, 200, `${url}: HTTP ${r.status}`);
  return (await r.json()) as T;
}

/** The edges Cytoscape holds on the page, as the page drew them. */
function pageEdges(page: Page): Promise<EdgeView[]> {
  return page.evaluate(() => {
    const g = (window as unknown as { tsmeshGraph?: { cy: { edges(): Array<{ data(): EdgeView }> } } }).tsmeshGraph;
    return g ? g.cy.edges().map((e) => e.data()) : [];
  });
}

const pairs = (edges: Array<Pick<EdgeView, 'source' | 'target'>>) => edges.map((e) => `${e.source} -> ${e.target}`).sort();

test('dashboard: the Bookinfo graph, the graph API, a service page with charts and a trace waterfall in headless Chromium', { skip: NO_ISTIO_DATA || NO_CHROMIUM, timeout: 600_000 }, async (t) => {
  const demo = await startIstioDemo(t, { configs: ISTIO_BOOKINFO_CONFIGS });
  const cp = demo.controlplane;
  const shots = artifactDir('dashboard');
  const browser = await startBrowser(t);
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  const pageErrors: string[] = [];
  page.on('pageerror', (e) => pageErrors.push(e.message));
  page.on('console', (m) => {
    if (m.type() === 'error') pageErrors.push(m.text());
  });

  // A real Prometheus scraping the same proxies from the start (when installed), for the graph
  // from Prometheus below: the page loads of the next step are in its data too.
  let prom: Prometheus | undefined;
  if (!NO_PROMETHEUS) prom = await startPrometheus(t, scrapeConfigYaml(await fetchConnections(cp), { controlplane: cp, scrapeInterval: '2s' }));

  await t.test('the graph page draws the Bookinfo edges with rates, and the graph API gives the same edges', async () => {
    await page.goto(`${cp}/dashboard/#/graph`);
    // The page's first graph request starts the control plane's scrapes; rates need two of them.
    await until(async () => (await getJson<GraphJson>(`${cp}/api/namespaces/graph?duration=60s`)).covered > 0, 'two scrapes of the proxies', 60_000, 500);
    const codes = await load(demo, 90, 3, 120_000);
    t.diagnostic(`page loads: ${[...codes].map(([c, n]) => `${c}: ${n}`).join(', ')}`);
    assert.ok((codes.get(200) ?? 0) >= 60, `most page loads succeed: ${JSON.stringify([...codes])}`);

    const edges = await until(
      async () => {
        const e = await pageEdges(page);
        return EXPECTED.every(([s, d]) => e.some((x) => x.source === s && x.target === d && Number(x.traffic.rates.http) > 0)) ? e : undefined;
      },
      `the page's graph with ${EXPECTED.map(([s, d]) => `${s} -> ${d}`).join(', ')}, each with a rate`,
      60_000,
      1000,
    );
    for (const [s, d] of EXPECTED) {
      const e = edges.find((x) => x.source === s && x.target === d)!;
      t.diagnostic(`${s} -> ${d}: ${e.traffic.rates.http} rps, ${e.traffic.rates.httpPercentErr}% errors, p95 ${e.responseTime} ms, mTLS ${e.isMTLS ?? 0}%`);
      assert.ok(Number(e.isMTLS) > 0, `${s} -> ${d} went over mutual TLS (sidecar to sidecar, auto mTLS): ${JSON.stringify(e)}`);
      assert.ok(Number(e.responseTime) > 0, `${s} -> ${d} has a p95: ${JSON.stringify(e)}`);
    }
    // Kiali's lock on each mTLS edge, drawn as an icon over it.
    const locks = await until(async () => {
      const l = await page.locator('#cy-locks .lock').evaluateAll((els) => els.map((e) => (e as HTMLElement).dataset.edge ?? ''));
      return EXPECTED.every(([s, d]) => l.includes(`${s}->${d}`)) ? l : undefined;
    }, 'a lock on every mTLS edge', 10_000, 250);
    assert.equal(locks.length, (await pageEdges(page)).filter((e) => Number(e.isMTLS ?? 0) > 0).length, 'a lock for each mTLS edge, no more');
    // Drawn as the JSON says: the page's elements are the last graph it fetched.
    const drawn = await page.evaluate(() => (window as unknown as { tsmeshGraph: { last: GraphJson } }).tsmeshGraph.last);
    assert.deepEqual(pairs(edges), pairs(drawn.elements.edges.map((e) => e.data)));
    // The API answers the same edges (retried: the page and the test each read a live graph, and an
    // edge whose last request slid out of the window can be in one and not yet out of the other).
    const same = await until(
      async () => {
        const [api, shown] = [await getJson<GraphJson>(`${cp}/api/namespaces/graph?duration=60s&graphType=workload`), await pageEdges(page)];
        return JSON.stringify(pairs(api.elements.edges.map((e) => e.data))) === JSON.stringify(pairs(shown)) ? { api, shown } : undefined;
      },
      'the graph API and the page showing the same edges',
      30_000,
      1000,
    );
    assert.equal(same.api.source, 'proxies', 'no Prometheus in this demo: rates from the proxies');
    for (const n of same.api.elements.nodes) for (const k of ['id', 'nodeType', 'namespace']) assert.ok(k in n.data, `node has ${k}: ${JSON.stringify(n.data)}`);
    t.diagnostic(`graph: ${same.api.elements.nodes.length} nodes, ${same.api.elements.edges.length} edges, over ${same.api.covered} s`);
    assert.match(await page.locator('#status').innerText(), /graph from proxies/);
    t.diagnostic(`screenshot ${await screenshot(page, shots, 'graph')}`);
  });

  await t.test('with a Prometheus, the graph API and the page draw the same Bookinfo edges from its rates', { skip: NO_PROMETHEUS }, async () => {
    // Prometheus' rate() needs a counter to grow between two of its scrapes (2 s apart): the burst
    // above can fall between two, so these page loads are spread over about 10 s.
    const codes = await load(demo, 40, 2, 60_000, 500);
    t.diagnostic(`paced page loads: ${[...codes].map(([c, n]) => `${c}: ${n}`).join(', ')}`);
    const url = `${cp}/api/namespaces/graph?duration=120s&prometheus=${encodeURIComponent(prom!.url)}`;
    const g = await until(
      async () => {
        const j = await getJson<GraphJson>(url);
        // Both proxies' reports of a request are in Prometheus once each was scraped twice after it.
        const full = (e: EdgeView) => Number(e.traffic.rates.http) > 0 && Number(e.isMTLS) > 0 && Number(e.responseTime) > 0;
        return EXPECTED.every(([s, d]) => j.elements.edges.some((e) => e.data.source === s && e.data.target === d && full(e.data))) ? j : undefined;
      },
      "the Bookinfo edges from Prometheus' rates, with mTLS and a p95",
      90_000,
      2000,
    );
    assert.equal(g.source, `prometheus ${prom!.url}`);
    for (const [s, d] of EXPECTED) {
      const e = g.elements.edges.find((x) => x.data.source === s && x.data.target === d)!.data;
      assert.ok(Number(e.isMTLS) > 0 && Number(e.responseTime) > 0, `${s} -> ${d} from Prometheus: ${JSON.stringify(e)}`);
    }
    t.diagnostic(`from Prometheus: ${g.elements.edges.length} edges; reviews -> reviews-v2 ${g.elements.edges.find((x) => x.data.target === 'wl:default:reviews-v2')?.data.traffic.rates.http} rps`);
    // The charts' series from Prometheus too (query_range).
    const series = await until(async () => {
      const sj = await getJson<{ source: string; requests: number[]; p95: Array<number | null> }>(`${cp}/api/dashboard/series?node=svc:default:reviews&prometheus=${encodeURIComponent(prom!.url)}`);
      return sj.requests.some((v) => v > 0) && sj.p95.some((v) => (v ?? 0) > 0) ? sj : undefined;
    }, "reviews' series from Prometheus with requests and p95 above zero", 30_000, 1000);
    assert.equal(series.source, `prometheus ${prom!.url}`);
    t.diagnostic(`reviews from Prometheus: ${series.requests.length} points, peak ${Math.max(...series.requests).toFixed(2)} rps`);
    // A Prometheus the control plane is told of per request must be on loopback: it fetches it.
    const bad = await fetch(`${cp}/api/namespaces/graph?prometheus=${encodeURIComponent('http://192.0.2.1:9090')}`);
    assert.equal(bad.status, 400);
    assert.match(((await bad.json()) as { error: string }).error, /only a Prometheus on loopback/);
    // The page opened as `tsmesh dashboard` opens it for a demo with Prometheus.
    const p2 = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    p2.on('pageerror', (e) => pageErrors.push(e.message));
    await p2.goto(`${cp}/dashboard/?prometheus=${encodeURIComponent(prom!.url)}#/graph`);
    await until(async () => /graph from prometheus/.test(await p2.locator('#status').innerText()) && (await pageEdges(p2)).length >= EXPECTED.length, 'the page drawing the graph from Prometheus', 30_000, 500);
    t.diagnostic(`screenshot ${await screenshot(p2, shots, 'graph-prometheus')}`);
    await p2.close();
  });

  await t.test('the reviews service page charts its requests, errors and p95, with its proxies and config', async () => {
    // The services list, from the same graph: each with its inbound rate and health (a few page
    // loads first, so that the rates in its 60 s window do not hang on how long the steps above took).
    await load(demo, 6, 1, 30_000);
    await page.evaluate(() => (location.hash = '#/services'));
    const list = await until(async () => {
      const rows = await page.locator('#services-table tr').evaluateAll((trs) => trs.map((tr) => [...(tr as HTMLTableRowElement).cells].map((c) => c.textContent ?? '')));
      return rows.some((r) => r[0] === 'reviews' && r[1] === 'service' && Number(r[4]) > 0) ? rows : undefined;
    }, 'reviews in the services list with a rate', 20_000, 500);
    assert.ok(list.some((r) => r[0] === 'reviews-v3' && r[1] === 'workload' && r[3] === 'v3' && r[5] === 'Healthy'), JSON.stringify(list));
    t.diagnostic(`screenshot ${await screenshot(page, shots, 'services')}`);
    await page.evaluate(() => (location.hash = `#/node/${encodeURIComponent('svc:default:reviews')}`));
    const chart = await until(
      async () => {
        const c = await page.evaluate(() => {
          const w = window as unknown as { tsmeshCharts?: { charts: Record<string, { data: Array<Array<number | null>>; scales: Record<string, { min?: number; max?: number }> }> } };
          const ch = w.tsmeshCharts?.charts;
          if (!ch?.requests || !ch.p95) return undefined;
          return { requests: ch.requests.data[1] ?? [], p95: ch.p95.data[1] ?? [], points: ch.requests.data[0]?.length ?? 0, yMax: ch.requests.scales.y?.max ?? 0 };
        });
        return c && c.requests.some((v) => (v ?? 0) > 0) && c.p95.some((v) => (v ?? 0) > 0) ? c : undefined;
      },
      'charts with request-rate and p95 points above zero',
      60_000,
      1000,
    );
    t.diagnostic(`reviews: ${chart.points} points, peak ${Math.max(...chart.requests.map((v) => v ?? 0))} rps, y axis up to ${chart.yMax}`);
    assert.ok(chart.yMax > 0, 'the rate chart scaled to its data');
    assert.equal(await page.locator('#view-node canvas').count(), 3, 'three charts drawn');
    const proxies = await until(async () => {
      const text = await page.locator('#node-proxies').innerText();
      return ['reviews-v1', 'reviews-v2', 'reviews-v3'].every((p) => text.includes(p)) ? text : undefined;
    }, 'the three reviews proxies listed', 20_000, 500);
    assert.match(proxies, /SYNCED/);
    assert.doesNotMatch(proxies, /STALE/);
    const config = await page.locator('#node-config').innerText();
    assert.match(config, /DestinationRule\s+default\s+reviews/, `destination-rule-all.yaml's reviews rule applies: ${config}`);
    t.diagnostic(`screenshot ${await screenshot(page, shots, 'service-reviews')}`);
  });

  await t.test('a trace from the collector is drawn as a waterfall', async () => {
    const zipkin = `${cp}/dashboard/zipkin/api/v2`;
    // A trace that went through productpage and reached reviews (the demo samples 100%).
    const spans = await until(
      async () => {
        const traces = await getJson<Array<Array<{ traceId: string; localEndpoint?: { serviceName?: string } }>>>(`${zipkin}/traces?serviceName=${encodeURIComponent('istio-ingressgateway.istio-system')}&limit=100`).catch(() => getJson<Array<Array<{ traceId: string; localEndpoint?: { serviceName?: string } }>>>(`${zipkin}/traces?limit=100`));
        return traces.find((tr) => ['productpage.', 'reviews.', 'details.'].every((p) => tr.some((s) => s.localEndpoint?.serviceName?.startsWith(p))));
      },
      'a trace with productpage, details and reviews spans',
      30_000,
      1000,
    );
    const id = spans[0]!.traceId;
    await page.evaluate(() => (location.hash = '#/traces'));
    await until(async () => (await page.locator('#traces-table a').count()) > 0, 'the trace list', 20_000, 500);
    await page.evaluate((tid) => (location.hash = `#/trace/${tid}`), id);
    const bars = await until(
      async () => {
        const b = await page.locator('#waterfall .span-bar').evaluateAll((els) => els.map((e) => ({ w: (e as HTMLElement).getBoundingClientRect().width, left: (e as HTMLElement).style.left })));
        return b.length === spans.length ? b : undefined;
      },
      `a waterfall bar for each of the trace's ${spans.length} spans`,
      20_000,
      500,
    );
    assert.ok(bars.every((b) => b.w >= 1), `every bar is drawn: ${JSON.stringify(bars)}`);
    assert.ok(new Set(bars.map((b) => b.left)).size > 1, 'child spans start after their parents');
    const labels = await page.locator('#waterfall .label').allInnerTexts();
    assert.ok(labels.some((l) => l.startsWith('reviews.')) && labels.some((l) => l.startsWith('productpage.')), labels.join(' | '));
    t.diagnostic(`trace ${id}: ${bars.length} spans; screenshot ${await screenshot(page, shots, 'trace-waterfall')}`);
  });

  await t.test("tap streams reviews-v2's requests live while pages load, and stops", async () => {
    await page.evaluate(() => (location.hash = '#/tap/default/reviews-v2'));
    await until(async () => /^tapping deploy\/reviews-v2/.test(await page.locator('#tap-state').innerText()), 'the tap started', 20_000, 250);
    const loading = load(demo, 30, 2, 60_000);
    const rows = await until(
      async () => {
        const r = await page.locator('#tap-table tr.tap-event').evaluateAll((trs) => trs.map((tr) => [...(tr as HTMLTableRowElement).cells].map((c) => c.textContent ?? '')));
        return r.some((c) => c[1] === 'inbound' && c[5]?.startsWith('/reviews/') && c[6] === '200') ? r : undefined;
      },
      "an inbound /reviews/ request with status 200 in the tap's table",
      60_000,
      500,
    );
    await loading;
    t.diagnostic(`tap rows: ${rows.length}; first: ${rows[0]?.join(' | ')}`);
    t.diagnostic(`screenshot ${await screenshot(page, shots, 'tap')}`);
    await page.locator('#tap-stop').click();
    assert.equal(await page.locator('#tap-state').innerText(), 'stopped');
    const before = await page.locator('#tap-table tr.tap-event').count();
    await load(demo, 6, 1, 30_000);
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(await page.locator('#tap-table tr.tap-event').count(), before, 'no events after Stop');
  });

  await t.test("the service page shows istioctl analyze's messages on the config that applies to it", async () => {
    // A route to a subset no DestinationRule defines: Istio's IST0101 ReferencedResourceNotFound.
    await demo.apply(
      ['apiVersion: networking.istio.io/v1', 'kind: VirtualService', 'metadata:', '  name: reviews-to-nowhere', '  namespace: default', 'spec:', '  hosts: [reviews]', '  http:', '  - route:', '    - destination:', '        host: reviews', '        subset: v9', ''].join('\n'),
      'reviews-to-nowhere.yaml',
    );
    await page.evaluate(() => (location.hash = `#/node/${encodeURIComponent('svc:default:reviews')}`));
    const text = await until(
      async () => {
        const tx = await page.locator('#node-analysis').innerText();
        return /IST0101/.test(tx) ? tx : undefined;
      },
      'IST0101 on the reviews page',
      30_000,
      500,
    );
    assert.match(text, /VirtualService default\/reviews-to-nowhere/);
    assert.match(await page.locator('#node-config').innerText(), /VirtualService\s+default\s+reviews-to-nowhere/);
    t.diagnostic(text.split('\n').filter((l) => l.includes('IST')).join(' / '));
    t.diagnostic(`screenshot ${await screenshot(page, shots, 'service-reviews-analysis')}`);
  });

  await t.test('tsmesh dashboard prints the URL (--browser=false), or forwards a local --port to the control plane until interrupted', async () => {
    const printed = await tsmesh(['dashboard', '--browser=false', '--controlplane', cp]);
    assert.equal(printed.code, 0, printed.stderr);
    assert.equal(printed.stdout.trim(), `${cp}/dashboard/`);
    const fwd = await spawnTsmesh(['dashboard', '--browser=false', '--controlplane', cp, '--address', '127.0.0.1', '--port', '0'], /forwarding 127\.0\.0\.1:\d+/, { timeoutMs: 60_000 });
    const local = /^(http:\/\/127\.0\.0\.1:\d+\/dashboard\/)$/m.exec(fwd.output())?.[1];
    assert.ok(local, fwd.output());
    const r = await fetch(local!, { signal: AbortSignal.timeout(10_000) });
    assert.equal(r.status, 200);
    assert.match(await r.text(), /<title>tsmesh dashboard<\/title>/);
    assert.equal(await fwd.stop('SIGINT'), 0, 'Ctrl-C stops it cleanly');
    const none = await tsmesh(['dashboard', '--browser=false', '--controlplane', 'http://127.0.0.1:1']);
    assert.equal(none.code, 1);
    assert.match(none.stderr, /no control plane answers at http:\/\/127\.0\.0\.1:1 \(from --controlplane\): start one with `npx tsmesh demo`/);
  });

  await t.test('the page ran without script errors', () => {
    assert.deepEqual(pageErrors, []);
  });
});
