/**
 * How the read commands find and ask the control plane (src/cli/controlplane_client.ts): a
 * --state-dir names that demo's control plane (so a pod found there is asked about there), and
 * every failure reads the same way, with the control plane's own error when it gives one.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { controlPlaneGet, controlPlaneRef, DEFAULT_CONTROLPLANE } from '../../src/cli/controlplane_client.ts';
import { freePort } from '../../src/demo/ports.ts';

function demoAt(dir: string, http: string, pid: number): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'demo.json'), JSON.stringify({ pid, controlplane: { http, grpc: '127.0.0.1:1', pid } }));
}

test('--state-dir picks that demo\'s control plane; --controlplane and $TSMESH_CONTROLPLANE still win', (t) => {
  const cwd = mkdtempSync(join(tmpdir(), 'tsmesh-cpref-'));
  t.after(() => rmSync(cwd, { recursive: true, force: true }));
  demoAt(join(cwd, '.tsmesh/demo'), 'http://127.0.0.1:40001', process.pid);
  demoAt(join(cwd, 'other'), 'http://127.0.0.1:40002/', process.pid);
  assert.equal(controlPlaneRef(undefined, undefined, {}, cwd).url, 'http://127.0.0.1:40001', 'the default demo');
  assert.deepEqual(controlPlaneRef(undefined, 'other', {}, cwd), { url: 'http://127.0.0.1:40002', from: join(cwd, 'other/demo.json').replace(`${process.cwd()}/`, '') });
  assert.equal(controlPlaneRef('127.0.0.1:9', 'other', {}, cwd).url, 'http://127.0.0.1:9');
  assert.equal(controlPlaneRef(undefined, 'other', { TSMESH_CONTROLPLANE: 'http://cp:1' }, cwd).url, 'http://cp:1');
  assert.deepEqual(controlPlaneRef(undefined, 'nowhere', {}, cwd), { url: DEFAULT_CONTROLPLANE, from: 'the default address' }, 'not the default demo: the user named another directory');
  demoAt(join(cwd, 'gone'), 'http://127.0.0.1:40003', 2 ** 22 + 12345);
  assert.equal(controlPlaneRef(undefined, 'gone', {}, cwd).stale, true);
});

test('controlPlaneGet: the value; the control plane\'s own error; what answered; one wording when nothing does', async (t) => {
  const server = createServer((req, res) => {
    if (req.url === '/ok') res.writeHead(200, { 'content-type': 'application/json' }).end('{"a":1}');
    else if (req.url?.startsWith('/debug/describe/pod')) res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"pod nope not found"}');
    else res.writeHead(404).end('404 page not found');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => server.close());
  const cp = { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, from: '--controlplane' };
  assert.deepEqual(await controlPlaneGet(cp, '/ok'), { value: { a: 1 } });
  assert.deepEqual(await controlPlaneGet(cp, '/debug/describe/pod?name=nope'), { error: 'pod nope not found', status: 404 });
  assert.deepEqual(await controlPlaneGet(cp, '/debug/version?x=1'), { error: `the control plane at ${cp.url} answered HTTP 404 for /debug/version (an older tsmesh?)`, status: 404 });

  const port = await freePort('127.0.0.1');
  const none = await controlPlaneGet({ url: `http://127.0.0.1:${port}`, from: 'x/demo.json', stale: true }, '/ok', { otherwise: 'or use --remote=false' });
  assert.deepEqual(none, { error: `no control plane answers at http://127.0.0.1:${port} (found in x/demo.json, but that demo is no longer running): start one with \`npx tsmesh demo\`, or say where it is with --controlplane <url> or $TSMESH_CONTROLPLANE; or use --remote=false` });
});
