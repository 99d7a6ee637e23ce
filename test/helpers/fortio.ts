/**
 * What `fortio load -c C -qps 0 -n N` does, for the mesh tasks that use fortio (Istio's
 * circuit-breaking task): C HTTP/1.1 keep-alive connections, each sending requests back to back
 * (qps 0: no pacing) until N requests were sent in all; the status codes counted and printed as
 * fortio prints them ("Code 200 : 17 (85.0 %)").
 */
import { Client } from 'undici';

export interface LoadResult {
  /** Status code -> count; 0 for a request that failed without a response. */
  codes: Map<number, number>;
  /** Responses that carried x-envoy-overloaded: true. */
  overloaded: number;
  total: number;
  durationMs: number;
}

export interface LoadOptions {
  /** -c: concurrent connections. */
  connections: number;
  /** -n: requests in all. */
  requests: number;
  /** Host header (the service to reach through a sidecar's outbound listener). */
  host: string;
  path: string;
  /** Per-request timeout (default 15 s). */
  timeoutMs?: number;
}

/** Runs the load against `origin` (e.g. a client sidecar's outbound listener). */
export async function fortioLoad(origin: string, o: LoadOptions): Promise<LoadResult> {
  const codes = new Map<number, number>();
  let overloaded = 0;
  let sent = 0;
  const t0 = performance.now();
  const worker = async () => {
    const client = new Client(origin, { pipelining: 1 });
    try {
      while (sent < o.requests) {
        sent++;
        let code = 0;
        try {
          const r = await client.request({ method: 'GET', path: o.path, headers: { host: o.host }, signal: AbortSignal.timeout(o.timeoutMs ?? 15_000) });
          await r.body.arrayBuffer();
          code = r.statusCode;
          if (r.headers['x-envoy-overloaded'] === 'true') overloaded++;
        } catch {
          code = 0;
        }
        codes.set(code, (codes.get(code) ?? 0) + 1);
      }
    } finally {
      await client.close().catch(() => undefined);
    }
  };
  await Promise.all(Array.from({ length: o.connections }, worker));
  return { codes, overloaded, total: sent, durationMs: performance.now() - t0 };
}

/** fortio's summary lines: "Code 200 : 17 (85.0 %)" per status code, lowest first. */
export function fortioSummary(r: LoadResult): string {
  const lines = [...r.codes.entries()].sort(([a], [b]) => a - b).map(([code, n]) => `Code ${code === 0 ? '-1' : code} : ${n} (${((100 * n) / r.total).toFixed(1)} %)`);
  return [...lines, `All done ${r.total} calls ${(r.durationMs / 1000).toFixed(3)} s, ${((r.total * 1000) / r.durationMs).toFixed(1)} qps`].join('\n');
}
