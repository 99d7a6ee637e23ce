/**
 * `npm run bench -- controlplane`: tsmesh's control plane against Istio's own istiod, side by
 * side on one machine, fed the same generated mesh and the same simulated Envoys.
 * 1. Build (tsmesh only), in a child with --expose-gc: load + validate 1,000 services x 10
 *    endpoints of Istio YAML, the registry and PushContext, and one sidecar's CDS/EDS/LDS/RDS.
 * 2. Serve: each control plane as a child on that directory (`tsmesh controlplane --config`,
 *    `pilot-discovery discovery --configDir`, built once from Istio's Go module and cached, with
 *    an empty local etcd + kube-apiserver beside it because this Istio version needs Kubernetes);
 *    N simulated Envoys (load processes, each sending the Node an istio-proxy sends) subscribe
 *    over raw ADS, SotW or delta; time until every one has ACKed CDS, EDS, LDS and RDS, with the
 *    control plane's CPU seconds and peak RSS from /proc, and the load processes' CPU beside it
 *    (on 2 cores they can be the bottleneck).
 * 3. Propagation: one WorkloadEntry's address is rewritten on disk, so the change goes through
 *    each control plane's own file watch; time from the write until each client has the EDS
 *    update (p50/p99/max), and which other types were pushed with it. Several changes in turn:
 *    the first (whose push path has not run yet) is reported alone, the others pooled.
 * 4. A table per size and mode, tsmesh/istiod ratios (below 1 means tsmesh is ahead), and the
 *    issue's goals. Knobs: BENCH_CLIENTS=200,1000,2000  BENCH_MODES=sotw,delta
 *    BENCH_CPS=tsmesh,istiod  BENCH_SERVICES=1000  BENCH_TIMEOUT_S=120 (per wait)
 *    BENCH_LOAD_PROCS (default one per 250 clients)  BENCH_BUILD=0 (skip 1)
 *    BENCH_ISTIOD_BUILD_TIMEOUT_S=3600  BENCH_ISTIOD_ENV=K=V,...  BENCH_CP_NODE_ARGS
 *    BENCH_LOAD_NODE_ARGS (node flags for the load processes, e.g. --cpu-prof)  BENCH_IDLE_S=3 (quiet
 *    time between sync and the first change)
 *    BENCH_CHANGES=4 (endpoint changes per run: the first alone, the rest pooled for p50/p99).
 * Every wait is bounded; on timeout what was reached is printed. Nothing asserts.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cpuSeconds, rssMB, sleep, start, type Started } from './lib/procs.ts';
import { freePort } from './lib/ports.ts';
import { percentile } from './lib/probe.ts';
import { writeMesh, type WrittenMesh } from './lib/mesh_config.ts';
import { LoadProc } from './lib/load_driver.ts';
import type { BuildResult, TypeFigures } from './lib/cp_build.ts';
import { ensureIstiod } from './lib/istiod_build.ts';
import { istiodEnv, istiodPushLines, startIstiod } from './lib/istiod_run.ts';
import { TYPE } from '../src/xds/types.ts';
import { tsmeshCommand } from '../src/common/self_command.ts';
import { prepareTsmesh } from './lib/tsmesh_proxy.ts';

/** The control plane's memory logger, preloaded (plain JavaScript: no loader needed). */
const MEMLOG = fileURLToPath(new URL('./lib/cp_memlog.mjs', import.meta.url));

const SERVICES = Number(process.env.BENCH_SERVICES ?? 1000);
/** Simulated proxy counts, run in this order (BENCH_CLIENTS=200,1000,2000). */
const SIZES = (process.env.BENCH_CLIENTS ?? '200,1000,2000')
  .split(',')
  .map((s) => Number(s.trim()))
  .filter((n) => Number.isInteger(n) && n > 0);
const ENDPOINTS = 10;
const NAMESPACES = 5;
const TIMEOUT_MS = Number(process.env.BENCH_TIMEOUT_S ?? 120) * 1000;
/** Which ADS modes to serve (BENCH_MODES=sotw,delta). */
const MODES = (process.env.BENCH_MODES ?? 'sotw,delta').split(',').map((m) => m.trim()) as Mode[];
/** Which control planes (BENCH_CPS=tsmesh,istiod). */
const CPS = (process.env.BENCH_CPS ?? 'tsmesh,istiod').split(',').map((m) => m.trim());
/** Extra node flags for tsmesh's control plane, e.g. BENCH_CP_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof". */
const CP_NODE_ARGS = (process.env.BENCH_CP_NODE_ARGS ?? '').split(' ').filter(Boolean);
const ISTIOD_BUILD_TIMEOUT_S = Number(process.env.BENCH_ISTIOD_BUILD_TIMEOUT_S ?? 3600);
/** Endpoint changes per run (BENCH_CHANGES, 1..7): the first reported alone, the rest pooled. */
const CHANGES = Math.min(7, Math.max(1, Number(process.env.BENCH_CHANGES ?? 4)));

/** One load process per 250 clients (max 8): one Node process decoding hundreds of CDS answers is a bottleneck. */
function loadProcs(clients: number): number {
  const fixed = Number(process.env.BENCH_LOAD_PROCS ?? 0);
  return fixed > 0 ? fixed : Math.min(8, Math.max(1, Math.ceil(clients / 250)));
}

type Mode = 'sotw' | 'delta';
const SHORT: Record<string, string> = { [TYPE.CLUSTER]: 'CDS', [TYPE.ENDPOINT]: 'EDS', [TYPE.LISTENER]: 'LDS', [TYPE.ROUTE]: 'RDS' };
const n0 = (n: number) => Math.round(n).toLocaleString('en-US');
const f1 = (n: number) => n.toFixed(1);
const mbytes = (b: number) => `${(b / 1048576).toFixed(1)} MiB`;

/** A running control plane: `spawnedAt` (performance.now()) when its own process started, after whatever it needs was up; `sideCpu` CPU seconds of what runs beside it (istiod's Kubernetes API). */
interface StartedCp {
  cp: Started;
  grpcPort: number;
  spawnedAt?: number;
  sideCpu?: { name: string; seconds(): number };
}

/** A control plane under test: how to start it on the mesh directory and how to read its push log. */
interface ControlPlane {
  name: 'tsmesh' | 'istiod';
  start(configDir: string): Promise<StartedCp>;
  /** Log lines describing pushes since `sinceEpochMs` / log offset `mark`. */
  pushLines(cp: Started, mark: number, sinceEpochMs: number): string[];
}

interface Propagation {
  got: number;
  connected: number;
  p50: number;
  p99: number;
  max: number;
  cpuS: number;
  loadCpuS: number;
  others: string;
  /** Each client's latency (ms), sorted. */
  latencies: number[];
}

interface Row {
  cp: string;
  clients: number;
  mode: Mode;
  loadProcs: number;
  error?: string;
  synced: number;
  /** undefined: not every client synced within the timeout. */
  syncS?: number;
  cpuS: number;
  peakMB: number;
  settledMB: number;
  loadCpuS: number;
  bytes: number;
  /** The changes after the first, their clients' latencies pooled (steady state: what the goal holds). */
  prop?: Propagation;
  /** The first change after sync alone (its push path still cold). */
  propFirst?: Propagation;
}

export async function run(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'tsmesh-cpbench-'));
  const configDir = join(dir, 'config');
  try {
    const mesh = writeMesh(configDir, { services: SERVICES, endpointsPerService: ENDPOINTS, namespaces: NAMESPACES });
    const tenth = Math.ceil(SERVICES / 10);
    console.log(
      `mesh: ${n0(SERVICES)} ServiceEntries x ${ENDPOINTS} WorkloadEntries in ${NAMESPACES} namespaces, ports 8080/http + 9000/tcp; ` +
        `${n0(tenth)} DestinationRules (v1/v2) + ${n0(tenth)} VirtualServices (90/10); ${n0(mesh.resources)} resources in ${n0(mesh.files)} files`,
    );
    console.log(`sizes: ${SIZES.map(n0).join(', ')} simulated Envoys x ${MODES.join(', ')} x ${CPS.join(', ')}; each wait bounded by ${TIMEOUT_MS / 1000} s (BENCH_TIMEOUT_S)`);

    const cps: ControlPlane[] = [];
    let istiodMissing: string | undefined;
    if (CPS.includes('tsmesh')) {
      prepareTsmesh();
      cps.push(tsmeshCp());
    }
    if (CPS.includes('istiod')) {
      const b = await ensureIstiod(ISTIOD_BUILD_TIMEOUT_S);
      if (b.ok) {
        console.log(`istiod: pilot-discovery from istio.io/istio@${b.version} (${b.builtNow ? `built now in ${b.seconds.toFixed(0)} s` : 'cached build'}): ${b.binary}`);
        console.log(
          `istiod env: ${Object.entries(istiodEnv()).map(([k, v]) => `${k}=${v}`).join(' ')}; debounce and push throttle at istiod's defaults; ` +
            `a real, empty Kubernetes API beside it (etcd + kube-apiserver from src/kube/local, started and stopped with istiod; this Istio version needs a Kubernetes client to start), its CPU reported separately`,
        );
        cps.push(istiodCp(b.binary, join(dir, 'istiod'), mesh.namespaces));
      } else {
        istiodMissing = b.reason;
        console.log(`istiod: NOT RUN, so no side-by-side figures: ${b.reason}`);
      }
    }

    const build = process.env.BENCH_BUILD === '0' ? undefined : await buildPhase(configDir);
    const rows: Row[] = [];
    let phase = 0;
    /** A control plane that could not start once is not started again (it fails the same way). */
    const cannotStart = new Map<string, string>();
    for (const clients of SIZES) {
      for (const mode of MODES.filter((m) => m === 'sotw' || m === 'delta')) {
        for (const cp of cps) {
          // A service with subsets, different per phase, so each phase sees a change it has not seen.
          const svc = (10 * ++phase) % SERVICES;
          const known = cannotStart.get(cp.name);
          const row = known ? notRun(cp.name, clients, mode, known) : await servePhase(cp, configDir, mesh, clients, mode, svc);
          if (row.error && row.synced === 0 && row.error.startsWith('did not start')) cannotStart.set(cp.name, row.error);
          rows.push(row);
        }
      }
    }
    if (cannotStart.has('istiod')) istiodMissing ??= cannotStart.get('istiod');
    summary(rows, build, istiodMissing);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function notRun(cp: string, clients: number, mode: Mode, error: string): Row {
  return { cp, clients, mode, loadProcs: 0, error, synced: 0, cpuS: NaN, peakMB: NaN, settledMB: NaN, loadCpuS: NaN, bytes: 0 };
}

/**
 * Known reasons istiod cannot run here, recognised in its start-up failure, said plainly.
 * Istio's master of 2026-08 builds its ServiceEntry registry (krt) on the Kubernetes
 * multicluster controller's namespaces, and that controller exists only with a Kubernetes client:
 * hence the local kube-apiserver, whose binaries must be built first.
 */
function explainIstiodFailure(error: string): string {
  if (/Kubernetes binaries missing/.test(error)) {
    return `${error}\n  => istiod needs a Kubernetes API server to start (this Istio version panics without one); build the local cluster's binaries with \`node scripts/kube/build.mjs\`, or run BENCH_CPS=tsmesh`;
  }
  return error;
}

// ---------- the two control planes ----------

function tsmeshCp(): ControlPlane {
  return {
    name: 'tsmesh',
    async start(configDir) {
      const [grpcPort, httpPort] = [await freePort(), await freePort()];
      // What `tsmesh controlplane` runs for a user: dist/ when current (prepareTsmesh builds it).
      const cmd = tsmeshCommand(['controlplane', '--config', configDir, '--grpc-port', String(grpcPort), '--http-port', String(httpPort), '--secure-grpc-port', '0']);
      const cp = await start('tsmesh controlplane', cmd.command, [...CP_NODE_ARGS, '--import', MEMLOG, ...cmd.args], {}, cmd.env);
      const deadline = Date.now() + TIMEOUT_MS;
      while (!/tsmesh controlplane ready/.test(cp.output())) {
        if (cp.proc.exitCode !== null || Date.now() > deadline) {
          await cp.stop();
          throw new Error(`tsmesh controlplane did not become ready:\n${cp.output().slice(-3000)}`);
        }
        await sleep(50);
      }
      return { cp, grpcPort };
    },
    pushLines(cp, mark) {
      const out = cp.output();
      return (out.length >= mark ? out.slice(mark) : out)
        .split('\n')
        .filter((l) => l.includes('ads: push of'))
        .map((l) => l.replace(/^.*ads: push of /, 'push of ').slice(0, 140));
    },
  };
}

function istiodCp(binary: string, workDir: string, namespaces: string[]): ControlPlane {
  let runs = 0;
  return {
    name: 'istiod',
    async start(configDir) {
      const { cp, grpcPort, kube, spawnedAt } = await startIstiod(binary, configDir, join(workDir, String(++runs)), TIMEOUT_MS, namespaces);
      console.log(`kubernetes for istiod: etcd + kube-apiserver ready and namespaces applied in ${f1(kube.startS)} s (${kube.server})`);
      return { cp, grpcPort, spawnedAt, sideCpu: { name: 'kube-apiserver + etcd', seconds: () => kube.cpuSeconds() } };
    },
    pushLines(cp, _mark, since) {
      // By timestamp: istiod's log may have been trimmed, so offsets into it are not stable.
      return istiodPushLines(cp.output(), since);
    },
  };
}

// ---------- 1. build ----------

async function buildPhase(configDir: string): Promise<BuildResult | undefined> {
  console.log('\n-- tsmesh build (in-process, heap after full GC) --');
  const out = await new Promise<string>((resolve) => {
    execFile(
      process.execPath,
      ['--expose-gc', '--import', 'tsx', 'bench/lib/cp_build.ts', configDir, 'ns-0', 'ns-1'],
      { timeout: TIMEOUT_MS, maxBuffer: 16 * 1048576 },
      (err, stdout, stderr) => resolve(err ? `${stdout}\nERROR ${err.message}${err.killed ? ` (killed after ${TIMEOUT_MS / 1000} s)` : ''}\n${stderr.slice(-2000)}` : stdout),
    );
  });
  const line = out.split('\n').find((l) => l.startsWith('BUILD_RESULT '));
  if (!line) {
    console.log(`build failed:\n${out}`);
    return undefined;
  }
  const b = JSON.parse(line.slice('BUILD_RESULT '.length)) as BuildResult;
  const stepLine = (label: string, s: { ms: number; heapMB: number; rssMB: number }) =>
    `${label.padEnd(34)} ${f1(s.ms).padStart(8)} ms   heap +${f1(s.heapMB).padStart(6)} MB   rss +${f1(s.rssMB).padStart(6)} MB`;
  console.log(`${stepLine('(a) load + validate store', b.store)}   ${n0(b.configs)} configs, ${b.rejected} rejected`);
  console.log(`${stepLine('(b) registry snapshot', b.registry)}   ${n0(b.services)} services, ${n0(b.endpoints)} endpoints (service ports x endpoints)`);
  console.log(stepLine('(b) PushContext', b.push));
  const typeLine = (label: string, figs: Record<string, TypeFigures>) => {
    const parts = Object.entries(figs).map(([t, f]) => `${SHORT[t]} ${n0(f.resources)} / ${mbytes(f.bytes)} / ${f1(f.ms)} ms`);
    const ms = Object.values(figs).reduce((a, f) => a + f.ms, 0);
    const bytes = Object.values(figs).reduce((a, f) => a + f.bytes, 0);
    return `${label.padEnd(34)} ${f1(ms).padStart(8)} ms   ${mbytes(bytes)} total: ${parts.join(', ')}`;
  };
  console.log(typeLine('(c) one sidecar, cold', b.proxy1));
  console.log(typeLine('(c) sidecar of a new shape, warm', b.proxy2));
  console.log(`${'built state (store..one proxy)'.padEnd(34)} ${''.padStart(8)}      heap +${f1(b.totalHeapMB).padStart(6)} MB   rss +${f1(b.totalRssMB).padStart(6)} MB`);
  return b;
}

// ---------- 2 + 3. serve and propagate ----------

async function servePhase(cpDef: ControlPlane, configDir: string, mesh: WrittenMesh, clients: number, mode: Mode, moveSvc: number): Promise<Row> {
  const procs = loadProcs(clients);
  const row: Row = { cp: cpDef.name, clients, mode, loadProcs: procs, synced: 0, cpuS: 0, peakMB: 0, settledMB: 0, loadCpuS: 0, bytes: 0 };
  // The machine's load average before the phase: on 2 shared cores, other work skews every figure.
  console.log(`\n-- ${cpDef.name}: ${n0(clients)} ${mode === 'sotw' ? 'SotW' : 'delta'} ADS clients (${procs} load process${procs > 1 ? 'es' : ''}; machine load average ${loadavg()[0]!.toFixed(1)}) --`);
  const tReady = performance.now();
  let started: StartedCp;
  try {
    started = await cpDef.start(configDir);
  } catch (e) {
    const first = (e as Error).message.split('\n')[0]!;
    row.error = `did not start: ${cpDef.name === 'istiod' ? explainIstiodFailure(first) : first}`;
    console.log(`${cpDef.name} ${row.error}\n${(e as Error).message.split('\n').slice(1).join('\n').slice(-1500)}`);
    return row;
  }
  const { cp, grpcPort, sideCpu } = started;
  const pid = cp.proc.pid!;
  const loads: LoadProc[] = [];
  try {
    console.log(`${cpDef.name} ready in ${f1((performance.now() - (started.spawnedAt ?? tReady)) / 1000)} s: cpu ${f1(cpuSeconds(pid))} s, rss ${n0(rssMB(pid))} MB`);
    const address = `127.0.0.1:${grpcPort}`;
    const per = Math.ceil(clients / procs);
    for (let i = 0; i < procs; i++) {
      const count = Math.min(per, clients - i * per);
      if (count > 0) loads.push(new LoadProc({ address, mode, first: i * per, count, namespaces: mesh.namespaces }));
    }
    // Load processes start (tsx, module load) before the clock does.
    const upDeadline = Date.now() + 60_000;
    if (!(await Promise.all(loads.map((l) => l.waitFor('ready', upDeadline)))).every(Boolean)) {
      row.error = 'load processes did not start';
      console.log(`${row.error}: ${loads.map((l) => l.errorOutput.slice(-500)).join('\n')}`);
      return row;
    }
    const loadCpu0 = loads.reduce((a, l) => a + cpuSeconds(l.pid), 0);

    // Connect everyone and wait for every client to ACK CDS, EDS, LDS and RDS.
    let peak = rssMB(pid);
    const mem = { heap: 0, external: 0 };
    const sampler = setInterval(() => {
      peak = Math.max(peak, rssMB(pid));
      const m = lastMem(cp);
      if (m) [mem.heap, mem.external] = [Math.max(mem.heap, m.heap), Math.max(mem.external, m.external)];
    }, 100);
    const cpu0 = cpuSeconds(pid);
    const side0 = sideCpu?.seconds() ?? 0;
    const t0 = performance.timeOrigin + performance.now();
    for (const l of loads) l.connect();
    const deadline = Date.now() + TIMEOUT_MS;
    const syncedEvents = await Promise.all(loads.map((l) => l.waitFor('synced', deadline)));
    clearInterval(sampler);
    peak = Math.max(peak, rssMB(pid));
    row.cpuS = cpuSeconds(pid) - cpu0;
    row.loadCpuS = loads.reduce((a, l) => a + cpuSeconds(l.pid), 0) - loadCpu0;
    const done = syncedEvents.every(Boolean);
    row.synced = loads.reduce((a, l) => a + (l.last('synced')?.count ?? l.last('progress')?.synced ?? 0), 0);
    const lastAt = Math.max(...syncedEvents.map((e) => e?.lastAt ?? 0));
    if (done) row.syncS = (lastAt - t0) / 1000;
    row.peakMB = peak;
    row.bytes = loads.reduce((a, l) => a + Math.max(l.last('synced')?.bytes ?? 0, l.last('progress')?.bytes ?? 0), 0);
    const responses = loads.reduce((a, l) => a + Math.max(l.last('synced')?.responses ?? 0, l.last('progress')?.responses ?? 0), 0);
    const failed = loads.reduce((a, l) => a + (l.last('progress')?.failed ?? 0), 0);
    const heap = mem.heap ? ` (heap ${n0(mem.heap)} MB, buffers ${n0(mem.external)} MB)` : '';
    console.log(
      `${done ? 'all' : 'TIMEOUT: only'} ${n0(row.synced)}/${n0(clients)} ACKed CDS+EDS+LDS+RDS in ${done ? f1(row.syncS!) : `> ${TIMEOUT_MS / 1000}`} s` +
        `   ${cpDef.name}: cpu ${f1(row.cpuS)} s, peak rss ${n0(peak)} MB${heap}   sent ${mbytes(row.bytes)} in ${n0(responses)} responses` +
        `   load processes: cpu ${f1(row.loadCpuS)} s${sideCpu ? `   ${sideCpu.name}: cpu ${f1(sideCpu.seconds() - side0)} s` : ''}${failed ? `   ${failed} streams failed` : ''}`,
    );
    if (!done) for (const l of loads) if (l.errorOutput) console.log(`load process stderr: ${l.errorOutput.slice(-1000)}`);

    // Quiet period: what idle streams and the config source's watch cost.
    const cpuIdle0 = cpuSeconds(pid);
    await sleep(Number(process.env.BENCH_IDLE_S ?? 3) * 1000);
    const idleMem = lastMem(cp);
    row.settledMB = rssMB(pid);
    console.log(
      `idle with ${n0(row.synced)} connected, 3 s: cpu ${f1(cpuSeconds(pid) - cpuIdle0)} s, rss ${n0(row.settledMB)} MB` +
        (idleMem ? ` (heap ${n0(idleMem.heap)} MB, buffers ${n0(idleMem.external)} MB)` : ''),
    );

    if (row.synced > 0) {
      const [first, pooled] = await propagateSeries(cpDef, cp, loads, mesh, moveSvc, row.synced);
      row.propFirst = first;
      row.prop = pooled ?? first;
    }
    return row;
  } finally {
    await Promise.all(loads.map((l) => l.stop()));
    await cp.stop();
  }
}

/**
 * CHANGES endpoint changes one after another (each moves another endpoint of the same service):
 * the first alone, as it meets a push path not yet run, and the rest pooled, as a control plane
 * that has been serving a while meets them.
 */
async function propagateSeries(cpDef: ControlPlane, cp: Started, loads: LoadProc[], mesh: WrittenMesh, svc: number, connected: number): Promise<[Propagation, Propagation | undefined]> {
  const first = await propagate(cpDef, cp, loads, mesh, svc, 3, connected);
  const rest: Propagation[] = [];
  for (let k = 1; k < CHANGES; k++) rest.push(await propagate(cpDef, cp, loads, mesh, svc, 3 + k, connected));
  if (!rest.length) return [first, undefined];
  const lat = rest.flatMap((r) => r.latencies).sort((a, b) => a - b);
  const pooled: Propagation = {
    got: Math.min(...rest.map((r) => r.got)),
    connected,
    p50: percentile(lat, 50),
    p99: percentile(lat, 99),
    max: lat[lat.length - 1] ?? NaN,
    cpuS: rest.reduce((a, r) => a + r.cpuS, 0) / rest.length,
    loadCpuS: rest.reduce((a, r) => a + r.loadCpuS, 0) / rest.length,
    others: rest.map((r) => r.others).filter(Boolean).join('; '),
    latencies: lat,
  };
  console.log(`changes 2..${CHANGES} pooled (${n0(lat.length)} client updates): p50 ${f1(pooled.p50)} ms, p99 ${f1(pooled.p99)} ms, max ${f1(pooled.max)} ms; the first change: p99 ${f1(first.p99)} ms`);
  return [first, pooled];
}

async function propagate(cpDef: ControlPlane, cp: Started, loads: LoadProc[], mesh: WrittenMesh, svc: number, endpoint: number, connected: number): Promise<Propagation> {
  const pid = cp.proc.pid!;
  const marks = loads.map((l) => l.events.length);
  const armDeadline = Date.now() + 10_000;
  // Arm first (clients start watching for the new address), then write the file.
  const address = movedAddress(svc, endpoint);
  for (const l of loads) l.send({ cmd: 'arm', address });
  await Promise.all(loads.map((l, i) => l.waitFor('armed', armDeadline, marks[i])));
  const logMark = cp.output().length;
  const cpu0 = cpuSeconds(pid);
  const loadCpu0 = loads.reduce((a, l) => a + cpuSeconds(l.pid), 0);
  const tWrite = performance.timeOrigin + performance.now();
  const written = mesh.moveEndpoint(svc, endpoint);
  if (written !== address) throw new Error(`bench bug: moved to ${written}, expected ${address}`);
  const deadline = Date.now() + Math.min(TIMEOUT_MS, 60_000);
  const updated = await Promise.all(loads.map((l, i) => l.waitFor('updated', deadline, marks[i])));
  // Anything else a push sends would follow within the same push; give stragglers 2 s.
  await sleep(2000);
  const reportMarks = loads.map((l) => l.events.length);
  for (const l of loads) l.send({ cmd: 'report' });
  const reports = await Promise.all(loads.map((l, i) => l.waitFor('report', Date.now() + 10_000, reportMarks[i])));
  const cpuS = cpuSeconds(pid) - cpu0;
  const loadCpuS = loads.reduce((a, l) => a + cpuSeconds(l.pid), 0) - loadCpu0;
  const lat = reports.flatMap((r) => r?.received ?? []).map((at) => at - tWrite).sort((a, b) => a - b);
  const byType: Record<string, number> = {};
  for (const r of reports) for (const [t, n] of Object.entries(r?.byType ?? {})) byType[t] = (byType[t] ?? 0) + n;
  const othersList = Object.entries(byType).filter(([t]) => t !== TYPE.ENDPOINT);
  const others = othersList.length ? othersList.map(([t, n]) => `${SHORT[t] ?? t} ${n}`).join(', ') : '';
  const pushes = cpDef.pushLines(cp, logMark, tWrite);
  const p = { got: lat.length, connected, p50: percentile(lat, 50), p99: percentile(lat, 99), max: lat[lat.length - 1] ?? NaN, cpuS, loadCpuS, others, latencies: lat };
  console.log(
    `propagation (moved ${mesh.host(svc)} endpoint ${endpoint} to ${address}): ${updated.every(Boolean) ? 'all' : 'TIMEOUT: only'} ${n0(p.got)}/${n0(connected)} clients got the EDS update;` +
      ` p50 ${f1(p.p50)} ms, p99 ${f1(p.p99)} ms, max ${f1(p.max)} ms after the file write; ${cpDef.name} cpu ${f1(cpuS)} s, load processes cpu ${f1(loadCpuS)} s`,
  );
  console.log(
    `  responses after the change: EDS ${n0(byType[TYPE.ENDPOINT] ?? 0)}, other types ${others || '0'} (${others ? 'NOT EDS-only' : 'EDS only'});` +
      `  pushes logged: ${pushes.length ? pushes.slice(0, 4).join(' | ') : 'none'}${pushes.length > 4 ? ` (+${pushes.length - 4} more)` : ''}`,
  );
  return p;
}

/** tsmesh's latest heap / external figures (MB), from cp_memlog.ts lines; istiod has none. */
function lastMem(cp: Started): { heap: number; external: number } | undefined {
  const tail = cp.output().slice(-4000);
  const m = /MEM (\d+) (\d+) (\d+)\n[^]*$/.exec(tail);
  return m ? { heap: Number(m[1]) / 1048576, external: Number(m[2]) / 1048576 } : undefined;
}

function movedAddress(n: number, i: number): string {
  // Mirrors mesh_config.ts: the moved address of endpoint i of service n.
  return `127.${1 + (n >> 8)}.${n & 255}.${200 + i}`;
}

// ---------- 4. side by side ----------

function summary(rows: Row[], build: BuildResult | undefined, istiodMissing: string | undefined): void {
  console.log(`\n-- side by side: ${n0(SERVICES)} services x ${ENDPOINTS} endpoints; tsmesh/istiod ratios below 1 mean tsmesh is ahead --`);
  if (istiodMissing) console.log(`istiod could not be measured: ${istiodMissing}`);
  const cell = (v: number | undefined, d = 1) => (v === undefined || Number.isNaN(v) ? '—' : v.toFixed(d));
  const ratio = (a: number | undefined, b: number | undefined) => (a === undefined || b === undefined || Number.isNaN(a) || Number.isNaN(b) || b <= 0 ? '—' : `${(a / b).toFixed(2)}x`);
  const head = [
    'proxies'.padStart(7),
    'mode'.padEnd(5),
    '| sync s: tsmesh  istiod  ratio',
    '| peak RSS MB: tsmesh istiod ratio',
    '| change p50 ms: tsmesh istiod ratio',
    '| change p99 ms: tsmesh istiod ratio',
    '| sync cpu s: tsmesh istiod | load cpu s: with tsmesh, istiod',
  ].join(' ');
  console.log(head);
  const sizes = [...new Set(rows.map((r) => r.clients))];
  for (const clients of sizes) {
    for (const mode of MODES) {
      const t = rows.find((r) => r.cp === 'tsmesh' && r.clients === clients && r.mode === mode);
      const i = rows.find((r) => r.cp === 'istiod' && r.clients === clients && r.mode === mode);
      if (!t && !i) continue;
      const sync = (r?: Row) => (r && !r.error ? (r.syncS ?? undefined) : undefined);
      const syncCell = (r?: Row) => (r?.error ? 'error' : r && r.syncS === undefined ? `>${TIMEOUT_MS / 1000}` : cell(sync(r)));
      const peak = (r?: Row) => (r && !r.error ? r.peakMB : undefined);
      const p50 = (r?: Row) => r?.prop?.p50;
      const p99 = (r?: Row) => (r?.prop && r.prop.got === r.prop.connected ? r.prop.p99 : undefined);
      console.log(
        [
          n0(clients).padStart(7),
          mode.padEnd(5),
          `| ${syncCell(t).padStart(14)} ${syncCell(i).padStart(7)} ${ratio(sync(t), sync(i)).padStart(6)}`,
          `| ${cell(peak(t), 0).padStart(18)} ${cell(peak(i), 0).padStart(6)} ${ratio(peak(t), peak(i)).padStart(5)}`,
          `| ${cell(p50(t), 0).padStart(20)} ${cell(p50(i), 0).padStart(6)} ${ratio(p50(t), p50(i)).padStart(5)}`,
          `| ${cell(p99(t), 0).padStart(20)} ${cell(p99(i), 0).padStart(6)} ${ratio(p99(t), p99(i)).padStart(5)}`,
          `| ${cell(t?.cpuS).padStart(17)} ${cell(i?.cpuS).padStart(6)} | ${cell(t?.loadCpuS).padStart(22)}, ${cell(i?.loadCpuS)}`,
        ].join(' '),
      );
    }
  }
  console.log(`(sync: until every client has ACKed CDS+EDS+LDS+RDS; change: from the WorkloadEntry file write to each client holding the new address, changes 2..${CHANGES} pooled when BENCH_CHANGES > 1, p99 shown only when every client got it; load cpu: all load processes during sync)`);

  // The issue's goals, on this run's figures.
  const ts = (clients: number, mode: Mode) => rows.find((r) => r.cp === 'tsmesh' && r.clients === clients && r.mode === mode && !r.error);
  const goal = (label: string, ok: boolean | undefined, detail: string) => console.log(`goal ${ok === undefined ? 'not measured' : ok ? 'MET    ' : 'NOT MET'}: ${label}: ${detail}`);
  for (const mode of MODES) {
    const r1k = ts(1000, mode);
    goal(`1,000 proxies synced <= 3 s (${mode})`, r1k ? r1k.syncS !== undefined && r1k.syncS <= 3 : undefined, r1k ? `${r1k.syncS === undefined ? 'timeout' : `${f1(r1k.syncS)} s`}` : 'no 1,000 run');
    const p99 = r1k?.prop && r1k.prop.got === r1k.prop.connected ? r1k.prop.p99 : undefined;
    const first = r1k?.propFirst && r1k.propFirst !== r1k.prop ? `; the first change after sync ${f1(r1k.propFirst.p99)} ms` : '';
    goal(`endpoint change to 1,000 proxies at p99 <= 250 ms (${mode})`, r1k ? p99 !== undefined && p99 <= 250 : undefined, r1k ? (p99 === undefined ? 'not all got it' : `${f1(p99)} ms${first}`) : 'no 1,000 run');
    const r2k = ts(2000, mode);
    goal(`2,000 proxies in <= 500 MB (${mode})`, r2k ? r2k.peakMB <= 500 : undefined, r2k ? `${n0(r2k.peakMB)} MB peak` : 'no 2,000 run');
  }
  const pairs = rows.filter((r) => r.cp === 'tsmesh').map((t) => [t, rows.find((i) => i.cp === 'istiod' && i.clients === t.clients && i.mode === t.mode)] as const);
  const compared = pairs.filter(([, i]) => i && !i.error);
  if (compared.length) {
    const behind: string[] = [];
    const istiodTimedOut = compared.filter(([, i]) => i!.syncS === undefined).length;
    for (const [t, i] of compared) {
      const at = `${n0(t.clients)} ${t.mode}`;
      if (t.syncS === undefined || (i!.syncS !== undefined && t.syncS > i!.syncS)) behind.push(`sync ${at}`);
      if (t.peakMB > i!.peakMB) behind.push(`RSS ${at}`);
      const tp = t.prop?.got === t.prop?.connected ? t.prop?.p99 : undefined;
      const ip = i!.prop?.got === i!.prop?.connected ? i!.prop?.p99 : undefined;
      if (tp === undefined || (ip !== undefined && tp > ip)) behind.push(`p99 ${at}`);
    }
    const note = istiodTimedOut ? ` (istiod did not sync within the timeout in ${istiodTimedOut} of them, so its change p99 is missing there)` : '';
    goal('ahead of istiod on sync, RSS and change p99 at every size', behind.length === 0, `${behind.length ? `behind on ${behind.join(', ')}` : `in all ${compared.length} pairs`}${note}`);
  } else {
    goal('ahead of istiod on sync, RSS and change p99 at every size', undefined, istiodMissing ? 'istiod not run' : 'no pairs');
  }
  for (const clients of [...new Set(rows.map((r) => r.clients))]) {
    const s = ts(clients, 'sotw');
    const d = ts(clients, 'delta');
    if (s && d) goal(`Delta no slower than SotW (${n0(clients)})`, d.syncS !== undefined && s.syncS !== undefined && d.syncS <= s.syncS * 1.1, `sync ${d.syncS === undefined ? 'timeout' : f1(d.syncS)} s vs ${s.syncS === undefined ? 'timeout' : f1(s.syncS)} s (10% allowed for noise)`);
  }
  if (build) console.log(`tsmesh build: ${f1(build.totalHeapMB)} MB heap for store + registry + PushContext + one proxy's resources; istiod's published guidance: 1 vCPU and 1.5 GB for 1,000 services / 2,000 sidecars`);
}
