/**
 * Issue 12's acceptance with a real Prometheus (Debian's package): the Bookinfo demo (Istio's
 * files, reviews v1/v2/v3 all in rotation) plus Istio's sleep and a tcp-echo Service, scraped
 * with the configuration `tsmesh prometheus-config` prints, under 20 s of page loads through the
 * ingress gateway and TCP echoes from sleep's sidecar to tcp-echo's.
 *  - every target is up: the control plane's /metrics and every pod's merged 15020 output;
 *  - control-plane and envoy_* series carry the relabelled pod labels (per-version rates);
 *  - acceptance 1: istio_requests_total by destination_version from the destination reporter,
 *    source_workload productpage-v1, and histogram_quantile over the duration buckets;
 *  - acceptance 2: istio_tcp_* series with both peers' workloads.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { tsmeshCommand } from '../../src/common/self_command.ts';
import { ISTIO_BOOKINFO_CONFIGS, ISTIO_SAMPLES, NO_ISTIO_DATA, reviewsView, startIstioDemo } from '../helpers/demo.ts';
import { NO_PROMETHEUS, startPrometheus, type PromSample } from '../helpers/prometheus.ts';
import { REPO } from '../helpers/processes.ts';

const LOAD_MS = 20_000;

/** Istio's tcp-echo Service with a Deployment running our samples/tcp-echo (no container runtime). */
function tcpEchoYaml(): string {
  const service = readFileSync(`${ISTIO_SAMPLES}/tcp-echo/tcp-echo.yaml`, 'utf8').split(/^---$/m).find((d) => /^kind: Service\b/m.test(d))!;
  return `${service.trim()}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: tcp-echo-v1, namespace: default}
spec:
  replicas: 1
  selector: {matchLabels: {app: tcp-echo, version: v1}}
  template:
    metadata: {labels: {app: tcp-echo, version: v1}}
    spec:
      containers:
      - name: tcp-echo
        image: docker.io/istio/tcp-echo-server:1.3
        command: [node, --import, tsx, samples/tcp-echo/main.ts, '9000,9001', hello]
        ports: [{containerPort: 9000}, {containerPort: 9001}]
`;
}

function tsmesh(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const cmd = tsmeshCommand(args, REPO);
  return new Promise((resolve) =>
    execFile(cmd.command, cmd.args, { cwd: REPO, timeout: 60_000 }, (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr })),
  );
}

/** One line echoed over a fresh TCP connection (to sleep's sidecar outbound listener for tcp-echo:9000). */
function echo(host: string, port: number, line: string): Promise<string> {
  return new Promise((resolve) => {
    const s = connect({ host, port });
    let got = '';
    const done = () => {
      clearTimeout(timer);
      s.destroy();
      resolve(got);
    };
    const timer = setTimeout(done, 3000);
    s.setEncoding('utf8');
    s.on('connect', () => s.write(`${line}\n`));
    s.on('data', (d) => {
      got += d;
      if (got.includes('\n')) s.end();
    });
    s.on('error', done);
    s.on('close', done);
  });
}

const show = (s: PromSample[]) => s.map((x) => `${JSON.stringify(x.metric)} ${x.value.toFixed(3)}`).join('; ');

test('a real Prometheus scrapes the Bookinfo demo with tsmesh prometheus-config', { skip: NO_ISTIO_DATA || NO_PROMETHEUS, timeout: 900_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tsmesh-promit-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'tcp-echo.yaml'), tcpEchoYaml());
  const demo = await startIstioDemo(t, { configs: [...ISTIO_BOOKINFO_CONFIGS, `${ISTIO_SAMPLES}/sleep/sleep.yaml`, join(dir, 'tcp-echo.yaml')] });
  const sidecars = demo.state.pods.filter((p) => p.sidecar).length;

  const cfg = await tsmesh(['prometheus-config', '--controlplane', demo.controlplane, '--scrape-interval', '2s']);
  assert.equal(cfg.code, 0, cfg.stderr);
  const prom = await startPrometheus(t, cfg.stdout);
  t.diagnostic(`prometheus ${prom.url}; ${sidecars} sidecars + the gateway`);

  // Bounded load: page loads through the gateway (reviews v1/v2/v3 in rotation), TCP echoes from sleep.
  const views = new Map<string, number>();
  let echoed = 0;
  const until = performance.now() + LOAD_MS;
  const pages = async () => {
    while (performance.now() < until) {
      const r = await demo.get('/productpage');
      const v = r.status === 200 ? reviewsView(r) : `HTTP ${r.status}`;
      views.set(v, (views.get(v) ?? 0) + 1);
    }
  };
  const sleepIP = demo.pod('sleep').appIP;
  const tcp = async () => {
    while (performance.now() < until) {
      if ((await echo(sleepIP, 9000, `line ${echoed}`)) === `hello line ${echoed}\n`) echoed++;
      await new Promise((r) => setTimeout(r, 200));
    }
  };
  await Promise.all([pages(), pages(), tcp()]);
  t.diagnostic(`load: ${JSON.stringify(Object.fromEntries(views))} page loads, ${echoed} TCP echoes in ${LOAD_MS / 1000} s`);
  assert.ok(echoed > 0, 'tcp-echo answered through the sidecars');

  await t.test('every target is up: the control plane and every proxy\'s merged metrics', async () => {
    const up = await prom.waitFor('up', 'every target scraped', (s) => s.length >= sidecars + 2 && s.every((x) => x.value === 1), 30_000).catch(async (e: Error) => {
      throw new Error(`${e.message}: ${JSON.stringify(await prom.targets())}`);
    });
    t.diagnostic(`up: ${up.length} targets`);
    const xds = await prom.query('sum(pilot_xds)');
    assert.ok(xds[0] && xds[0].value >= sidecars + 1, `pilot_xds ${show(xds)}`);
  });

  await t.test('envoy_* series carry the pods\' relabelled labels: reviews requests by version', async () => {
    const q = 'sum(rate(envoy_cluster_upstream_rq_total{app="reviews",envoy_cluster_name=~"inbound.*"}[1m])) by (version)';
    const s = await prom.waitFor(q, 'reviews inbound rates by version', (x) => x.length === 3 && x.every((y) => y.value > 0));
    t.diagnostic(`${q}: ${show(s)}`);
  });

  await t.test('acceptance 1: istio_requests_total by destination_version, from productpage-v1; duration quantile', async () => {
    const q = 'sum(rate(istio_requests_total{reporter="destination",destination_service_name="reviews"}[1m])) by (destination_version)';
    const s = await prom.waitFor(q, 'a rate per reviews version', (x) => ['v1', 'v2', 'v3'].every((v) => x.some((y) => y.metric.destination_version === v && y.value > 0)));
    t.diagnostic(`${q}: ${show(s)}`);
    const src = await prom.query('sum(rate(istio_requests_total{reporter="destination",destination_service_name="reviews"}[1m])) by (source_workload)');
    t.diagnostic(`by source_workload: ${show(src)}`);
    assert.deepEqual(src.map((x) => x.metric.source_workload), ['productpage-v1']);
    const p90 = await prom.waitFor('histogram_quantile(0.9, sum(rate(istio_request_duration_milliseconds_bucket[1m])) by (le))', 'a p90 request duration', (x) => x.length === 1 && Number.isFinite(x[0]!.value));
    t.diagnostic(`p90 istio_request_duration_milliseconds: ${p90[0]!.value.toFixed(1)} ms`);
  });

  await t.test('acceptance 2: a TCP flow gives istio_tcp_* with both peers\' workloads', async () => {
    for (const m of ['istio_tcp_connections_opened_total', 'istio_tcp_sent_bytes_total', 'istio_tcp_received_bytes_total']) {
      const q = `sum(${m}{destination_service_name="tcp-echo"}) by (reporter, source_workload, destination_workload)`;
      const both = (y: PromSample) => y.metric.source_workload === 'sleep' && y.metric.destination_workload === 'tcp-echo-v1' && y.value > 0;
      const s = await prom.waitFor(q, `${m} for tcp-echo from sleep, from both reporters`, (x) => ['source', 'destination'].every((r) => x.some((y) => y.metric.reporter === r && both(y))));
      t.diagnostic(`${q}: ${show(s)}`);
      for (const x of s) {
        // The demo's readiness probe connects to tcp-echo's inbound port from outside the mesh:
        // Istio reports such a peer as unknown, and only its destination side exists.
        if (!both(x)) assert.deepEqual([x.metric.reporter, x.metric.source_workload, x.metric.destination_workload], ['destination', 'unknown', 'tcp-echo-v1'], `${m} ${JSON.stringify(x.metric)}`);
      }
    }
  });
});
