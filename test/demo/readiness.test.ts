import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { createServer as createTcpServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { httpProbe, tcpProbe, waitReady } from '../../src/demo/readiness.ts';
import { freePort } from '../../src/demo/ports.ts';

function listen(s: Server | ReturnType<typeof createTcpServer>): Promise<number> {
  return new Promise((r) => s.listen(0, '127.0.0.1', () => r((s.address() as AddressInfo).port)));
}

test('httpProbe is ready only on 200; waitReady polls until then', async () => {
  let calls = 0;
  const srv = createServer((_req, res) => {
    calls++;
    res.writeHead(calls < 3 ? 503 : 200).end();
  });
  const port = await listen(srv);
  try {
    const probe = httpProbe(`http://127.0.0.1:${port}/ready`);
    assert.equal(await probe.check(), false);
    const r = await waitReady([probe], { timeoutMs: 5000, intervalMs: 10 });
    assert.equal(r.ready, true);
    assert.equal(calls, 3);
  } finally {
    srv.close();
  }
});

test('tcpProbe and an unreachable port', async () => {
  const srv = createTcpServer((s) => s.end());
  const port = await listen(srv);
  try {
    assert.equal(await tcpProbe('127.0.0.1', port).check(), true);
  } finally {
    srv.close();
  }
  const closed = await freePort('127.0.0.1');
  assert.equal(await tcpProbe('127.0.0.1', closed).check(), false);
  assert.equal(await httpProbe(`http://127.0.0.1:${closed}/ready`).check(), false);
});

test('waitReady times out naming what it waited for, and stops when told to give up', async () => {
  const closed = await freePort('127.0.0.1');
  const t = await waitReady([tcpProbe('127.0.0.1', closed)], { timeoutMs: 150, intervalMs: 20 });
  assert.equal(t.ready, false);
  assert.match((t as { reason: string }).reason, new RegExp(`not ready after 0s \\(waiting for a listener on 127.0.0.1:${closed}\\)`));
  let n = 0;
  const g = await waitReady([tcpProbe('127.0.0.1', closed)], { timeoutMs: 10_000, intervalMs: 10, giveUp: () => (++n > 2 ? 'app exited with code 1' : undefined) });
  assert.deepEqual(g, { ready: false, reason: 'app exited with code 1' });
});
