/**
 * The WorkloadGroup readiness probe as the VM's agent runs it: httpGet (2xx/3xx pass, others and
 * silence fail), tcpSocket (a connection passes), exec (exit 0 passes), Istio's shape rules, and
 * the checker's thresholds (a verdict only after successThreshold / failureThreshold in a row).
 * Real sockets and processes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { createServer as createTcpServer, type AddressInfo } from 'node:net';
import { probeProblem, runProbe } from '../../../src/agent/health/probe.ts';
import { startWorkloadHealth } from '../../../src/agent/health/workload_health.ts';

async function listen(s: Server | ReturnType<typeof createTcpServer>): Promise<number> {
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return (s.address() as AddressInfo).port;
}

test('httpGet: 200 and 302 pass, 503 fails naming the status, a silent app fails on the timeout, headers and path are sent', async (t) => {
  let status = 200;
  const seen: { path?: string; header?: string } = {};
  const hang = new Set<string>(['/hang']);
  const s = createServer((req, res) => {
    seen.path = req.url;
    seen.header = req.headers['x-probe'] as string;
    if (hang.has(req.url ?? '')) return;
    res.writeHead(status).end();
  });
  const port = await listen(s);
  t.after(() => s.close());
  t.after(() => s.closeAllConnections());
  assert.deepEqual(await runProbe({ httpGet: { port, path: '/healthz', httpHeaders: [{ name: 'X-Probe', value: 'yes' }] } }, '127.0.0.1', 1000), { healthy: true, message: '', status: 200 });
  assert.equal(seen.path, '/healthz');
  assert.equal(seen.header, 'yes');
  status = 302;
  assert.equal((await runProbe({ httpGet: { port, path: '/' } }, '127.0.0.1', 1000)).healthy, true);
  status = 503;
  const r = await runProbe({ httpGet: { port, path: '/healthz' } }, '127.0.0.1', 1000);
  assert.equal(r.healthy, false);
  assert.match(r.message, /status 503/);
  const slow = await runProbe({ httpGet: { port, path: '/hang' } }, '127.0.0.1', 300);
  assert.equal(slow.healthy, false);
  assert.match(slow.message, /no answer within 300 ms/);
});

test('tcpSocket: an open port passes, a closed one fails', async (t) => {
  const s = createTcpServer((c) => c.end());
  const port = await listen(s);
  assert.equal((await runProbe({ tcpSocket: { port } }, '127.0.0.1', 1000)).healthy, true);
  await new Promise<void>((r) => s.close(() => r()));
  const r = await runProbe({ tcpSocket: { port } }, '127.0.0.1', 1000);
  assert.equal(r.healthy, false);
  assert.match(r.message, /ECONNREFUSED/);
  t.diagnostic(r.message);
});

test('exec: exit status 0 passes, others fail naming it', async () => {
  assert.equal((await runProbe({ exec: { command: [process.execPath, '-e', 'process.exit(0)'] } }, '127.0.0.1', 5000)).healthy, true);
  const r = await runProbe({ exec: { command: [process.execPath, '-e', 'process.exit(3)'] } }, '127.0.0.1', 5000);
  assert.equal(r.healthy, false);
  assert.match(r.message, /exit status 3/);
});

test("probe shape: exactly one handler, Istio's fields, gRPC refused by name", () => {
  assert.equal(probeProblem({ httpGet: { port: 80 } }), undefined);
  assert.match(probeProblem({})!, /exactly one of httpGet, tcpSocket, exec/);
  assert.match(probeProblem({ httpGet: { port: 80 }, tcpSocket: { port: 80 } })!, /exactly one/);
  assert.match(probeProblem({ httpGet: { port: 0 } })!, /probe\.httpGet\.port/);
  assert.match(probeProblem({ tcpSocket: { port: 80 }, periodSeconds: -1 })!, /probe\.periodSeconds/);
  assert.match(probeProblem({ exec: { command: [] } })!, /probe\.exec\.command/);
  assert.match(probeProblem({ grpc: { port: 9000 } })!, /probe\.grpc/);
  // Header names and values Node's http would refuse (throwing inside the probe) are refused up front.
  assert.equal(probeProblem({ httpGet: { port: 80, httpHeaders: [{ name: 'X-Ok', value: 'a\tb' }] } }), undefined);
  assert.match(probeProblem({ httpGet: { port: 80, httpHeaders: [{ name: 'bad header', value: 'x' }] } })!, /probe\.httpGet\.httpHeaders\[0\]\.name/);
  assert.match(probeProblem({ httpGet: { port: 80, httpHeaders: [{ name: 'X-A', value: 'ok' }, { name: 'X-B', value: 'a\r\nInjected: 1' }] } })!, /probe\.httpGet\.httpHeaders\[1\]\.value/);
  assert.match(probeProblem({ httpGet: { port: 80, httpHeaders: { name: 'X' } } })!, /probe\.httpGet\.httpHeaders/);
});

test('a probe Node refuses to send (bad header name, CR/LF in a value, bad path) fails; it neither throws nor stops the checker', { timeout: 20_000 }, async (t) => {
  for (const httpGet of [
    { port: 1, httpHeaders: [{ name: 'bad header', value: 'x' }] },
    { port: 1, httpHeaders: [{ name: 'X-A', value: 'a\r\nB: c' }] },
    { port: 1, path: '/has space' },
  ]) {
    const r = await runProbe({ httpGet }, '127.0.0.1', 1000);
    assert.equal(r.healthy, false, JSON.stringify(httpGet));
    assert.ok(r.message.length > 0);
    t.diagnostic(r.message);
  }
  // The checker keeps probing (a report per verdict, not a dead timer after the first throw).
  const reports: string[] = [];
  const h = startWorkloadHealth({ probe: { periodSeconds: 1, failureThreshold: 1, httpGet: { port: 1, httpHeaders: [{ name: 'bad header', value: 'x' }] } }, defaultHost: '127.0.0.1', report: (healthy, message) => reports.push(`${healthy} ${message}`) });
  t.after(() => h.stop());
  const end = Date.now() + 10_000;
  while (reports.length < 1 && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
  assert.equal(h.healthy, false);
  assert.match(reports[0] ?? '', /^false HTTP probe/);
});

test('thresholds: healthy after successThreshold passes in a row, unhealthy after failureThreshold failures in a row, each change reported once', { timeout: 30_000 }, async (t) => {
  let ok = true;
  const s = createServer((_req, res) => res.writeHead(ok ? 200 : 500).end());
  const port = await listen(s);
  t.after(() => s.close());
  const reports: { healthy: boolean; at: number }[] = [];
  const t0 = Date.now();
  const h = startWorkloadHealth({ probe: { periodSeconds: 1, successThreshold: 2, failureThreshold: 2, httpGet: { port } }, defaultHost: '127.0.0.1', report: (healthy) => reports.push({ healthy, at: Date.now() - t0 }) });
  t.after(() => h.stop());
  const wait = async (n: number) => {
    const end = Date.now() + 10_000;
    while (reports.length < n && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
  };
  await wait(1);
  // Probes at ~0 s and ~1 s pass: healthy on the second.
  assert.equal(reports[0]?.healthy, true);
  assert.ok(reports[0]!.at >= 900, `healthy only after the second pass (${reports[0]!.at} ms)`);
  ok = false;
  const failedAt = Date.now() - t0;
  await wait(2);
  assert.equal(reports[1]?.healthy, false);
  assert.ok(reports[1]!.at - failedAt >= 900, `unhealthy only after two failures (${reports[1]!.at - failedAt} ms after the app broke)`);
  assert.equal(h.healthy, false);
  assert.equal(reports.length, 2, 'no repeated reports while the verdict holds');
});
