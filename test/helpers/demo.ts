/**
 * One `tsmesh demo` per test file, for Istio's tasks: started programmatically (src/demo/run.ts,
 * the code behind `tsmesh demo`) with Istio's own YAML as config, on ports nobody else uses:
 *  - pod addresses in a block of their own, `127.21.<k>.N` (pod IPs) / `127.22.<k>.N` (app IPs),
 *    held with a lock socket on `127.21.<k>.0:15999` for the demo's lifetime, so demos in
 *    concurrent test files (and the default demo on 127.0.1/2.N, and test/helpers/mesh.ts's
 *    127.11/12.<k>) never share an address;
 *  - the ingress gateway on 127.0.0.1:<free port> (the demo's copy of the Gateway is moved there;
 *    the files are read unmodified: a Gateway's port must be known before anything binds it, so
 *    it is probed), the control plane and the gateway admin on port 0 (they report theirs);
 *  - its own temporary state directory (config copy, logs, bootstrap files).
 * Config changes go through the control plane's POST /apis/v1/apply and /apis/v1/delete (what
 * `tsmesh apply -f` uses), then wait until every proxy has ACKed what it was sent.
 *
 *   const demo = await startIstioDemo(t, { configs: [ISTIO_BOOKINFO, ...] });
 *   await demo.applyFile(`${ISTIO_NETWORKING}/virtual-service-all-v1.yaml`);
 *   const r = await demo.get('/productpage');
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { Writable } from 'node:stream';
import { gatewayBootstrap, writeBootstrap } from '../../src/agent/bootstrap.ts';
import { freePort } from '../../src/demo/ports.ts';
import { PROXY_READY, startDemo, tsmeshLauncher, type DemoHandle } from '../../src/demo/run.ts';
import type { DemoPodState, DemoState } from '../../src/demo/state.ts';
import { until } from './poll.ts';
import { REPO } from './processes.ts';
import { ISTIO_DATA } from './istio_data.ts';

export const ISTIO_SAMPLES = `${ISTIO_DATA}/samples`;
export const ISTIO_BOOKINFO = `${ISTIO_SAMPLES}/bookinfo/platform/kube/bookinfo.yaml`;
export const ISTIO_NETWORKING = `${ISTIO_SAMPLES}/bookinfo/networking`;
/** Istio's Bookinfo as `tsmesh demo --config` takes it: workloads, gateway, subsets. */
export const ISTIO_BOOKINFO_CONFIGS = [ISTIO_BOOKINFO, `${ISTIO_NETWORKING}/bookinfo-gateway.yaml`, `${ISTIO_NETWORKING}/destination-rule-all.yaml`];
/** A reason to skip when Istio's files are not on this machine, else false. */
export const NO_ISTIO_DATA = existsSync(ISTIO_BOOKINFO) ? false : `Istio's samples are not in ${ISTIO_SAMPLES}`;

export interface HttpResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  /** Wall-clock time from sending to the last byte, in ms. */
  ms: number;
}

export interface RequestOptions {
  method?: string;
  headers?: Record<string, string>;
  body?: string;
  timeoutMs?: number;
}

/** One HTTP/1.1 request on a fresh connection (no pooling: every request is seen on its own). */
export function httpRequest(host: string, port: number, path: string, o: RequestOptions = {}): Promise<HttpResponse> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { ...o.headers };
    if (o.body !== undefined) headers['content-length'] = String(Buffer.byteLength(o.body));
    const req = request({ host, port, path, method: o.method ?? 'GET', headers, agent: false, timeout: o.timeoutMs ?? 30_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8'), ms: performance.now() - t0 }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer from ${host}:${port}${path} in ${o.timeoutMs ?? 30_000} ms`)));
    req.on('error', reject);
    req.end(o.body);
  });
}

export interface IstioDemoOptions {
  /** Files / directories, as `tsmesh demo --config` (Istio's YAML, unmodified). */
  configs: string[];
  /** meshConfig YAML text, given to the control plane as `--mesh`. */
  mesh?: string;
  /** Readiness timeout of each part (default 120 s: two cores, other tests running). */
  readyTimeoutMs?: number;
}

export interface IstioDemo {
  readonly state: DemoState;
  readonly stateDir: string;
  /** 'http://127.0.0.1:<port>': the control plane's HTTP API. */
  readonly controlplane: string;
  readonly gatewayHost: string;
  readonly gatewayPort: number;
  /** `127.21.<k>.` / `127.22.<k>.`: this demo's pod and app addresses. */
  readonly podNet: string;
  readonly appNet: string;
  pod(name: string): DemoPodState;
  /** A request to the ingress gateway. */
  get(path: string, o?: RequestOptions): Promise<HttpResponse>;
  /** A request from inside pod `name`: to its sidecar's HTTP proxy listener (appIP:15080), as the app's calls go. */
  fromPod(name: string, host: string, path: string, o?: RequestOptions): Promise<HttpResponse>;
  /** POST /apis/v1/apply with this YAML, then wait for every proxy to ACK the change. */
  apply(yaml: string, name?: string): Promise<void>;
  applyFile(file: string): Promise<void>;
  delete(yaml: string, name?: string): Promise<void>;
  deleteFile(file: string): Promise<void>;
  /** Waits until every proxy connected to the control plane has ACKed all it was sent, and nothing changed for a while. */
  settle(changedFrom?: string, timeoutMs?: number): Promise<void>;
  /** The control plane's /debug/syncz, as a comparable key. */
  syncKey(): Promise<string>;
  /** A pod's app log (`<pod>.app.log`), or another log by file name. */
  log(name: string): string;
  /** The demo's own output (progress lines, errors). */
  output(): string;
  /** An egress gateway (router, labels istio=egressgateway) on podNet+250, see startEgressGateway. */
  startEgressGateway(): Promise<EgressGateway>;
  stop(): Promise<void>;
}

export interface EgressGateway {
  readonly ip: string;
  /** The port its Gateway's HTTP server binds (Service port 80 → targetPort 8080, as Istio's chart). */
  readonly port: number;
  readonly admin: string;
  /** Counters from the admin /stats, by name. */
  stats(): Promise<Map<string, number>>;
  output(): string;
  stop(): Promise<void>;
}

class Capture extends Writable {
  text = '';
  override _write(chunk: Buffer, _enc: string, cb: () => void): void {
    this.text += chunk.toString();
    cb();
  }
}

/** Holds 127.21.<k>.0:15999 while the demo runs: the block is this file's. */
export async function lockBlock(): Promise<{ k: number; lock: Server }> {
  for (let k = 1; k < 250; k++) {
    const lock = createServer();
    const ok = await new Promise<boolean>((resolve) => {
      lock.once('error', () => resolve(false));
      lock.listen({ host: `127.21.${k}.0`, port: 15999, exclusive: true }, () => resolve(true));
    });
    if (ok) return { k, lock };
  }
  throw new Error('no free 127.21.<k>.0/24 block for a test demo');
}

type After = { after(fn: () => Promise<void> | void): void };

export async function startIstioDemo(t: After, o: IstioDemoOptions): Promise<IstioDemo> {
  const { k, lock } = await lockBlock();
  const stateDir = mkdtempSync(join(tmpdir(), 'tsmesh-istio-'));
  const podNet = `127.21.${k}.`;
  const appNet = `127.22.${k}.`;
  let meshFile: string | undefined;
  if (o.mesh !== undefined) {
    meshFile = join(stateDir, 'mesh.yaml');
    writeFileSync(meshFile, o.mesh);
  }
  const out = new Capture();
  const gatewayPort = await freePort('127.0.0.1');
  const readyMs = o.readyTimeoutMs ?? 120_000;
  const handle: DemoHandle = startDemo({
    repoRoot: REPO,
    configs: o.configs,
    port: gatewayPort,
    remapGatewayPort: true,
    // Port 0: the control plane and the gateway admin say which port they got.
    xdsPort: 0,
    httpPort: 0,
    gatewayAdminPort: 0,
    podNet,
    appNet,
    ...(meshFile ? { meshFile } : {}),
    stateDir: join(stateDir, 'demo'),
    out,
    timeouts: { controlplaneMs: readyMs, podMs: readyMs, gatewayMs: readyMs },
  });
  // No child outlives this test process, whatever happens to it.
  const onExit = () => handle.supervisor.killAll();
  process.on('exit', onExit);
  const extra: Array<() => Promise<void>> = [];
  let stopped: Promise<void> | undefined;
  const stop = () =>
    (stopped ??= (async () => {
      for (const s of extra.splice(0).reverse()) await s().catch(() => undefined);
      await handle.stop();
      process.off('exit', onExit);
      await new Promise<void>((r) => lock.close(() => r()));
      rmSync(stateDir, { recursive: true, force: true });
    })());
  t.after(stop);

  const state = await handle.started;
  if (!state) {
    const text = out.text;
    await stop();
    throw new Error(`the demo did not start:\n${text}`);
  }
  const cp = state.controlplane.http;

  const syncRows = async (): Promise<Array<{ proxyId: string; types: Record<string, { sentVersion: string; ackedVersion: string; synced: boolean; lastNack?: { message: string } }> }>> =>
    (await fetch(`${cp}/debug/syncz`, { signal: AbortSignal.timeout(5000) })).json() as Promise<never>;
  const keyOf = (rows: Awaited<ReturnType<typeof syncRows>>) =>
    JSON.stringify(rows.map((r) => [r.proxyId, Object.entries(r.types).map(([t, w]) => [t, w.sentVersion]).sort()]).sort());

  const settle = async (changedFrom?: string, timeoutMs = 30_000): Promise<void> => {
    const t0 = Date.now();
    // The control plane debounces pushes (100 ms): give a push that is due time to start.
    await sleep(400);
    let prev = '';
    for (;;) {
      const rows = await syncRows();
      const nack = rows.flatMap((r) => Object.entries(r.types).map(([type, w]) => ({ r, type, w }))).find((x) => x.w.lastNack && !x.w.synced);
      if (nack) throw new Error(`${nack.r.proxyId} NACKed ${nack.type}: ${nack.w.lastNack!.message}`);
      const key = keyOf(rows);
      const synced = rows.every((r) => Object.values(r.types).every((w) => w.synced));
      const changed = changedFrom === undefined || key !== changedFrom || Date.now() - t0 > 3000;
      if (synced && changed && key === prev) return;
      prev = synced ? key : '';
      if (Date.now() - t0 > timeoutMs) throw new Error(`proxies not in sync ${timeoutMs} ms after a config change:\n${JSON.stringify(rows, null, 1)}`);
      await sleep(250);
    }
  };

  const post = async (op: 'apply' | 'delete', yaml: string, name: string) => {
    const before = keyOf(await syncRows());
    const res = await fetch(`${cp}/apis/v1/${op}?file=${encodeURIComponent(name)}`, { method: 'POST', headers: { 'content-type': 'application/yaml' }, body: yaml, signal: AbortSignal.timeout(30_000) });
    const text = await res.text();
    if (res.status !== 200) throw new Error(`${op} ${name}: HTTP ${res.status}: ${text}`);
    await settle(before);
  };

  const demo: IstioDemo = {
    state,
    stateDir: state.stateDir,
    controlplane: cp,
    gatewayHost: '127.0.0.1',
    gatewayPort,
    podNet,
    appNet,
    pod(name) {
      const p = state.pods.find((x) => x.name === name);
      if (!p) throw new Error(`no pod ${name} in this demo (${state.pods.map((x) => x.name).join(', ')})`);
      return p;
    },
    get: (path, ro) => httpRequest('127.0.0.1', gatewayPort, path, ro),
    fromPod: (name, host, path, ro) => httpRequest(demo.pod(name).appIP, 15080, path, { ...ro, headers: { host, ...ro?.headers } }),
    apply: (yaml, name = 'test.yaml') => post('apply', yaml, name),
    applyFile: (file) => post('apply', readFileSync(file, 'utf8'), basename(file)),
    delete: (yaml, name = 'test.yaml') => post('delete', yaml, name),
    deleteFile: (file) => post('delete', readFileSync(file, 'utf8'), basename(file)),
    settle,
    syncKey: async () => keyOf(await syncRows()),
    log(name) {
      const file = join(state.stateDir, 'logs', name.endsWith('.log') ? name : `${name}.app.log`);
      return existsSync(file) ? readFileSync(file, 'utf8') : '';
    },
    output: () => out.text,
    async startEgressGateway() {
      const gw = await startEgressGateway(`${podNet}250`, state.controlplane.grpc, join(state.stateDir, 'egress'));
      extra.push(() => gw.stop());
      return gw;
    },
    stop,
  };
  return demo;
}

/**
 * A second router proxy, as Istio's istio-egressgateway Deployment: namespace istio-system,
 * labels istio=egressgateway / app=istio-egressgateway, listening on `ip`. The mesh learns its
 * address from config the test applies (a Service istio-egressgateway with port 80 → 8080 and a
 * WorkloadEntry at `ip`), as Kubernetes would from the gateway's pod.
 */
async function startEgressGateway(ip: string, xds: string, dir: string): Promise<EgressGateway> {
  const [xdsHost, xdsPort] = [xds.slice(0, xds.lastIndexOf(':')), Number(xds.slice(xds.lastIndexOf(':') + 1))];
  const file = join(dir, 'istio-egressgateway.json');
  writeBootstrap(
    file,
    gatewayBootstrap({
      namespace: 'istio-system',
      name: 'istio-egressgateway',
      labels: { istio: 'egressgateway', app: 'istio-egressgateway' },
      bindAddress: ip,
      // Port 0: its ready line says which port its admin got.
      adminPort: 0,
      xds: { host: xdsHost, port: xdsPort },
    }),
  );
  // The admin binds the node's address (ip) in gatewayBootstrap.
  const cmd = tsmeshLauncher(REPO).proxy(['--bootstrap', file, '--concurrency', '1']);
  const child: ChildProcess = spawn(cmd.command, cmd.args, { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let text = '';
  child.stdout!.on('data', (d: Buffer) => (text += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (text += d.toString()));
  const kill = (sig: NodeJS.Signals) => {
    try {
      process.kill(-child.pid!, sig);
    } catch {
      /* gone */
    }
  };
  const onExit = () => kill('SIGKILL');
  process.on('exit', onExit);
  const stop = async () => {
    process.off('exit', onExit);
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    kill('SIGTERM');
    const t = setTimeout(() => kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(t);
  };
  let admin = '';
  const outcome = await until(
    async () => {
      if (child.exitCode !== null) return 'exited' as const;
      const m = PROXY_READY.exec(text);
      if (!m) return false;
      admin = `http://${ip}:${m[1]}`;
      return (await fetch(`${admin}/ready`, { signal: AbortSignal.timeout(2000) })).status === 200 && ('ready' as const);
    },
    'the egress gateway ready',
    120_000,
    250,
  ).catch((e: Error) => e);
  if (outcome !== 'ready') {
    await stop();
    throw new Error(`${outcome === 'exited' ? `egress gateway exited with ${child.exitCode}` : outcome.message}:\n${text}`);
  }
  return {
    ip,
    port: 8080,
    admin,
    async stats() {
      const body = await (await fetch(`${admin}/stats`, { signal: AbortSignal.timeout(5000) })).text();
      const m = new Map<string, number>();
      for (const line of body.split('\n')) {
        const i = line.lastIndexOf(': ');
        if (i > 0 && /^\d+$/.test(line.slice(i + 2).trim())) m.set(line.slice(0, i), Number(line.slice(i + 2)));
      }
      return m;
    },
    output: () => text,
    stop,
  };
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** What the reviews part of a Bookinfo product page shows. */
export type ReviewsView = 'no-stars' | 'black' | 'red' | 'reviews-unavailable' | 'ratings-unavailable' | 'error';

export function reviewsView(r: HttpResponse): ReviewsView {
  if (r.status !== 200) return 'error';
  const b = r.body;
  if (b.includes('Sorry, product reviews are currently unavailable for this book.')) return 'reviews-unavailable';
  if (b.includes('Ratings service is currently unavailable')) return 'ratings-unavailable';
  if (!b.includes('glyphicon-star')) return /reviews-v\d/.test(b) || b.includes('Reviewer1') ? 'no-stars' : 'error';
  if (b.includes('<font color="red">')) return 'red';
  if (b.includes('<font color="black">')) return 'black';
  return 'error';
}

/** Signs in to Bookinfo as `user` (POST /login through the gateway) and returns the session cookie. */
export async function login(demo: IstioDemo, user: string): Promise<string> {
  const r = await demo.get('/login', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `username=${encodeURIComponent(user)}&passwd=password` });
  if (r.status !== 302 && r.status !== 200) throw new Error(`POST /login answered ${r.status}: ${r.body.slice(0, 300)}`);
  const set = r.headers['set-cookie'];
  const cookies = (Array.isArray(set) ? set : set ? [set] : []).map((c) => c.split(';')[0]!).filter((c) => c.startsWith('session='));
  if (cookies.length === 0) throw new Error(`POST /login set no session cookie: ${JSON.stringify(r.headers)}`);
  return cookies.join('; ');
}

/** Counts of each view over `n` sequential page loads. */
export async function loadPages(demo: IstioDemo, n: number, cookie?: string): Promise<Map<ReviewsView, number>> {
  const counts = new Map<ReviewsView, number>();
  for (let i = 0; i < n; i++) {
    const v = reviewsView(await demo.get('/productpage', cookie ? { headers: { cookie } } : {}));
    counts.set(v, (counts.get(v) ?? 0) + 1);
  }
  return counts;
}
