/**
 * An open-loop, fixed-rate latency probe: requests are sent on a schedule whatever the responses
 * do, and each latency counts from its scheduled send time, so a stall is not hidden
 * (coordinated omission). Bounded by count and by time.
 */
import { Pool } from 'undici';

export interface ProbeResult {
  sent: number;
  ok: number;
  errors: number;
  p50ms: number;
  p90ms: number;
  p99ms: number;
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

export async function fixedRate(url: string, rps: number, seconds: number): Promise<ProbeResult> {
  const u = new URL(url);
  const pool = new Pool(u.origin, { connections: 64, pipelining: 1 });
  const total = Math.round(rps * seconds);
  const interval = 1000 / rps;
  const lat: number[] = [];
  let ok = 0;
  let errors = 0;
  const start = performance.now();
  const inflight: Promise<void>[] = [];
  const hardStop = start + seconds * 1000 + 10_000;
  for (let i = 0; i < total; i++) {
    const due = start + i * interval;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    if (performance.now() > hardStop) break;
    inflight.push(
      pool
        .request({ path: u.pathname, method: 'GET', headers: { host: u.host } })
        .then(async (res) => {
          await res.body.dump();
          // The first half second warms connections and the JIT; it is not recorded.
          if (due - start >= 500) lat.push(performance.now() - due);
          if (res.statusCode < 400) ok++;
          else errors++;
        })
        .catch(() => {
          errors++;
        }),
    );
  }
  await Promise.all(inflight);
  await pool.close();
  lat.sort((a, b) => a - b);
  return { sent: inflight.length, ok, errors, p50ms: percentile(lat, 50), p90ms: percentile(lat, 90), p99ms: percentile(lat, 99) };
}
