/**
 * An open-loop, fixed-rate latency probe: requests are sent on a schedule whatever the responses
 * do (a slow answer never delays the next send, so a stall is not hidden the way a closed loop
 * hides it: coordinated omission). Bounded by count and by time.
 *
 * Latency counts from the moment a request is handed to the client, not from its slot in the
 * schedule: node timers fire at 1 ms granularity at best, so counting from the slot would add the
 * probe's own timer lateness (up to ~1 ms at 1,000 rps) to every sample and swamp the sub-ms
 * differences this probe exists to show. Each wake-up sends every request that is due, so the
 * rate holds; how late the probe itself ran is reported as `maxSendLagMs`.
 *
 * `fixedRate` runs the probe in a process of its own (this file is its entry). In the bench's
 * process it shared an event loop with the RSS sampler, whose /proc reads blocked it for 10–19 ms
 * twice a second on a machine with slow system calls. The requests due in a stall then went out
 * in one burst and queued behind each other in the proxies: about 3% of them at 1,000 req/s,
 * enough to set the p99 the two-hop goal is judged on.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type { Socket } from 'node:net';
import { createInterface } from 'node:readline';
import { Pool } from 'undici';

export interface ProbeResult {
  sent: number;
  ok: number;
  errors: number;
  p50ms: number;
  p90ms: number;
  p99ms: number;
  /** The largest delay between a request's slot and its send (the probe's own lag). */
  maxSendLagMs: number;
}

/** What a windowed run saw in one window: requests that completed in it (soak tables). */
export interface ProbeWindow {
  /** Window end, ms since the run started (for fixedRate: since it was called). */
  endMs: number;
  ok: number;
  errors: number;
  p50ms: number;
  p99ms: number;
}

export interface ProbeOptions {
  /** Report every `windowMs` through `onWindow` (latencies of what completed in that window). */
  windowMs?: number;
  onWindow?: (w: ProbeWindow) => void;
}

export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/**
 * The probe process: started on the first fixedRate and kept for the next ones, so its JIT is as
 * warm in the tenth run as in-process it would be (a fresh process per run read p99 0.5 ms higher
 * against the same nginx; a new process warms up for 2 s before its first run). Unreferenced
 * between runs, so the bench exits without stopping it; it exits when its stdin closes.
 */
let probeProc: ChildProcess | undefined;
/** The run in progress and the process it runs in; lines of any other process are not its own. */
let run: { child: ChildProcess; onLine(line: string): void } | undefined;
let probeErr = '';

function probeProcess(): ChildProcess {
  if (probeProc && probeProc.exitCode === null && probeProc.signalCode === null) return probeProc;
  const child = spawn(process.execPath, ['--import', 'tsx', import.meta.filename], { stdio: ['pipe', 'pipe', 'pipe'] });
  probeErr = '';
  child.stderr!.on('data', (d: Buffer) => (probeErr = (probeErr + d.toString()).slice(-4000)));
  child.on('error', (e) => (probeErr += `\n${e.message}`)); // reported by 'close'
  createInterface({ input: child.stdout! }).on('line', (line) => run?.child === child && run.onLine(line));
  // After the child's output is read to the end: a result it printed is never lost to its exit.
  child.on('close', () => {
    if (probeProc === child) probeProc = undefined; // the next run starts a new one
    if (run?.child === child) run.onLine('');
  });
  child.stdin!.on('error', () => undefined); // a dead child is reported by 'close'
  return (probeProc = child);
}

/** Pipes and process referenced while a run is on, so the bench waits for it, and not after. */
function hold(child: ChildProcess, on: boolean): void {
  for (const h of [child, child.stdin, child.stdout, child.stderr] as (ChildProcess | Socket | null)[]) {
    if (on) h?.ref();
    else h?.unref();
  }
}

/** The probe, run in its own process (see the top of this file); windows arrive as they close. */
export function fixedRate(url: string, rps: number, seconds: number, opts: ProbeOptions = {}): Promise<ProbeResult> {
  if (run) return Promise.reject(new Error('the latency probe runs one run at a time'));
  const child = probeProcess();
  hold(child, true);
  // Windows are timed here, as their lines arrive: the caller counts from this call.
  const calledAt = performance.now();
  return new Promise<ProbeResult>((resolve, reject) => {
    // The probe stops sending 10 s past its schedule and waits at most 10 s more for answers (and
    // a new process warms up for 2 s first); this only guards against a hung child.
    const guard = setTimeout(() => child.kill('SIGKILL'), seconds * 1000 + 40_000);
    const done = (r: ProbeResult | Error) => {
      clearTimeout(guard);
      run = undefined;
      hold(child, false);
      if (r instanceof Error) reject(r);
      else resolve(r);
    };
    const onLine = (line: string): void => {
      if (!line.startsWith('PROBE ')) {
        if (child.exitCode !== null || child.signalCode !== null) done(new Error(`the latency probe exited (${child.signalCode ?? child.exitCode}) without a result:\n${probeErr}`));
        return;
      }
      try {
        // JSON carries a percentile of no samples (NaN) as null.
        const m = JSON.parse(line.slice(6), (_k, v: unknown) => (v === null ? NaN : v)) as { window?: ProbeWindow; result?: ProbeResult };
        if (m.window) opts.onWindow?.({ ...m.window, endMs: performance.now() - calledAt });
        if (m.result) done(m.result);
      } catch (e) {
        // A caller's onWindow threw: this process's run goes on, so the next run gets a new one.
        child.kill('SIGKILL');
        if (probeProc === child) probeProc = undefined;
        done(e as Error);
      }
    };
    run = { child, onLine };
    child.stdin!.write(`${JSON.stringify({ url, rps, seconds, windowMs: opts.windowMs ?? 0 })}\n`);
  });
}

/** The probe's loop, in this process. */
export async function runFixedRate(url: string, rps: number, seconds: number, opts: ProbeOptions = {}): Promise<ProbeResult> {
  const u = new URL(url);
  const pool = new Pool(u.origin, { connections: 64, pipelining: 1 });
  const total = Math.round(rps * seconds);
  const interval = 1000 / rps;
  const lat = new Float64Array(total);
  let nLat = 0;
  let ok = 0;
  let errors = 0;
  let sent = 0;
  let maxLag = 0;
  const req = { path: u.pathname, method: 'GET' as const, headers: { host: u.host } };
  const start = performance.now();
  // Windows count by completion time, all requests (the first half second too).
  const windowMs = opts.windowMs ?? 0;
  let win: number[] = [];
  let winOk = 0;
  let winErr = 0;
  let winEnd = start + windowMs;
  const flush = (end: number): void => {
    const sorted = Float64Array.from(win).sort();
    opts.onWindow?.({ endMs: end - start, ok: winOk, errors: winErr, p50ms: percentile(sorted, 50), p99ms: percentile(sorted, 99) });
    win = [];
    winOk = winErr = 0;
  };
  const hardStop = start + seconds * 1000 + 10_000;
  // A count, not a list of promises: a soak sends hundreds of thousands of requests.
  let pending = 0;
  let drained: (() => void) | undefined;
  const settled = (): void => {
    if (--pending === 0 && drained) drained();
  };
  const send = (due: number): void => {
    const t0 = performance.now();
    if (t0 - due > maxLag) maxLag = t0 - due;
    // The first half second warms connections and the JIT; it is not recorded.
    const record = due - start >= 500;
    pending++;
    void pool
      .request(req)
      .then(
        async (res) => {
          await res.body.dump();
          const ms = performance.now() - t0;
          if (record) lat[nLat++] = ms;
          if (windowMs) win.push(ms);
          if (res.statusCode < 400) {
            ok++;
            winOk++;
          } else {
            errors++;
            winErr++;
          }
        },
        () => {
          errors++;
          winErr++;
        },
      )
      .finally(settled);
  };
  while (sent < total) {
    const now = performance.now();
    if (now > hardStop) break;
    // Everything due by now goes out in this wake-up.
    while (sent < total && start + sent * interval <= now) send(start + sent++ * interval);
    // The last window is flushed after the drain, so it holds the final answers too.
    if (windowMs && now >= winEnd && winEnd + windowMs / 2 < start + seconds * 1000) {
      flush(winEnd);
      winEnd += windowMs;
    }
    const next = start + sent * interval - performance.now();
    await new Promise((r) => setTimeout(r, next > 1 ? Math.floor(next) : 0));
  }
  // Bounded: what has not answered 10 s after the last send counts as an error.
  if (pending > 0) await new Promise<void>((r) => ((drained = r), setTimeout(r, 10_000).unref()));
  const stuck = pending;
  const failed = errors + stuck; // read before destroy() fails the stuck ones a second time
  if (windowMs && (win.length || winErr)) flush(performance.now());
  if (stuck > 0) await pool.destroy();
  else await pool.close();
  const sorted = lat.slice(0, nLat).sort();
  return { sent, ok, errors: failed, p50ms: percentile(sorted, 50), p90ms: percentile(sorted, 90), p99ms: percentile(sorted, 99), maxSendLagMs: maxLag };
}

if (process.argv[1] === import.meta.filename) {
  // One run per line on stdin, one after another; the parent waits for each result. A parent that
  // went away (its stdin closed) stops a run in progress too.
  process.stdin.on('end', () => process.exit(0));
  const out = (m: object) => process.stdout.write(`PROBE ${JSON.stringify(m)}\n`);
  let warm = false;
  for await (const line of createInterface({ input: process.stdin })) {
    const o = JSON.parse(line) as { url: string; rps: number; seconds: number; windowMs: number };
    if (!warm) await runFixedRate(o.url, o.rps, 2); // the JIT, not measured
    warm = true;
    out({ result: await runFixedRate(o.url, o.rps, o.seconds, o.windowMs ? { windowMs: o.windowMs, onWindow: (window) => out({ window }) } : {}) });
  }
}
