/**
 * The debug port refuses web pages (DNS rebinding, cross-site requests) on /debug/* and /apis/*,
 * and keeps answering this machine's tools and the dashboard's same-origin requests. A real
 * control plane, real HTTP requests with the headers a browser would send.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ControlPlane } from '../../src/controlplane/server.ts';
import { isLoopback } from '../../src/controlplane/tap.ts';
import { caStateDir } from '../helpers/processes.ts';

function send(port: number, path: string, headers: Record<string, string>, method = 'GET', body = ''): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const r = request({ host: '127.0.0.1', port, path, method, headers: { ...headers, 'content-length': Buffer.byteLength(body) }, agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
    r.on('error', reject);
    r.end(body);
  });
}

const GATEWAY = 'apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: { name: %s, namespace: default }\nspec:\n  selector: { istio: ingressgateway }\n  servers:\n  - port: { number: 80, name: http, protocol: HTTP }\n    hosts: ["*"]\n';

test('debug port: foreign Host, foreign Origin and cross-site requests get 403; tools and same-origin pages pass', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tsmesh-guard-'));
  const cp = new ControlPlane({ configDir: dir, grpcPort: 0, httpPort: 0, secureGrpcPort: 0, stateDir: caStateDir(t), log: () => undefined });
  await cp.start();
  t.after(async () => {
    await cp.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const port = cp.httpPort;
  const self = `127.0.0.1:${port}`;

  // A page whose name rebinds to 127.0.0.1 sends its own name as Host.
  const rebound = await send(port, '/debug/tap?pod=x', { host: 'evil.example' });
  assert.equal(rebound.status, 403);
  assert.match(rebound.body, /Host evil\.example is not this control plane/);
  assert.equal((await send(port, '/debug/configz', { host: `evil.example:${port}` })).status, 403);
  // Same Host, but the page is another origin.
  const foreign = await send(port, '/debug/tap?pod=x', { host: self, origin: 'http://evil.example' });
  assert.equal(foreign.status, 403);
  assert.match(foreign.body, /Origin http:\/\/evil\.example is not this control plane's own/);
  assert.equal((await send(port, '/debug/tap?pod=x', { host: self, origin: 'null' })).status, 403);
  // The no-preflight form post any website can make: text/plain to /apis/v1/apply.
  const csrf = await send(port, '/apis/v1/apply', { host: self, 'content-type': 'text/plain', 'sec-fetch-site': 'cross-site', origin: 'http://evil.example' }, 'POST', GATEWAY.replace('%s', 'csrf'));
  assert.equal(csrf.status, 403);
  assert.match(csrf.body, /cross-site requests are refused/);
  const csrfNoOrigin = await send(port, '/apis/v1/apply', { host: self, 'content-type': 'text/plain', 'sec-fetch-site': 'cross-site' }, 'POST', GATEWAY.replace('%s', 'csrf'));
  assert.equal(csrfNoOrigin.status, 403);
  assert.equal(cp.store.get('Gateway', 'csrf', 'default'), undefined);

  // Tools (IP or localhost Host, no Origin) and the dashboard's same-origin fetches pass the guard.
  assert.equal((await send(port, '/debug/tap?pod=nope', { host: self })).status, 404);
  assert.equal((await send(port, '/debug/tap?pod=nope', { host: self, origin: `http://${self}`, 'sec-fetch-site': 'same-origin' })).status, 404);
  assert.equal((await send(port, '/debug/configz', { host: `localhost:${port}` })).status, 200);
  assert.equal((await send(port, '/debug/configz', { host: `[::1]:${port}` })).status, 200);
  const applied = await send(port, '/apis/v1/apply', { host: `localhost:${port}`, origin: `http://localhost:${port}`, 'content-type': 'application/yaml' }, 'POST', GATEWAY.replace('%s', 'mine'));
  assert.equal(applied.status, 200, applied.body);
  assert.ok(cp.store.get('Gateway', 'mine', 'default'));
  // The dashboard itself is not guarded (it holds no secrets and no writes).
  assert.equal((await send(port, '/dashboard/', { host: 'evil.example' })).status, 200);
});

test('isLoopback: IPv4 loopback, IPv4-mapped and ::1 are this machine; others are not', () => {
  assert.equal(isLoopback('127.0.0.1'), true);
  assert.equal(isLoopback('127.3.4.5'), true);
  assert.equal(isLoopback('::ffff:127.0.0.1'), true);
  assert.equal(isLoopback('::1'), true);
  assert.equal(isLoopback('10.0.0.1'), false);
  assert.equal(isLoopback('::ffff:10.0.0.1'), false);
  assert.equal(isLoopback('fe80::1'), false);
  assert.equal(isLoopback(undefined), false);
});
