/**
 * `npm run bench -- soak`: one tsmesh proxy (static bootstrap, HTTP/1.1 keep-alive, 1 KiB from an
 * nginx upstream) under a steady open-loop load for a bounded time; every step a row with elapsed
 * time, RSS, V8 heap, that window's p50/p99 and errors; at the end whether RSS grew beyond the
 * first minute's plateau. Issue 8's memory goal: bounded growth over a 10-minute soak.
 *
 * Environment: BENCH_SOAK_SECONDS (600), BENCH_SOAK_RATE (1000 req/s), BENCH_SOAK_STEP_S (30),
 * BENCH_NO_INSTALL=1 (never apt-get), plus tsmesh_proxy.ts's BENCH_PROXY_NODE_ARGS.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { rssMB, start, type Started } from './lib/procs.ts';
import { freePort } from './lib/ports.ts';
import { fixedRate, type ProbeWindow } from './lib/probe.ts';
import { httpBootstrap, nginxUpstream } from './lib/configs.ts';
import { ensureTools } from './lib/tools.ts';
import { startTsmeshProxy } from './lib/tsmesh_proxy.ts';
import { num } from './lib/table.ts';

const SECONDS = Number(process.env.BENCH_SOAK_SECONDS ?? 600);
const RATE = Number(process.env.BENCH_SOAK_RATE ?? 1000);
const STEP_S = Number(process.env.BENCH_SOAK_STEP_S ?? 30);
/** How often RSS and heap are read; a row shows the window's highest RSS and lowest heap. */
const SAMPLE_MS = 5000;
const PLATEAU_MS = 60_000;

/**
 * Growth beyond the plateau that counts as growth: 10 MB or 10% of the plateau, whichever is more.
 * V8 resizes its young generation and old-space pages in MB-sized steps and returns memory to the
 * OS lazily, so RSS of a healthy Node process wanders by a few MB; a leak of even 100 bytes per
 * request at 1,000 req/s is 6 MB a minute, 50 MB over nine minutes, far above this.
 */
function growthThresholdMB(plateau: number): number {
  return Math.max(10, plateau * 0.1);
}

interface Sample {
  ms: number;
  rss: number;
  /** server.memory_allocated (V8 heap used) from the proxy's admin /stats, bytes -> MB. */
  heap: number;
}

function fixedRow(cells: string[]): string {
  return cells.map((c, i) => (i === 0 ? c.padEnd(9) : c.padStart(9))).join('  ');
}

async function heapUsedMB(adminPort: number): Promise<number> {
  try {
    const r = await request(`http://127.0.0.1:${adminPort}/stats?filter=${encodeURIComponent('^server\\.memory_allocated$')}`, { headersTimeout: 2000, bodyTimeout: 2000 });
    const m = /server\.memory_allocated: (\d+)/.exec(await r.body.text());
    return m ? Number(m[1]) / 1024 / 1024 : NaN;
  } catch {
    return NaN;
  }
}

export async function run(): Promise<void> {
  const tools = ensureTools();
  const dir = mkdtempSync(join(tmpdir(), 'tsmesh-soak-'));
  const procs: Started[] = [];
  try {
    const up = await freePort();
    if (tools.path.nginx) {
      procs.push(await start('nginx upstream', tools.path.nginx, ['-c', nginxUpstream(dir, up), '-e', join(dir, 'nginx-up.err')], { port: up }));
    } else {
      console.log(`nginx ${tools.why.nginx}: upstream is node's http server instead`);
      procs.push(await start('node upstream', process.execPath, ['--import', 'tsx', 'bench/lib/node_upstream.ts', String(up)], { port: up }));
    }
    const [listen, admin] = [await freePort(), await freePort()];
    const boot = httpBootstrap(dir, 'soak', listen, up, admin);
    const px = await startTsmeshProxy('tsmesh soak', ['--bootstrap', boot], { port: listen });
    procs.push(px);
    const pid = px.proc.pid!;
    console.log(`soak: one tsmesh proxy (static bootstrap, HTTP/1.1 keep-alive, 1 KiB), open loop at ${RATE} req/s for ${SECONDS} s, a row every ${STEP_S} s`);
    console.log(`RSS MB = highest sampled in the window; heap MB = lowest V8 heap used sampled (closest to live data after GC); samples every ${SAMPLE_MS / 1000} s; idle RSS before load ${rssMB(pid).toFixed(0)} MB`);

    const samples: Sample[] = [];
    const t0 = performance.now();
    let sampling = false;
    const sample = async () => {
      if (sampling) return;
      sampling = true;
      const heap = await heapUsedMB(admin);
      samples.push({ ms: performance.now() - t0, rss: rssMB(pid), heap });
      sampling = false;
    };
    const timer = setInterval(() => void sample(), SAMPLE_MS);
    const header = ['elapsed s', 'RSS MB', 'heap MB', 'p50 ms', 'p99 ms', 'ok', 'errors'];
    let lastEnd = 0;
    let printedHeader = false;
    const onWindow = (w: ProbeWindow) => {
      const inWin = samples.filter((s) => s.ms > lastEnd && s.ms <= w.endMs + 1);
      lastEnd = w.endMs;
      const rss = inWin.length ? Math.max(...inWin.map((s) => s.rss)) : rssMB(pid);
      const heaps = inWin.map((s) => s.heap).filter(Number.isFinite);
      const row = [num(w.endMs / 1000), num(rss), num(heaps.length ? Math.min(...heaps) : NaN, 1), num(w.p50ms, 3), num(w.p99ms, 3), String(w.ok), String(w.errors)];
      // One row at a time, fixed widths, so a 10-minute run shows progress as it goes.
      if (!printedHeader) console.log(fixedRow(header));
      printedHeader = true;
      console.log(fixedRow(row));
    };
    let result;
    try {
      result = await fixedRate(`http://127.0.0.1:${listen}/`, RATE, SECONDS, { windowMs: STEP_S * 1000, onWindow });
    } finally {
      clearInterval(timer);
    }
    console.log(`total: sent ${result.sent}, ok ${result.ok}, errors ${result.errors}; p50 ${result.p50ms.toFixed(3)} ms, p99 ${result.p99ms.toFixed(3)} ms; probe lag max ${result.maxSendLagMs.toFixed(1)} ms`);
    console.log(verdict(samples));
  } finally {
    for (const p of procs.reverse()) await p.stop().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Whether RSS grew beyond the first minute's plateau (its highest sample), and the slope after it. */
function verdict(samples: Sample[]): string {
  const first = samples.filter((s) => s.ms <= PLATEAU_MS);
  const after = samples.filter((s) => s.ms > PLATEAU_MS);
  if (!first.length || after.length < 2) return `RSS growth: no verdict (the soak needs more than ${PLATEAU_MS / 1000} s after the first minute; BENCH_SOAK_SECONDS=${SECONDS})`;
  const plateau = Math.max(...first.map((s) => s.rss));
  const peak = Math.max(...after.map((s) => s.rss));
  const last = after[after.length - 1].rss;
  const limit = growthThresholdMB(plateau);
  // Least-squares slope of RSS after the first minute, in MB per minute.
  const n = after.length;
  const mx = after.reduce((a, s) => a + s.ms, 0) / n;
  const my = after.reduce((a, s) => a + s.rss, 0) / n;
  const slope = (after.reduce((a, s) => a + (s.ms - mx) * (s.rss - my), 0) / after.reduce((a, s) => a + (s.ms - mx) ** 2, 0)) * 60_000;
  const grew = peak - plateau > limit;
  return (
    `RSS growth: first minute's plateau ${plateau.toFixed(0)} MB (highest sample in 0-60 s); after it highest ${peak.toFixed(0)} MB, last ${last.toFixed(0)} MB ` +
    `(+${(peak - plateau).toFixed(1)} MB; slope ${slope >= 0 ? '+' : ''}${slope.toFixed(2)} MB/min). Threshold: +${limit.toFixed(0)} MB (10 MB or 10% of the plateau: V8 moves RSS by a few MB in steps; ` +
    `a 100 B/request leak at 1,000 req/s adds 6 MB/min). ${grew ? 'GREW beyond the plateau' : 'Bounded: no growth beyond the plateau'}`
  );
}
