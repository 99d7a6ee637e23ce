/**
 * The control plane's scrapes for the dashboard: none until someone looks, then rounds of every
 * target, stopping once nobody has looked for idleMs; a series new since the last round counts
 * from zero, and series seen before share their labels with earlier rounds.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { MeshScraper } from '../../src/controlplane/graph_scraper.ts';
import { windowRates } from '../../src/dashboard/rates.ts';
import { until } from '../helpers/poll.ts';

const LABELS = 'reporter="destination",source_workload="a",source_workload_namespace="default",destination_workload="b-v1",destination_workload_namespace="default",destination_service_name="b",destination_service_namespace="default",response_code="200",request_protocol="http"';

test('scrapes only while the dashboard is used, and the rates come out of two rounds', async (t) => {
  let scrapes = 0;
  const server = createServer((_req, res) => {
    scrapes++;
    // 10 more requests counted at every scrape; an unrelated family beside it.
    res.end(`# TYPE istio_requests_total counter\nistio_requests_total{${LABELS}} ${scrapes * 10}\nenvoy_server_live 1\n`);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => server.close());
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/stats/prometheus`;
  const scraper = new MeshScraper({ targets: () => [{ id: 'default/b-v1', url }], intervalMs: 50, idleMs: 300 });
  t.after(() => scraper.close());

  await new Promise((r) => setTimeout(r, 200));
  assert.equal(scrapes, 0, 'nothing scraped before anyone looked');
  // Looked at again and again, as the page does every few seconds, until three rounds are in.
  await until(() => {
    scraper.touch();
    return scraper.rounds().length >= 3;
  }, 'three rounds', 30_000, 20);
  const rounds = scraper.rounds();
  const [first, second] = [rounds[0]!.targets.get('default/b-v1')!, rounds[1]!.targets.get('default/b-v1')!];
  assert.equal(first.series.size, 1, 'only the families the graph reads are kept');
  assert.equal([...first.series.values()][0]!.labels, [...second.series.values()][0]!.labels, 'labels shared between rounds');
  const { traffic, covered } = windowRates(rounds, 60);
  assert.ok(covered > 0);
  assert.equal(traffic.requests.length, 1);
  assert.ok(traffic.requests[0]!.rate > 0);

  // Nobody looks any more: the timer stops after idleMs.
  await until(async () => {
    await scraper.settled();
    const n = scrapes;
    await new Promise((r) => setTimeout(r, 400));
    return scrapes === n;
  }, 'scrapes stopping once idle', 10_000, 50);
});

test('a target that does not answer is counted, not kept', async (t) => {
  const scraper = new MeshScraper({ targets: () => [{ id: 'default/gone', url: 'http://127.0.0.1:1/stats/prometheus' }], intervalMs: 50, idleMs: 100 });
  t.after(() => scraper.close());
  scraper.touch();
  await until(() => scraper.rounds().length >= 1, 'a round', 30_000, 20);
  assert.equal(scraper.rounds()[0]!.targets.size, 0);
  assert.ok(scraper.failures >= 1);
});
