/**
 * tsmesh dashboard --address: the forwarder reaches the control plane from loopback, which the
 * control plane trusts for tap and config writes, so callers from other machines get the
 * dashboard and its read-only /api/ only. The filter, for loopback and non-loopback callers.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { forwardRefusal } from '../../src/cli/dashboard.ts';
import { ControlPlane } from '../../src/controlplane/server.ts';
import { caStateDir, spawnTsmesh } from '../helpers/processes.ts';

test('forwarder: loopback callers get every path; others only GET the dashboard and /api/', () => {
  for (const local of ['127.0.0.1', '::1', '::ffff:127.0.0.1']) {
    assert.equal(forwardRefusal(local, 'GET', '/debug/tap?pod=x'), undefined, local);
    assert.equal(forwardRefusal(local, 'POST', '/apis/v1/apply'), undefined, local);
  }
  for (const remote of ['10.0.0.7', '::ffff:192.168.1.9', 'fe80::1']) {
    assert.equal(forwardRefusal(remote, 'GET', '/dashboard/'), undefined);
    assert.equal(forwardRefusal(remote, 'GET', '/dashboard'), undefined);
    assert.equal(forwardRefusal(remote, 'GET', '/dashboard/app.js'), undefined);
    assert.equal(forwardRefusal(remote, 'GET', '/api/namespaces/graph?duration=60s'), undefined);
    assert.equal(forwardRefusal(remote, 'HEAD', '/api/dashboard/info'), undefined);
    const tap = forwardRefusal(remote, 'GET', '/debug/tap?pod=reviews-v2-1');
    assert.match(tap ?? '', /GET \/debug\/tap: tap, \/debug\/ and config writes are only for the control plane's machine; run tsmesh dashboard there/);
    assert.ok(forwardRefusal(remote, 'POST', '/apis/v1/apply'));
    assert.ok(forwardRefusal(remote, 'GET', '/debug/config_dump'));
    assert.ok(forwardRefusal(remote, 'POST', '/api/namespaces/graph'), 'writes are refused even on /api/');
    // Paths the control plane's URL parser would fold into /debug/ are refused too.
    assert.ok(forwardRefusal(remote, 'GET', '/api/../debug/tap'));
    assert.ok(forwardRefusal(remote, 'GET', '/api/%2e%2e/debug/tap'));
    assert.ok(forwardRefusal(remote, 'GET', '/api/%2E%2E/debug/configz'));
    assert.ok(forwardRefusal(remote, 'GET', '/api\\..\\debug\\tap'));
    assert.ok(forwardRefusal(remote, 'GET', '/dashboardx'));
    assert.ok(forwardRefusal(remote, 'GET', '/metrics'));
  }
  assert.ok(forwardRefusal(undefined, 'GET', '/debug/tap'), 'an unknown caller is not loopback');
});

test('tsmesh dashboard --port forwards pages, tap streams and the guard\'s answers through a real control plane', { timeout: 120_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tsmesh-dash-fwd-'));
  const cp = new ControlPlane({ configDir: dir, grpcPort: 0, httpPort: 0, secureGrpcPort: 0, stateDir: caStateDir(t), log: () => undefined });
  await cp.start();
  t.after(async () => {
    await cp.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const fwd = await spawnTsmesh(['dashboard', '--browser=false', '--controlplane', `http://127.0.0.1:${cp.httpPort}`, '--address', '127.0.0.1', '--port', '0'], /forwarding 127\.0\.0\.1:\d+/, { timeoutMs: 60_000 });
  t.after(() => fwd.stop('SIGKILL'));
  const base = /forwarding (127\.0\.0\.1:\d+)/.exec(fwd.output())![1]!;
  const page = await fetch(`http://${base}/dashboard/`, { signal: AbortSignal.timeout(10_000) });
  assert.equal(page.status, 200);
  assert.match(await page.text(), /<title>tsmesh dashboard<\/title>/);
  // A loopback caller reaches /debug/tap through it (the control plane answers: no such proxy).
  const tap = await fetch(`http://${base}/debug/tap?pod=nope`, { signal: AbortSignal.timeout(10_000) });
  assert.equal(tap.status, 404);
  assert.match(await tap.text(), /no connected proxy|not connected/);
  // The browser's Origin goes through unchanged, so a foreign page is still refused upstream.
  const csrf = await fetch(`http://${base}/apis/v1/apply`, { method: 'POST', headers: { origin: 'http://evil.example', 'content-type': 'text/plain' }, body: 'x', signal: AbortSignal.timeout(10_000) });
  assert.equal(csrf.status, 403);
  assert.equal(await fwd.stop('SIGINT'), 0, 'Ctrl-C stops it cleanly');
});
