/**
 * `npm run bench -- controlplane`: what the control plane costs at istiod's published scale.
 * 1. Build, in a child with --expose-gc: load + validate 1,000 services x 10 endpoints of YAML,
 *    the registry and PushContext, and one sidecar's CDS/EDS/LDS/RDS (count, encoded bytes).
 * 2. Serve: `tsmesh controlplane` as a child on that config; 500 simulated Envoys (two load
 *    processes) subscribe over raw ADS, SotW then delta; time until every one has ACKed all four
 *    types, with the control plane's CPU seconds and peak RSS from /proc, and bytes on the wire.
 * 3. Propagation: one WorkloadEntry's address is rewritten on disk; time until every client has
 *    the EDS update, and how many responses of other types followed it.
 * 4. The istiod anchor and our figures as ratios. Sizes: BENCH_SERVICES, BENCH_CLIENTS; BENCH_MODES.
 * Every wait is bounded (BENCH_TIMEOUT_S, default 120 s); on timeout what was reached is printed.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cpuSeconds, rssMB, sleep, start, type Started } from './lib/procs.ts';
import { freePort } from './lib/ports.ts';
import { percentile } from './lib/probe.ts';
import { writeMesh, type WrittenMesh } from './lib/mesh_config.ts';
import { LoadProc } from './lib/load_driver.ts';
import type { BuildResult, TypeFigures } from './lib/cp_build.ts';
import { TYPE } from '../src/xds/types.ts';

const SERVICES = Number(process.env.BENCH_SERVICES ?? 1000);
const CLIENTS = Number(process.env.BENCH_CLIENTS ?? 500);
const ENDPOINTS = 10;
const NAMESPACES = 5;
const TIMEOUT_MS = Number(process.env.BENCH_TIMEOUT_S ?? 120) * 1000;
/** Two load processes past 100 clients: one Node process decoding 500 CDS answers is the bottleneck. */
const LOAD_PROCS = CLIENTS > 100 ? 2 : 1;
/** Which ADS modes to serve (BENCH_MODES=sotw,delta). */
const MODES = (process.env.BENCH_MODES ?? 'sotw,delta').split(',').map((m) => m.trim());
/** Extra node flags for the control plane, e.g. BENCH_CP_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof". */
const CP_NODE_ARGS = (process.env.BENCH_CP_NODE_ARGS ?? '').split(' ').filter(Boolean);

const SHORT: Record<string, string> = { [TYPE.CLUSTER]: 'CDS', [TYPE.ENDPOINT]: 'EDS', [TYPE.LISTENER]: 'LDS', [TYPE.ROUTE]: 'RDS' };
const n0 = (n: number) => Math.round(n).toLocaleString('en-US');
const f1 = (n: number) => n.toFixed(1);
const mbytes = (b: number) => `${(b / 1048576).toFixed(1)} MiB`;

interface ServeResult {
  mode: string;
  synced: number;
  syncS: number;
  cpuS: number;
  peakMB: number;
  idleMB: number;
  bytes: number;
  loadCpuS: number;
}

export async function run(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'tsmesh-cpbench-'));
  const configDir = join(dir, 'config');
  try {
    const mesh = writeMesh(configDir, { services: SERVICES, endpointsPerService: ENDPOINTS, namespaces: NAMESPACES });
    const tenth = Math.ceil(SERVICES / 10);
    console.log(
      `mesh: ${n0(SERVICES)} services x ${ENDPOINTS} endpoints (WorkloadEntry) in ${NAMESPACES} namespaces, ports 8080/http + 9000/tcp; ` +
        `${n0(tenth)} DestinationRules (v1/v2) + ${n0(tenth)} VirtualServices (90/10); ${n0(mesh.resources)} resources in ${n0(mesh.files)} files`,
    );

    const build = await buildPhase(configDir);
    const served: ServeResult[] = [];
    // A service with subsets, different per mode, so each mode sees a real change.
    const moves: Array<[string, number]> = [['sotw', 10 % SERVICES], ['delta', 20 % SERVICES]];
    for (const [mode, svc] of moves.filter(([m]) => MODES.includes(m))) {
      const r = await servePhase(configDir, mesh, mode as 'sotw' | 'delta', svc);
      if (r) served.push(r);
    }
    anchor(build, served);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// ---------- 1. build ----------

async function buildPhase(configDir: string): Promise<BuildResult | undefined> {
  console.log('\n-- build (in-process, heap after full GC) --');
  const out = await new Promise<string>((resolve) => {
    execFile(
      process.execPath,
      ['--expose-gc', '--import', 'tsx', 'bench/lib/cp_build.ts', configDir, 'ns-0', 'ns-1'],
      { timeout: TIMEOUT_MS, maxBuffer: 16 * 1048576 },
      (err, stdout, stderr) => resolve(err ? `${stdout}\nERROR ${err.message}\n${stderr.slice(-2000)}` : stdout),
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

async function startControlPlane(configDir: string): Promise<{ cp: Started; grpcPort: number }> {
  const [grpcPort, httpPort] = [await freePort(), await freePort()];
  // start()'s own readiness wait is 20 s; loading 11k resources may take longer on a busy box.
  const cp = await start('tsmesh controlplane', process.execPath, [...CP_NODE_ARGS, '--import', 'tsx', '--import', './bench/lib/cp_memlog.ts', 'src/cli/main.ts', 'controlplane', '--config', configDir, '--grpc-port', String(grpcPort), '--http-port', String(httpPort)], {});
  const deadline = Date.now() + TIMEOUT_MS;
  while (!/tsmesh controlplane ready/.test(cp.output())) {
    if (cp.proc.exitCode !== null || Date.now() > deadline) {
      await cp.stop();
      throw new Error(`tsmesh controlplane did not become ready:\n${cp.output().slice(-3000)}`);
    }
    await sleep(50);
  }
  return { cp, grpcPort };
}

async function servePhase(configDir: string, mesh: WrittenMesh, mode: 'sotw' | 'delta', moveSvc: number): Promise<ServeResult | undefined> {
  console.log(`\n-- serve: ${n0(CLIENTS)} ${mode === 'sotw' ? 'SotW' : 'delta'} ADS clients (${LOAD_PROCS} load process${LOAD_PROCS > 1 ? 'es' : ''}) --`);
  const tReady = performance.now();
  const { cp, grpcPort } = await startControlPlane(configDir);
  const pid = cp.proc.pid!;
  const loads: LoadProc[] = [];
  try {
    const idleMB = rssMB(pid);
    console.log(`control plane ready in ${f1((performance.now() - tReady) / 1000)} s: cpu ${f1(cpuSeconds(pid))} s, rss ${n0(idleMB)} MB`);
    const address = `127.0.0.1:${grpcPort}`;
    const namespaces = mesh.namespaces;

    // Connect everyone and wait for every client to ACK CDS, EDS, LDS and RDS.
    let peak = rssMB(pid);
    const mem = { heap: 0, external: 0 };
    const sampler = setInterval(() => {
      peak = Math.max(peak, rssMB(pid));
      const m = lastMem(cp);
      if (m) [mem.heap, mem.external] = [Math.max(mem.heap, m.heap), Math.max(mem.external, m.external)];
    }, 100);
    const cpu0 = cpuSeconds(pid);
    const t0 = performance.timeOrigin + performance.now();
    const per = Math.ceil(CLIENTS / LOAD_PROCS);
    for (let i = 0; i < LOAD_PROCS; i++) {
      const count = Math.min(per, CLIENTS - i * per);
      if (count > 0) loads.push(new LoadProc({ address, mode, first: i * per, count, namespaces }));
    }
    const deadline = Date.now() + TIMEOUT_MS;
    const syncedEvents = await Promise.all(loads.map((l) => l.waitFor('synced', deadline)));
    clearInterval(sampler);
    peak = Math.max(peak, rssMB(pid));
    const cpuS = cpuSeconds(pid) - cpu0;
    const loadCpuS = loads.reduce((a, l) => a + cpuSeconds(l.pid), 0);
    const done = syncedEvents.every(Boolean);
    const synced = loads.reduce((a, l) => a + (l.last('synced')?.count ?? l.last('progress')?.synced ?? 0), 0);
    const lastAt = Math.max(...syncedEvents.map((e) => e?.lastAt ?? 0));
    const syncS = done ? (lastAt - t0) / 1000 : TIMEOUT_MS / 1000;
    const bytes = loads.reduce((a, l) => a + Math.max(l.last('synced')?.bytes ?? 0, l.last('progress')?.bytes ?? 0), 0);
    const responses = loads.reduce((a, l) => a + Math.max(l.last('synced')?.responses ?? 0, l.last('progress')?.responses ?? 0), 0);
    const failed = loads.reduce((a, l) => a + (l.last('progress')?.failed ?? 0), 0);
    console.log(
      `${done ? 'all' : `TIMEOUT: only`} ${n0(synced)}/${n0(CLIENTS)} ACKed CDS+EDS+LDS+RDS in ${f1(syncS)} s` +
        `   control plane: cpu ${f1(cpuS)} s, peak rss ${n0(peak)} MB (heap ${n0(mem.heap)} MB, buffers ${n0(mem.external)} MB)   sent ${mbytes(bytes)} in ${n0(responses)} responses` +
        `   load generator cpu ${f1(loadCpuS)} s${failed ? `   ${failed} streams failed` : ''}`,
    );
    if (!done) for (const l of loads) if (l.errorOutput) console.log(`load process stderr: ${l.errorOutput.slice(-1000)}`);

    // Quiet period: what 500 idle streams and the store's periodic rescan cost.
    const cpuIdle0 = cpuSeconds(pid);
    await sleep(3000);
    const idleMem = lastMem(cp);
    console.log(
      `idle with ${n0(synced)} connected, 3 s: cpu ${f1(cpuSeconds(pid) - cpuIdle0)} s, rss ${n0(rssMB(pid))} MB` +
        (idleMem ? ` (heap ${n0(idleMem.heap)} MB, buffers ${n0(idleMem.external)} MB)` : ''),
    );

    await propagate(cp, loads, mesh, moveSvc, synced);
    return { mode, synced, syncS, cpuS, peakMB: peak, idleMB, bytes, loadCpuS };
  } finally {
    await Promise.all(loads.map((l) => l.stop()));
    await cp.stop();
  }
}

async function propagate(cp: Started, loads: LoadProc[], mesh: WrittenMesh, svc: number, connected: number): Promise<void> {
  const pid = cp.proc.pid!;
  const endpoint = 3;
  const marks = loads.map((l) => l.events.length);
  const armDeadline = Date.now() + 10_000;
  // Arm first (clients start watching for the new address), then write the file.
  const address = movedAddress(svc, endpoint);
  for (const l of loads) l.send({ cmd: 'arm', address });
  await Promise.all(loads.map((l, i) => l.waitFor('armed', armDeadline, marks[i])));
  const logMark = cp.output().length;
  const cpu0 = cpuSeconds(pid);
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
  const lat = reports.flatMap((r) => r?.received ?? []).map((at) => at - tWrite).sort((a, b) => a - b);
  const byType: Record<string, number> = {};
  for (const r of reports) for (const [t, n] of Object.entries(r?.byType ?? {})) byType[t] = (byType[t] ?? 0) + n;
  const others = Object.entries(byType).filter(([t]) => t !== TYPE.ENDPOINT);
  const pushes = cp
    .output()
    .slice(logMark)
    .split('\n')
    .filter((l) => l.includes('ads: push of'))
    .map((l) => l.replace(/^.*ads: push of /, '').slice(0, 140));
  console.log(
    `propagation (moved ${mesh.host(svc)} endpoint ${endpoint} to ${address}): ${updated.every(Boolean) ? 'all' : 'TIMEOUT: only'} ${n0(lat.length)}/${n0(connected)} clients got the EDS update;` +
      ` median ${f1(percentile(lat, 50))} ms, max ${f1(lat[lat.length - 1] ?? NaN)} ms after the file write; control plane cpu ${f1(cpuS)} s`,
  );
  console.log(
    `  responses after the change: EDS ${n0(byType[TYPE.ENDPOINT] ?? 0)}, other types ${others.length ? others.map(([t, n]) => `${SHORT[t] ?? t} ${n}`).join(', ') : '0'}` +
      ` (${others.length ? 'NOT EDS-only' : 'EDS only'});  control plane pushes: ${pushes.length ? pushes.join(' | ') : 'none logged'}`,
  );
}

/** The control plane's latest heap / external figures (MB), from cp_memlog.ts lines. */
function lastMem(cp: Started): { heap: number; external: number } | undefined {
  const tail = cp.output().slice(-4000);
  const m = /MEM (\d+) (\d+) (\d+)\n[^]*$/.exec(tail);
  return m ? { heap: Number(m[1]) / 1048576, external: Number(m[2]) / 1048576 } : undefined;
}

function movedAddress(n: number, i: number): string {
  // Mirrors mesh_config.ts: the moved address of endpoint i of service n.
  return `127.${1 + (n >> 8)}.${n & 255}.${200 + i}`;
}

// ---------- 4. the anchor ----------

function anchor(build: BuildResult | undefined, served: ServeResult[]): void {
  console.log('\n-- against istiod --');
  console.log('istiod: 1,000 services / 2,000 sidecars on 1 vCPU and 1.5 GB');
  const per1kSvc = (mb: number) => (mb * 1000) / SERVICES;
  if (build) {
    console.log(
      `tsmesh build: ${f1(per1kSvc(build.totalHeapMB))} MB heap (${f1(per1kSvc(build.totalRssMB))} MB rss) per 1,000 services for store + registry + PushContext + one proxy's resources`,
    );
  }
  for (const s of served) {
    const cpuPer500 = (s.cpuS * 500) / Math.max(1, s.synced);
    // Linear extrapolation to istiod's 2,000 sidecars: a rough guide, since shapes are shared.
    console.log(
      `tsmesh ${s.mode.padEnd(5)}: ${f1(per1kSvc(s.peakMB))} MB peak rss per 1,000 services (${f1(s.peakMB / 1500)}x istiod's 1.5 GB) with ${n0(s.synced)} sidecars;` +
        ` ${f1(cpuPer500)} CPU s per 500 clients to sync (${f1(cpuPer500 * 4)} s for 2,000); ${f1(s.syncS)} s wall; ${mbytes((s.bytes * 500) / Math.max(1, s.synced))} per 500 clients`,
    );
  }
}
