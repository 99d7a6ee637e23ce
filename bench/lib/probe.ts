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
 */
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
  /** Window end, ms since the probe started. */
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

export async function fixedRate(url: string, rps: number, seconds: number, opts: ProbeOptions = {}): Promise<ProbeResult> {
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
