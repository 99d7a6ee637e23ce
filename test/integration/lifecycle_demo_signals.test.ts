/**
 * `npx tsmesh demo` as a user starts it, from the repository: npm's wrapper (npm exec) runs
 * `sh -c tsmesh demo`, which runs the demo, which runs the control plane, apps, sidecars and
 * the gateway. Whatever happens to the wrapper (SIGINT, SIGTERM, SIGHUP, SIGKILL) or to the
 * demo itself (SIGKILL), within 5 s no process of it remains and its ports are closed.
 * A small mesh (details + sidecar + gateway) on its own pod addresses and free ports, so it
 * runs beside other demos.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { refusedPort } from '../helpers/refused_port.ts';
import { linuxProc } from '../../src/demo/parent_watch.ts';
import type { DemoState } from '../../src/demo/state.ts';
import { httpRequest, lockBlock } from '../helpers/demo.ts';
import { until } from '../helpers/poll.ts';
import { REPO } from '../helpers/processes.ts';

const STOP_MS = 5000;

function config(gatewayPort: number): string {
  return `
apiVersion: v1
kind: Service
metadata: { name: details, namespace: default }
spec:
  selector: { app: details }
  ports: [{ name: http, port: 9080, targetPort: 9080 }]
---
apiVersion: apps/v1
kind: Deployment
metadata: { name: details-v1, namespace: default, labels: { app: details, version: v1 } }
spec:
  replicas: 1
  selector: { matchLabels: { app: details, version: v1 } }
  template:
    metadata: { labels: { app: details, version: v1 } }
    spec:
      containers:
        - name: details
          image: tsmesh/samples:latest
          ports: [{ containerPort: 9080 }]
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: { name: gw, namespace: default }
spec:
  selector: { istio: ingressgateway }
  servers: [{ port: { number: ${gatewayPort}, name: http, protocol: HTTP }, hosts: ['*'] }]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: details, namespace: default }
spec:
  hosts: ['*']
  gateways: [gw]
  http: [{ route: [{ destination: { host: details, port: { number: 9080 } } }] }]
`;
}

/** Gone, or a zombie (dead, not yet reaped). */
function gone(pid: number): boolean {
  return linuxProc.ppid(pid) === undefined;
}

function groupGone(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
  } catch {
    return true;
  }
  // Members may be zombies; their leader tells.
  return gone(pgid);
}

function closed(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host, port });
    s.once('connect', () => (s.destroy(), resolve(false)));
    s.once('error', () => resolve(true));
  });
}

type Target = 'npm' | 'demo';

async function scenario(t: { after(fn: () => unknown): void }, target: Target, signal: NodeJS.Signals): Promise<void> {
  const { k, lock } = await lockBlock();
  const dir = mkdtempSync(join(tmpdir(), 'tsmesh-signals-'));
  // Below the kernel's ephemeral range: a port from bind(0) and close could be handed to the demo's own
  // control plane (--http-port 0) before the gateway binds it (a CI run got the control plane's 404).
  const gatewayPort = await refusedPort('127.0.0.1');
  writeFileSync(join(dir, 'mesh.yaml'), config(gatewayPort));
  const stateDir = join(dir, 'state');
  const args = ['tsmesh', 'demo', '--config', join(dir, 'mesh.yaml'), '--state-dir', stateDir, '--port', String(gatewayPort)];
  // The control plane and the gateway admin on ports the kernel picks (they say which).
  args.push('--xds-port', '0', '--http-port', '0', '--gateway-admin-port', '0', '--pod-net', `127.21.${k}.`, '--app-net', `127.22.${k}.`);
  // As a user types it. Its own process group, so that cleanup can take everything.
  const npx = spawn('npx', args, { cwd: REPO, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  npx.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  npx.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  let state: DemoState | undefined;
  t.after(async () => {
    // Whatever the outcome, leave nothing behind.
    for (const pid of [npx.pid!, ...(state?.processes.map((p) => p.pid) ?? [])]) {
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    await new Promise<void>((r) => lock.close(() => r()));
    rmSync(dir, { recursive: true, force: true });
  });

  await until(() => /Press Ctrl-C/.test(out) || npx.exitCode !== null, 'the demo to start', 180_000, 250);
  assert.equal(npx.exitCode, null, `npx tsmesh demo exited:\n${out}`);
  const page = await httpRequest('127.0.0.1', gatewayPort, '/details/0', { timeoutMs: 10_000 });
  assert.equal(page.status, 200, `the gateway serves details: ${page.body}\n${out}`);
  state = JSON.parse(readFileSync(join(stateDir, 'demo.json'), 'utf8')) as DemoState;
  const demoPid = state.pid;
  assert.notEqual(demoPid, npx.pid, 'npm wraps the demo');
  const groups = state.processes.map((p) => p.pid);
  assert.equal(groups.length, 4, 'control plane, app, sidecar, gateway');
  const port = (url: string) => Number(url.slice(url.lastIndexOf(':') + 1).replace(/\/.*$/, ''));
  const ports: Array<[string, number]> = [
    ['127.0.0.1', gatewayPort],
    ['127.0.0.1', port(state.controlplane.grpc)],
    ['127.0.0.1', port(state.controlplane.http)],
    ['127.0.0.1', port(state.gateway.admin)],
    [`127.21.${k}.1`, 9080],
    [`127.22.${k}.1`, 9080],
  ];
  assert.ok(ports.every(([, p]) => p > 0), JSON.stringify(ports));

  // A client keeps a connection open through the gateway and the sidecar (HTTP keep-alive), as
  // a browser would: the proxies drain it, within the same 5 s.
  const client = connect({ host: '127.0.0.1', port: gatewayPort });
  t.after(() => client.destroy());
  client.on('error', () => undefined);
  const firstAnswer = new Promise<string>((resolve) => {
    let got = '';
    client.on('data', (d: Buffer) => {
      got += d.toString();
      if (/\r\n\r\n/.test(got)) resolve(got);
    });
  });
  client.write('GET /details/0 HTTP/1.1\r\nHost: details\r\n\r\n');
  assert.match(await firstAnswer, /^HTTP\/1\.1 200/);

  process.kill(target === 'npm' ? npx.pid! : demoPid, signal);
  const left = async () => {
    const procs = [['npm exec', npx.pid!], ['the demo', demoPid]].filter(([, pid]) => !gone(pid as number)).map(([n]) => n as string);
    const groupsLeft = state!.processes.filter((p) => !groupGone(p.pid)).map((p) => p.name);
    const open: string[] = [];
    for (const [h, p] of ports) if (!(await closed(h, p))) open.push(`${h}:${p}`);
    return [...procs, ...groupsLeft, ...open];
  };
  let remaining: string[] = [];
  await until(async () => (remaining = await left()).length === 0, 'everything gone', STOP_MS, 100).catch(() => undefined);
  assert.deepEqual(remaining, [], `${STOP_MS / 1000} s after ${signal} to ${target === 'npm' ? 'npm exec' : 'the demo'}, still there:\n${out.slice(-2000)}`);
}

for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGKILL'] as const) {
  test(`${signal} to npx's wrapper (npm exec) stops the demo and everything it started`, { timeout: 300_000 }, (t) => scenario(t, 'npm', signal));
}

test('SIGKILL to the demo itself: its Node children notice and stop by themselves', { timeout: 300_000 }, (t) => scenario(t, 'demo', 'SIGKILL'));
