/**
 * Runs h2load (Debian package nghttp2-client) for a closed-loop HTTP/2 throughput figure: h2c with
 * prior knowledge, `connections` clients each keeping `streams` requests in flight. h2load prints
 * no percentiles, so p50/p99 come from its per-request log (`--log-file`: start time, status,
 * microseconds to the end of the response).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureTools } from './tools.ts';
import { runTool } from './procs.ts';
import { percentile } from './probe.ts';
import type { WrkResult } from './wrk.ts';

export interface H2loadOptions {
  seconds?: number;
  connections?: number;
  /** Concurrent streams per connection (h2load -m). */
  streams?: number;
  /** A request body file: with it, every request is a POST of those bytes (gRPC). */
  dataFile?: string;
  headers?: Record<string, string>;
}

export async function h2load(url: string, opts: H2loadOptions = {}): Promise<WrkResult> {
  const bin = ensureTools().path.h2load;
  if (!bin) throw new Error(`h2load: ${ensureTools().why.h2load}`);
  const seconds = opts.seconds ?? 5;
  const dir = mkdtempSync(join(tmpdir(), 'tsmesh-h2load-'));
  const log = join(dir, 'requests.tsv');
  const args = ['-t1', `-c${opts.connections ?? 8}`, `-m${opts.streams ?? 4}`, `-D${seconds}`, `--log-file=${log}`];
  if (opts.dataFile) args.push('-d', opts.dataFile);
  for (const [k, v] of Object.entries(opts.headers ?? {})) args.push('-H', `${k}: ${v}`);
  args.push(url);
  try {
    const out = await runTool(bin, args, (seconds + 30) * 1000);
    const rps = Number(/finished in [\d.]+\w+, ([\d.]+) req\/s/.exec(out)?.[1] ?? NaN);
    const req = /requests: \d+ total, \d+ started, (\d+) done, (\d+) succeeded, (\d+) failed, \d+ errored, (\d+) timeout/.exec(out);
    const lat = latenciesMs(readFileSync(log, 'utf8'));
    return {
      rps,
      p50ms: percentile(lat, 50),
      p99ms: percentile(lat, 99),
      errors: req ? Number(req[3]) + Number(req[4]) : NaN,
      requests: req ? Number(req[2]) : NaN,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Sorted per-request latencies (ms) from h2load's log: `<start us>\t<status>\t<duration us>`. */
function latenciesMs(text: string): Float64Array {
  const lines = text.split('\n');
  const out = new Float64Array(lines.length);
  let n = 0;
  for (const l of lines) {
    const tab = l.lastIndexOf('\t');
    if (tab > 0) out[n++] = Number(l.slice(tab + 1)) / 1000;
  }
  return out.subarray(0, n).sort();
}
