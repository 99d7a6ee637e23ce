/**
 * Issue 8's proxy goals in one place: each goal's threshold and how a measured value is judged,
 * so the proxy bench prints "met / not met" from the figures of its own run. Printing only.
 */
export interface GoalInputs {
  /** tsmesh 1 hop / nginx, HTTP/1.1 keep-alive: requests per CPU-second ratio. */
  h1PerCore?: number;
  /**
   * The same figures for a byte pipe on tsmesh's runtime with no HTTP work (per core and p99 vs
   * nginx, peak RSS, and the p99 two of them add at 1,000 req/s): how near the runtime alone
   * comes to each goal.
   */
  floor?: { perCore?: number; p99?: number; rssMB?: number; hopP99AddedMs?: number };
  /** tsmesh 1 hop p99 / nginx p99 under the same closed-loop load. */
  h1P99Ratio?: number;
  /** Same per-core ratio for h2 (h2c downstream, HTTP/1.1 upstream) and unary gRPC. */
  h2PerCore?: number;
  grpcPerCore?: number;
  /** tsmesh 1 hop / nginx by plain req/s, shown beside the per-core ratios. */
  rpsRatio?: { h1?: number; h2?: number; grpc?: number };
  /** p99 two hops add over direct at 1,000 req/s: median over runs, and the spread. */
  hopP99AddedMs?: { median: number; min: number; max: number; runs: number };
  /** The same for two nginx hops in the same runs: what this machine gives the best of proxies. */
  nginxHopP99AddedMs?: number;
  /** tsmesh 1 hop: vCPU per 1,000 req/s at the fixed-rate phase. */
  vcpuPer1k?: number;
  /** tsmesh 1 hop peak RSS and what config it was serving. */
  rss?: { mb: number; what: string };
}

export interface Goal {
  goal: string;
  measured: string;
  /** undefined: not measured in this run. */
  met: boolean | undefined;
}

const x = (n: number) => `${n.toFixed(2)}x`;
const byRps = (n: number | undefined) => (n === undefined || !Number.isFinite(n) ? '' : ` (${x(n)} by req/s)`);
const nginxNote = (n: number | undefined) => (n === undefined || !Number.isFinite(n) ? '' : `; two nginx hops: +${n.toFixed(3)} ms`);
const floorNote = (n: number | undefined, show: (n: number) => string) => (n === undefined || !Number.isFinite(n) ? '' : `; a byte pipe on the same runtime, no HTTP: ${show(n)}`);

function judge(goal: string, v: number | undefined, ok: (v: number) => boolean, show: (v: number) => string): Goal {
  return v === undefined || !Number.isFinite(v) ? { goal, measured: 'not measured', met: undefined } : { goal, measured: show(v), met: ok(v) };
}

export function evaluateGoals(m: GoalInputs): Goal[] {
  const hop = m.hopP99AddedMs;
  return [
    judge('HTTP/1.1 req/s per core >= 0.8x nginx', m.h1PerCore, (v) => v >= 0.8, (v) => x(v) + byRps(m.rpsRatio?.h1) + floorNote(m.floor?.perCore, x)),
    judge('HTTP/1.1 p99 under load <= 1.5x nginx', m.h1P99Ratio, (v) => v <= 1.5, (v) => x(v) + floorNote(m.floor?.p99, x)),
    judge('h2 req/s per core >= 0.6x nginx', m.h2PerCore, (v) => v >= 0.6, (v) => x(v) + byRps(m.rpsRatio?.h2)),
    judge('gRPC req/s per core >= 0.6x nginx', m.grpcPerCore, (v) => v >= 0.6, (v) => x(v) + byRps(m.rpsRatio?.grpc)),
    judge('2 hops add <= 0.3 ms p99 at 1k req/s (median)', hop?.median, (v) => v <= 0.3, (v) => `+${v.toFixed(3)} ms (runs ${hop!.runs}: ${hop!.min.toFixed(3)}..${hop!.max.toFixed(3)})` + nginxNote(m.nginxHopP99AddedMs) + floorNote(m.floor?.hopP99AddedMs, (n) => `two of them +${n.toFixed(3)} ms`)),
    judge('<= 0.1 vCPU per 1,000 req/s', m.vcpuPer1k, (v) => v <= 0.1, (v) => `${v.toFixed(3)} vCPU`),
    judge('<= 40 MB RSS per proxy', m.rss?.mb, (v) => v <= 40, (v) => `${v.toFixed(0)} MB (${m.rss!.what})` + floorNote(m.floor?.rssMB, (n) => `${n.toFixed(0)} MB peak`)),
  ];
}

export function goalLines(goals: Goal[]): string[] {
  const w = Math.max(...goals.map((g) => g.goal.length));
  return goals.map((g) => `  ${g.goal.padEnd(w)}  ${(g.met === undefined ? '—' : g.met ? 'met' : 'NOT MET').padEnd(7)}  ${g.measured}`);
}
