/** Runs wrk (Debian package) for a closed-loop HTTP/1.1 throughput figure with latency percentiles. */
import { ensureTools } from './tools.ts';
import { runTool } from './procs.ts';

/** What one closed-loop load run measured (wrk and h2load alike). */
export interface WrkResult {
  rps: number;
  p50ms: number;
  p99ms: number;
  errors: number;
  /** Requests completed during the run. */
  requests: number;
}

function toMs(v: string): number {
  const m = /^([\d.]+)(us|ms|s)$/.exec(v.trim());
  if (!m) return NaN;
  const n = Number(m[1]);
  return m[2] === 'us' ? n / 1000 : m[2] === 's' ? n * 1000 : n;
}

/** `wrk -t1 -c<conns> -d<secs>s --latency <url>`; one thread keeps the other core for the proxy. */
export async function wrk(url: string, opts: { connections?: number; seconds?: number; threads?: number; headers?: Record<string, string> } = {}): Promise<WrkResult> {
  const seconds = opts.seconds ?? 5;
  const headers = Object.entries(opts.headers ?? {}).flatMap(([k, v]) => ['-H', `${k}: ${v}`]);
  const args = [`-t${opts.threads ?? 1}`, `-c${opts.connections ?? 32}`, `-d${seconds}s`, '--latency', ...headers, url];
  const bin = ensureTools().path.wrk;
  if (!bin) throw new Error(`wrk: ${ensureTools().why.wrk}`);
  const out = await runTool(bin, args, (seconds + 30) * 1000);
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? NaN);
  const requests = Number(/(\d+) requests in/.exec(out)?.[1] ?? NaN);
  const p50 = /\s50%\s+([\d.]+\w+)/.exec(out)?.[1] ?? '';
  const p99 = /\s99%\s+([\d.]+\w+)/.exec(out)?.[1] ?? '';
  const errLine = /Non-2xx or 3xx responses:\s+(\d+)/.exec(out);
  const sockErr = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const errors = Number(errLine?.[1] ?? 0) + (sockErr ? sockErr.slice(1).reduce((a, b) => a + Number(b), 0) : 0);
  return { rps, p50ms: toMs(p50), p99ms: toMs(p99), errors, requests };
}
