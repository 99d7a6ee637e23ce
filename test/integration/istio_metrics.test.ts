/**
 * Istio's standard metrics through two real sidecars over mesh mTLS (issue 12, acceptance 1, 2
 * and 5 at the proxy's own scrape): a client pod calls a server pod; each sidecar's 15090
 * /stats/prometheus shows istio_requests_total from its side (reporter=source on the client's,
 * reporter=destination on the server's) with both workloads, apps, versions and SPIFFE principals,
 * and istio_request_duration_milliseconds buckets. The peer metadata headers never reach either
 * app. A TCP flow gives the istio_tcp_* series with both peers' workloads (the istio-peer-exchange
 * ALPN exchange). Telemetry resources: REQUEST_COUNT disabled for one workload disappears from that
 * workload's scrape only; a tagOverride adds a label on the client's.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { startMesh } from '../helpers/mesh.ts';
import { until } from '../helpers/poll.ts';

const CONFIG = `apiVersion: v1
kind: Service
metadata: { name: server, namespace: default }
spec:
  selector: { app: server }
  ports: [{ name: http, port: 8080 }, { name: tcp, port: 9000 }]
---
apiVersion: v1
kind: Service
metadata: { name: quiet, namespace: default }
spec:
  selector: { app: quiet }
  ports: [{ name: http, port: 8080 }]
---
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: { name: quiet-no-request-count, namespace: default }
spec:
  selector: { matchLabels: { app: quiet } }
  metrics:
  - providers: [{ name: prometheus }]
    overrides:
    - match: { metric: REQUEST_COUNT }
      disabled: true
---
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: { name: client-method-tag, namespace: default }
spec:
  selector: { matchLabels: { app: client } }
  metrics:
  - providers: [{ name: prometheus }]
    overrides:
    - match: { metric: REQUEST_COUNT, mode: CLIENT }
      tagOverrides:
        request_method: { value: request.method }
`;

/** One Prometheus sample: metric name, labels, value. */
interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

function parse(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    out.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return out;
}

async function scrape(ip: string): Promise<{ text: string; samples: Sample[] }> {
  const r = await fetch(`http://${ip}:15090/stats/prometheus`);
  const text = await r.text();
  assert.equal(r.status, 200, `15090 on ${ip}: ${r.status} ${text.slice(0, 500)}`);
  return { text, samples: parse(text) };
}

function startHttpApp(ip: string, seen: http.IncomingHttpHeaders[]): Promise<{ close(): Promise<void> }> {
  const server = http.createServer((req, res) => {
    seen.push(req.headers);
    req.resume();
    req.on('end', () => {
      const code = req.url === '/fail' ? 503 : 200;
      res.writeHead(code, { 'content-type': 'text/plain' });
      res.end(`hello from ${ip}`);
    });
  });
  return new Promise((resolve) => server.listen(8080, ip, () => resolve({ close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }) })));
}

function startTcpEcho(ip: string): Promise<{ close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {});
    s.pipe(s);
  });
  return new Promise((resolve) => server.listen(9000, ip, () => resolve({ close: () => new Promise<void>((r) => { for (const s of sockets) s.destroy(); server.close(() => r()); }) })));
}

/** Sends `msg` over a fresh TCP connection and reads the echo, then closes. */
function tcpRoundTrip(host: string, port: number, msg: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, host);
    let got = '';
    const timer = setTimeout(() => (s.destroy(), reject(new Error('tcp echo timed out'))), 5000);
    s.on('connect', () => s.write(msg));
    s.on('data', (d) => {
      got += d.toString();
      if (got.length >= msg.length) {
        clearTimeout(timer);
        s.end();
        resolve(got);
      }
    });
    s.on('error', (e) => (clearTimeout(timer), reject(e)));
  });
}

const find = (samples: Sample[], name: string, match: Record<string, string>) => samples.filter((s) => s.name === name && Object.entries(match).every(([k, v]) => s.labels[k] === v));

test('istio standard metrics: both reporters with both peers over mTLS, TCP series, Telemetry overrides', { timeout: 240_000 }, async (t) => {
  const mesh = await startMesh(t, { config: { 'app.yaml': CONFIG } });
  const serverSeen: http.IncomingHttpHeaders[] = [];
  const server = await mesh.startPod({
    name: 'server-v1',
    labels: { app: 'server', version: 'v1' },
    ports: { http: 8080, tcp: 9000 },
    serviceAccount: 'server',
    identity: {},
    app: async (ip) => {
      const h = await startHttpApp(ip, serverSeen);
      const e = await startTcpEcho(ip);
      return { close: async () => (await h.close(), await e.close()) };
    },
  });
  const quiet = await mesh.startPod({ name: 'quiet-v1', labels: { app: 'quiet', version: 'v1' }, ports: { http: 8080 }, serviceAccount: 'quiet', identity: {}, app: (ip) => startHttpApp(ip, []) });
  const client = await mesh.startPod({ name: 'client-v2', labels: { app: 'client', version: 'v2' }, serviceAccount: 'client', identity: {} });

  // ---- HTTP: a 200 and a 503 through both sidecars ----
  const ok = await client.waitFor('server:8080', '/hello', (r) => r.status === 200, { waitMs: 60_000 });
  assert.equal(ok.status, 200);
  for (const k of Object.keys(ok.headers)) assert.ok(!k.startsWith('x-envoy-peer-metadata'), `the client app sees no ${k}`);
  for (const h of serverSeen) for (const k of Object.keys(h)) assert.ok(!k.startsWith('x-envoy-peer-metadata'), `the server app sees no ${k}`);
  assert.equal((await client.request('server:8080', '/fail')).status, 503);
  await client.waitFor('quiet:8080', '/', (r) => r.status === 200, { waitMs: 60_000 });

  const srv = await until(async () => {
    const s = await scrape(server.podIP);
    return find(s.samples, 'istio_requests_total', { reporter: 'destination', response_code: '503' }).length ? s : undefined;
  }, "the server's 15090 scrape with the 503", 20_000, 200);
  const cli = await until(async () => {
    const s = await scrape(client.podIP);
    return find(s.samples, 'istio_requests_total', { reporter: 'source', response_code: '503' }).length ? s : undefined;
  }, "the client's 15090 scrape with the 503", 20_000, 200);

  const peers = {
    source_workload: 'client-v2',
    source_workload_namespace: 'default',
    source_app: 'client',
    source_version: 'v2',
    source_canonical_service: 'client',
    source_canonical_revision: 'v2',
    source_principal: 'spiffe://cluster.local/ns/default/sa/client',
    destination_workload: 'server-v1',
    destination_workload_namespace: 'default',
    destination_app: 'server',
    destination_version: 'v1',
    destination_canonical_service: 'server',
    destination_canonical_revision: 'v1',
    destination_principal: 'spiffe://cluster.local/ns/default/sa/server',
    destination_service: 'server.default.svc.cluster.local',
    destination_service_name: 'server',
    destination_service_namespace: 'default',
    request_protocol: 'http',
  };
  const dst200 = find(srv.samples, 'istio_requests_total', { ...peers, reporter: 'destination', response_code: '200', connection_security_policy: 'mutual_tls', response_flags: '-' });
  t.diagnostic(`server 15090: ${JSON.stringify(dst200[0])}`);
  assert.equal(dst200.length, 1, `reporter=destination series with both peers:\n${srv.text.split('\n').filter((l) => l.startsWith('istio_requests_total')).join('\n')}`);
  assert.ok(dst200[0]!.value >= 1);
  const src200 = find(cli.samples, 'istio_requests_total', { ...peers, reporter: 'source', response_code: '200', request_method: 'GET' });
  t.diagnostic(`client 15090: ${JSON.stringify(src200[0])}`);
  assert.equal(src200.length, 1, `reporter=source series with both peers and the tagOverride's request_method:\n${cli.text.split('\n').filter((l) => l.startsWith('istio_requests_total')).join('\n')}`);
  const buckets = find(srv.samples, 'istio_request_duration_milliseconds_bucket', { reporter: 'destination', source_workload: 'client-v2', response_code: '200' });
  assert.ok(buckets.length >= 20, 'duration buckets (Istio/Envoy bounds plus +Inf)');
  assert.ok(buckets.some((b) => b.labels.le === '+Inf' && b.value >= 1));
  t.diagnostic(`duration buckets: ${buckets.map((b) => b.labels.le).join(',')}`);
  for (const name of ['istio_request_bytes_count', 'istio_response_bytes_count']) assert.ok(find(srv.samples, name, { reporter: 'destination' }).length > 0, name);

  // ---- Telemetry: REQUEST_COUNT disabled on quiet only ----
  const q = await scrape(quiet.podIP);
  assert.equal(find(q.samples, 'istio_requests_total', {}).length, 0, "quiet's scrape has no istio_requests_total");
  assert.ok(find(q.samples, 'istio_request_duration_milliseconds_count', { reporter: 'destination', destination_workload: 'quiet-v1' }).length > 0, 'quiet still reports its other metrics');
  assert.ok(find((await scrape(client.podIP)).samples, 'istio_requests_total', { reporter: 'source', destination_workload: 'quiet-v1' }).length > 0, "the client's scrape still counts requests to quiet");
  t.diagnostic('Telemetry: quiet-v1 has no istio_requests_total, the client has it with request_method');

  // ---- TCP: istio_tcp_* with both peers ----
  const echoed = await until(async () => {
    try {
      return await tcpRoundTrip(client.appIP, 9000, 'ping over the mesh');
    } catch {
      return undefined;
    }
  }, 'a TCP echo through both sidecars', 30_000, 250);
  assert.equal(echoed, 'ping over the mesh');
  const tcpPeers = { source_workload: 'client-v2', destination_workload: 'server-v1', source_principal: peers.source_principal, destination_principal: peers.destination_principal, request_protocol: 'tcp' };
  const srvTcp = await until(async () => {
    const s = await scrape(server.podIP);
    return find(s.samples, 'istio_tcp_connections_closed_total', { ...tcpPeers, reporter: 'destination' }).length ? s : undefined;
  }, "the server's istio_tcp_connections_closed_total", 20_000, 200);
  const cliTcp = await until(async () => {
    const s = await scrape(client.podIP);
    return find(s.samples, 'istio_tcp_connections_closed_total', { ...tcpPeers, reporter: 'source' }).length ? s : undefined;
  }, "the client's istio_tcp_connections_closed_total", 20_000, 200);
  for (const [who, s, reporter] of [['server', srvTcp, 'destination'], ['client', cliTcp, 'source']] as const) {
    for (const name of ['istio_tcp_connections_opened_total', 'istio_tcp_sent_bytes_total', 'istio_tcp_received_bytes_total']) {
      const m = find(s.samples, name, { ...tcpPeers, reporter });
      assert.equal(m.length, 1, `${who}: ${name}`);
      t.diagnostic(`${who} ${name}{reporter=${reporter}, source_workload=client-v2, destination_workload=server-v1} ${m[0]!.value}`);
    }
    // Only the payload counts, on both sides: the inbound's metadata exchange frames are not the app's bytes.
    const opened = find(s.samples, 'istio_tcp_connections_opened_total', { ...tcpPeers, reporter })[0]!.value;
    for (const name of ['istio_tcp_received_bytes_total', 'istio_tcp_sent_bytes_total']) {
      assert.equal(find(s.samples, name, { ...tcpPeers, reporter })[0]!.value, opened * 'ping over the mesh'.length, `${who}: ${name} counts the echoed payload only`);
    }
  }
});
