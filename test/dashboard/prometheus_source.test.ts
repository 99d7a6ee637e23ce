/**
 * The dashboard's Prometheus source reads a bounded answer: a Prometheus (or anything on that
 * port) that answers without end cannot grow the control plane's memory. A real HTTP server.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { prometheusTraffic } from '../../src/dashboard/prometheus_source.ts';

test('prometheus source: a normal answer is read; an answer over 16 MB is cut with a sentence', async (t) => {
  let huge = false;
  let mostSent = 0;
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    if (!huge) return void res.end(JSON.stringify({ status: 'success', data: { resultType: 'vector', result: [] } }));
    // 1 MB of padding at a time, at most 64 MB: the reader must stop well before.
    const chunk = Buffer.alloc(1024 * 1024, 0x20);
    let sent = 0;
    const write = () => {
      while (sent < 64 * 1024 * 1024 && !res.destroyed) {
        sent += chunk.length;
        mostSent = Math.max(mostSent, sent);
        if (!res.write(chunk)) return void res.once('drain', write);
      }
      res.end();
    };
    res.on('error', () => undefined);
    write();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => (server.closeAllConnections(), server.close()));
  const base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  const ok = await prometheusTraffic(base, 60);
  assert.deepEqual(ok, { requests: [], durationBuckets: [], tcpBytes: [] });
  huge = true;
  await assert.rejects(prometheusTraffic(base, 60, 30_000), /prometheus at http:\/\/127\.0\.0\.1:\d+: the answer is larger than 16 MB; narrow the query/);
  assert.ok(mostSent < 64 * 1024 * 1024, `the reader stopped early (${mostSent >> 20} MB sent on one answer)`);
});
