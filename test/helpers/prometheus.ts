/**
 * A real Prometheus (Debian's /usr/bin/prometheus) for acceptance tests: on loopback at a free
 * port, with a temporary data directory and the given configuration, waited for with a bound,
 * queried with PromQL over its HTTP API, stopped (and its directory removed) when the test ends.
 *
 *   const prom = await startPrometheus(t, yamlFromPrometheusConfig);
 *   const v = await prom.query('sum(rate(istio_requests_total[1m])) by (destination_version)');
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../../src/demo/ports.ts';
import { findPrometheus, prometheusArgs, PROMETHEUS_MISSING } from '../../src/demo/addons/prometheus.ts';
import { until } from './poll.ts';

/** A reason to skip when no prometheus binary is installed, else false. */
export const NO_PROMETHEUS: string | false = findPrometheus() ? false : PROMETHEUS_MISSING;

/** One instant-vector sample: its labels and value. */
export interface PromSample {
  metric: Record<string, string>;
  value: number;
}

export interface Prometheus {
  readonly url: string;
  readonly dir: string;
  /** An instant query (GET /api/v1/query); throws on a PromQL error. */
  query(promql: string): Promise<PromSample[]>;
  /** Targets and their health (GET /api/v1/targets). */
  targets(): Promise<Array<{ job: string; instance: string; health: string; lastError: string; labels: Record<string, string> }>>;
  /** Waits until `promql` returns at least one sample for which `ok` holds (bounded). */
  waitFor(promql: string, what: string, ok?: (s: PromSample[]) => boolean, timeoutMs?: number): Promise<PromSample[]>;
  output(): string;
  stop(): Promise<void>;
}

type After = { after(fn: () => Promise<void> | void): void };

export async function startPrometheus(t: After, configYaml: string, o: { timeoutMs?: number } = {}): Promise<Prometheus> {
  const bin = findPrometheus();
  if (!bin) throw new Error(PROMETHEUS_MISSING);
  const dir = mkdtempSync(join(tmpdir(), 'tsmesh-prometheus-'));
  const configFile = join(dir, 'prometheus.yml');
  writeFileSync(configFile, configYaml);
  const host = '127.0.0.1';
  const port = await freePort(host);
  const child: ChildProcess = spawn(bin, prometheusArgs({ configFile, dataDir: join(dir, 'data'), host, port }), { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const url = `http://${host}:${port}`;
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise<void>((r) => child.once('exit', () => r()));
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(t);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  t.after(stop);
  await until(
    async () => {
      if (child.exitCode !== null) throw new Error(`prometheus exited with ${child.exitCode}: ${out}`);
      const r = await fetch(`${url}/-/ready`, { signal: AbortSignal.timeout(2000) });
      return r.status === 200;
    },
    `prometheus ready at ${url}`,
    o.timeoutMs ?? 30_000,
    200,
  ).catch((e: Error) => {
    throw new Error(`${e.message}\n${out}`);
  });
  const api = async (path: string): Promise<any> => {
    const r = await fetch(`${url}${path}`, { signal: AbortSignal.timeout(10_000) });
    const body = (await r.json()) as { status: string; data: any; error?: string };
    if (body.status !== 'success') throw new Error(`prometheus ${path}: ${body.error ?? r.status}`);
    return body.data;
  };
  const query = async (promql: string): Promise<PromSample[]> => {
    const data = await api(`/api/v1/query?query=${encodeURIComponent(promql)}`);
    if (data.resultType !== 'vector') throw new Error(`expected a vector from ${promql}, got ${data.resultType}`);
    return (data.result as Array<{ metric: Record<string, string>; value: [number, string] }>).map((s) => ({ metric: s.metric, value: Number(s.value[1]) }));
  };
  return {
    url,
    dir,
    query,
    targets: async () => {
      const data = await api('/api/v1/targets?state=active');
      return (data.activeTargets as any[]).map((x) => ({ job: x.labels.job, instance: x.labels.instance, health: x.health, lastError: x.lastError, labels: x.labels }));
    },
    waitFor: (promql, what, ok = (s) => s.length > 0, timeoutMs = 60_000) =>
      until(async () => {
        const s = await query(promql);
        return ok(s) && s;
      }, what, timeoutMs, 1000),
    output: () => out,
    stop,
  };
}
