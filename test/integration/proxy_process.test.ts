/** `tsmesh proxy` as a real process: ready line, admin, SIGTERM drain, --concurrency 2. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { closeServer, listen, roundTrip, startEcho, staticCluster, tcpListener, until } from '../proxy/helpers.ts';
import { freePort } from '../helpers/processes.ts';

const BIN = new URL('../../bin/tsmesh.js', import.meta.url).pathname;

interface Child {
  proc: ChildProcess;
  adminPort: number;
  exited: Promise<number | null>;
  output: () => string;
}

async function startProxyProcess(bootstrap: object, args: string[] = []): Promise<{ child: Child; dir: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'tsmesh-proxy-'));
  const file = join(dir, 'bootstrap.json');
  writeFileSync(file, JSON.stringify(bootstrap));
  const proc = spawn(process.execPath, [BIN, 'proxy', '-c', file, '--admin-port', '0', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout!.on('data', (d) => (out += d));
  proc.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
  const adminPort = await new Promise<number>((resolve, reject) => {
    const check = () => {
      const m = /tsmesh proxy ready: admin 127\.0\.0\.1:(\d+), (\d+) listeners?/.exec(out);
      if (m) resolve(Number(m[1]));
    };
    proc.stdout!.on('data', check);
    void exited.then((code) => reject(new Error(`proxy exited with ${code} before ready:\n${out}`)));
  });
  return { child: { proc, adminPort, exited, output: () => out }, dir };
}

test('SIGTERM during a long TCP transfer: no new connections, the transfer finishes, exit 0', async () => {
  // Upstream streams 40 chunks, paced so the transfer is still running when SIGTERM arrives.
  const CHUNKS = 40;
  let started!: () => void;
  const firstChunk = new Promise<void>((r) => (started = r));
  const upstream = net.createServer((s) => {
    s.on('error', () => {});
    let i = 0;
    const timer = setInterval(() => {
      s.write(`chunk-${i}\n`);
      if (++i === CHUNKS) {
        clearInterval(timer);
        s.end();
      }
    }, 20);
    s.on('close', () => clearInterval(timer));
  });
  const upstreamPort = await listen(upstream);
  const port = await freePort();
  const { child, dir } = await startProxyProcess(
    { node: { id: 'sigterm-test' }, static_resources: { clusters: [staticCluster('slow', [upstreamPort])], listeners: [tcpListener('l', 'slow', port)] } },
    ['--drain-time-s', '30'],
  );
  try {
    const received = new Promise<string>((resolve) => {
      const c = net.connect(port, '127.0.0.1');
      let got = '';
      c.on('data', (d) => {
        got += d;
        started();
      });
      c.on('error', () => {});
      c.on('close', () => resolve(got));
    });
    await firstChunk;
    child.proc.kill('SIGTERM');
    // Once draining, the listening socket is closed: new connections are refused.
    await until(async () => (await roundTrip(port, 'x')) === '', 'new connections refused');
    const got = await received;
    assert.equal(got.split('\n').filter(Boolean).length, CHUNKS, 'the whole transfer arrived');
    assert.equal(await child.exited, 0);
  } finally {
    child.proc.kill('SIGKILL');
    await closeServer(upstream);
    rmSync(dir, { recursive: true, force: true });
  }
});

test('--concurrency 2: workers share the listener, the primary serves admin and sums their /stats', async () => {
  const echo = await startEcho();
  const port = await freePort();
  const { child, dir } = await startProxyProcess(
    { node: { id: 'concurrency-test' }, static_resources: { clusters: [staticCluster('echo', [echo.port])], listeners: [tcpListener('l', 'echo', port)] } },
    ['--concurrency', '2', '--drain-time-s', '1'],
  );
  try {
    const N = 20;
    for (let i = 0; i < N; i++) assert.equal(await roundTrip(port, `m${i}`), `m${i}`);
    const stats = async () => (await fetch(`http://127.0.0.1:${child.adminPort}/stats`)).text();
    await until(async () => /^tcp\.l\.downstream_cx_total: 20$/m.test(await stats()), 'aggregated downstream_cx_total');
    const text = await stats();
    assert.match(text, /^cluster\.echo\.upstream_cx_total: 20$/m);
    assert.match(text, /^server\.concurrency: 2$/m);
    assert.match(text, /^cluster\.echo\.membership_total: 1$/m, 'config gauges are not multiplied by workers');
    assert.match(await (await fetch(`http://127.0.0.1:${child.adminPort}/listeners`)).text(), new RegExp(`^l::127\\.0\\.0\\.1:${port}$`, 'm'));
    assert.equal((await fetch(`http://127.0.0.1:${child.adminPort}/ready`)).status, 200);
    child.proc.kill('SIGTERM');
    assert.equal(await child.exited, 0);
  } finally {
    child.proc.kill('SIGKILL');
    await echo.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a bad bootstrap exits 2 with a message naming the field', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsmesh-proxy-'));
  const file = join(dir, 'bad.yaml');
  writeFileSync(file, 'node: { id: x }\nstatic_resources: { clusters: [{ name: a, lb_policy: BANANA }] }\n');
  try {
    const proc = spawn(process.execPath, [BIN, 'proxy', '-c', file], { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    proc.stderr!.on('data', (d) => (err += d));
    const code = await new Promise<number | null>((r) => proc.once('exit', r));
    assert.equal(code, 2);
    assert.match(err, /static_resources\.clusters\[0\]\.lb_policy: invalid enum value "BANANA"/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
