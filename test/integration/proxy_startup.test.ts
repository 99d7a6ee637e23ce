/**
 * `tsmesh proxy` startup as a user sees it: a purely static bootstrap needs no node (as in
 * Envoy), and an address already in use is a startup failure that names the port (and, for the
 * admin port, the --admin-port flag) instead of a proxy that says "ready" with 0 listeners.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { closeServer, listen, roundTrip, startEcho, staticCluster, tcpListener } from '../proxy/helpers.ts';
import { spawnTsmesh } from '../helpers/processes.ts';
import { ERR } from '../../src/api/errors.ts';

const BIN = new URL('../../bin/tsmesh.js', import.meta.url).pathname;

function writeBootstrap(bootstrap: object): { file: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'tsmesh-startup-'));
  const file = join(dir, 'bootstrap.json');
  writeFileSync(file, JSON.stringify(bootstrap));
  return { file, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Runs `tsmesh proxy` to its exit (bounded) and returns the exit code and everything it printed. */
function runToExit(args: string[], timeoutMs = 60_000): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const proc = spawn(process.execPath, [BIN, 'proxy', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    proc.stdout!.on('data', (d) => (output += d));
    proc.stderr!.on('data', (d) => (output += d));
    const timer = setTimeout(() => proc.kill('SIGKILL'), timeoutMs);
    proc.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

/** A plain TCP server holding a port, standing for whatever else took it. */
async function occupyPort(): Promise<{ port: number; close: () => Promise<void> }> {
  const server = net.createServer((s) => s.destroy());
  const port = await listen(server);
  return { port, close: () => closeServer(server) };
}

test('a purely static bootstrap without node starts and serves (bug 9)', { timeout: 120_000 }, async (t) => {
  const echo = await startEcho();
  const { file, cleanup } = writeBootstrap({
    static_resources: { clusters: [staticCluster('echo', [echo.port])], listeners: [tcpListener('l', 'echo', 0)] },
  });
  const proxy = await spawnTsmesh(['proxy', '-c', file, '--admin-port', '0'], /tsmesh proxy ready: admin 127\.0\.0\.1:\d+, 1 listener\b/);
  t.after(async () => {
    await proxy.stop();
    await echo.close();
    cleanup();
  });
  const admin = Number(/admin 127\.0\.0\.1:(\d+)/.exec(proxy.output())![1]);
  const listeners = (await (await fetch(`http://127.0.0.1:${admin}/listeners?format=json`)).json()) as { listener_statuses: { local_address: { socket_address: { port_value: number } } }[] };
  const port = listeners.listener_statuses[0].local_address.socket_address.port_value;
  assert.equal(await roundTrip(port, 'no node needed'), 'no node needed');
});

test('a bootstrap with a control plane and no node is refused, naming node.id', { timeout: 60_000 }, async () => {
  const { file, cleanup } = writeBootstrap({
    dynamic_resources: { ads_config: { api_type: 'GRPC', grpc_services: [{ envoy_grpc: { cluster_name: 'xds' } }] }, lds_config: { ads: {} } },
    static_resources: { clusters: [staticCluster('xds', [15010])] },
  });
  try {
    const r = await runToExit(['-c', file, '--admin-port', '0']);
    assert.notEqual(r.code, 0);
    assert.match(r.output, /node\.id: required/);
    assert.match(r.output, new RegExp(ERR.INVALID_BOOTSTRAP));
  } finally {
    cleanup();
  }
});

test('a static listener whose port is taken fails startup, naming the port (bug 12)', { timeout: 120_000 }, async () => {
  const taken = await occupyPort();
  const echo = await startEcho();
  const { file, cleanup } = writeBootstrap({
    static_resources: { clusters: [staticCluster('echo', [echo.port])], listeners: [tcpListener('busy', 'echo', taken.port)] },
  });
  try {
    const r = await runToExit(['-c', file, '--admin-port', '0']);
    assert.notEqual(r.code, 0, `exit code; output:\n${r.output}`);
    assert.doesNotMatch(r.output, /tsmesh proxy ready/);
    assert.match(r.output, new RegExp(ERR.ADDRESS_IN_USE));
    assert.match(r.output, new RegExp(`listener busy: address 127\\.0\\.0\\.1:${taken.port} is already in use`));
  } finally {
    await taken.close();
    await echo.close();
    cleanup();
  }
});

test('an admin port in use fails startup and names the --admin-port flag (bug 12)', { timeout: 60_000 }, async () => {
  const taken = await occupyPort();
  const { file, cleanup } = writeBootstrap({ static_resources: {} });
  try {
    const r = await runToExit(['-c', file, '--admin-port', String(taken.port)]);
    assert.notEqual(r.code, 0);
    assert.match(r.output, new RegExp(ERR.ADDRESS_IN_USE));
    assert.match(r.output, new RegExp(`${taken.port}.*--admin-port`));
  } finally {
    await taken.close();
    cleanup();
  }
});
