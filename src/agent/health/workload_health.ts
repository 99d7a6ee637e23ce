/**
 * The agent's workload health checker (Istio's WorkloadHealthChecker): runs the readiness probe
 * every periodSeconds after initialDelaySeconds and reports a change once successThreshold
 * consecutive passes (healthy) or failureThreshold consecutive failures (unhealthy) agree. Nothing
 * is reported before the first verdict: the control plane keeps a probed workload unhealthy until
 * then. Defaults are Kubernetes' and Istio's: timeout 1 s, period 10 s, success 1, failure 3.
 */
import { runProbe, type ReadinessProbe } from './probe.ts';

export interface WorkloadHealthOptions {
  probe: ReadinessProbe;
  /** Where httpGet/tcpSocket probes go without a host: the workload's IP. */
  defaultHost: string;
  /** Called on each change of verdict (the first verdict included). */
  report: (healthy: boolean, message: string) => void;
}

export interface WorkloadHealth {
  /** The last verdict reported (undefined before the first). */
  readonly healthy: boolean | undefined;
  stop(): void;
}

/** Positive whole numbers only; 0 or absent means the default, as in Kubernetes. */
const orDefault = (v: number | undefined, d: number) => (typeof v === 'number' && v > 0 ? v : d);

export function startWorkloadHealth(o: WorkloadHealthOptions): WorkloadHealth {
  const p = o.probe;
  const timeoutMs = orDefault(p.timeoutSeconds, 1) * 1000;
  const periodMs = orDefault(p.periodSeconds, 10) * 1000;
  const successes = orDefault(p.successThreshold, 1);
  const failures = orDefault(p.failureThreshold, 3);
  let stopped = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let verdict: boolean | undefined;
  let passes = 0;
  let fails = 0;
  const tick = async () => {
    timer = undefined;
    const started = Date.now();
    // A probe that throws is a failed probe: the checker must keep running (and the proxy with it).
    const r = await runProbe(p, o.defaultHost, timeoutMs).catch((e: unknown) => ({ healthy: false, message: `probe: ${(e as Error)?.message ?? String(e)}` }));
    if (stopped) return;
    if (r.healthy) {
      passes++;
      fails = 0;
      if (passes >= successes && verdict !== true) {
        verdict = true;
        o.report(true, '');
      }
    } else {
      fails++;
      passes = 0;
      if (fails >= failures && verdict !== false) {
        verdict = false;
        o.report(false, r.message);
      }
    }
    // Period measured from the start of a probe, as the kubelet does.
    timer = setTimeout(run, Math.max(0, periodMs - (Date.now() - started)));
    timer.unref?.();
  };
  // report() is the caller's; if it throws, say so rather than leave an unhandled rejection.
  const run = () => void tick().catch((e: unknown) => console.error(`workload health: ${(e as Error)?.message ?? String(e)}`));
  timer = setTimeout(run, orDefault(p.initialDelaySeconds, 0) * 1000);
  timer.unref?.();
  return {
    get healthy() {
      return verdict;
    },
    stop() {
      stopped = true;
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
    },
  };
}
