/**
 * Outlier detection (passive health checking) as Envoy's arch overview and OutlierDetection proto
 * define it: consecutive 5xx / gateway / local-origin failures eject inline, success-rate and
 * failure-percentage ejection run at each interval tick, and ejected hosts come back at the first
 * tick after base_ejection_time × (times ejected in a row), capped by max_ejection_time.
 * max_ejection_percent bounds how many hosts are out at once. An ejected host carries
 * HealthFlag.FAILED_OUTLIER_CHECK, so load balancers skip it unless they are in panic.
 *
 * Per-host state lives in a WeakMap keyed by the host object: EDS pushes and CDS updates reuse host
 * objects (eds.ts), so an ejection and its back-off survive them, and a replacement cluster's
 * detector takes over the hosts its predecessor ejected.
 */
import type { EnvoyJson } from '../../xds/types.ts';
import type { OutlierResult, OutlierSink, Stats, UpstreamHost } from '../interfaces.ts';
import { durationMs } from '../duration.ts';
import { log } from '../logger.ts';
import { HealthFlag, hasHealthFlag, setHealthFlag } from './host_health.ts';
import { SuccessRateMonitor, successRateThreshold } from './outlier_success_rate.ts';

/** Envoy's OutlierEjectionType names (they appear in the event log line). */
export type EjectionType =
  | 'CONSECUTIVE_5XX'
  | 'CONSECUTIVE_GATEWAY_FAILURE'
  | 'CONSECUTIVE_LOCAL_ORIGIN_FAILURE'
  | 'SUCCESS_RATE'
  | 'SUCCESS_RATE_LOCAL_ORIGIN'
  | 'FAILURE_PERCENTAGE'
  | 'FAILURE_PERCENTAGE_LOCAL_ORIGIN';

/** Stat suffix (ejections_detected_<x>, ejections_enforced_<x>), enforcing_* field and its default. */
const TYPES: Record<EjectionType, { stat: string; enforcing: string; enforcingDefault: number }> = {
  CONSECUTIVE_5XX: { stat: 'consecutive_5xx', enforcing: 'enforcing_consecutive_5xx', enforcingDefault: 100 },
  CONSECUTIVE_GATEWAY_FAILURE: { stat: 'consecutive_gateway_failure', enforcing: 'enforcing_consecutive_gateway_failure', enforcingDefault: 0 },
  CONSECUTIVE_LOCAL_ORIGIN_FAILURE: { stat: 'consecutive_local_origin_failure', enforcing: 'enforcing_consecutive_local_origin_failure', enforcingDefault: 100 },
  SUCCESS_RATE: { stat: 'success_rate', enforcing: 'enforcing_success_rate', enforcingDefault: 100 },
  SUCCESS_RATE_LOCAL_ORIGIN: { stat: 'local_origin_success_rate', enforcing: 'enforcing_local_origin_success_rate', enforcingDefault: 100 },
  FAILURE_PERCENTAGE: { stat: 'failure_percentage', enforcing: 'enforcing_failure_percentage', enforcingDefault: 0 },
  FAILURE_PERCENTAGE_LOCAL_ORIGIN: { stat: 'local_origin_failure_percentage', enforcing: 'enforcing_failure_percentage_local_origin', enforcingDefault: 0 },
};

/** What the detector needs from its cluster (ClusterImpl). */
export interface OutlierCluster {
  readonly name: string;
  readonly stats: Stats;
  allHosts(): UpstreamHost[];
  hostHealthChanged(): void;
}

/** One host's counters and ejection history (Envoy's DetectorHostMonitor). */
class HostMonitor {
  consecutive5xx = 0;
  consecutiveGateway = 0;
  consecutiveLocal = 0;
  numEjections = 0;
  /** Envoy's eject-time back-off multiplier: +1 per ejection, −1 per healthy interval. */
  backoff = 0;
  jitterMs = 0;
  lastEjection: number | undefined;
  lastUnejection: number | undefined;
  readonly external = new SuccessRateMonitor();
  readonly local = new SuccessRateMonitor();
  /** Last computed rates for /clusters; −1 when not computed. */
  successRate = -1;
  localSuccessRate = -1;

  resetConsecutive(): void {
    this.consecutive5xx = 0;
    this.consecutiveGateway = 0;
    this.consecutiveLocal = 0;
  }
}

const monitors = new WeakMap<UpstreamHost, HostMonitor>();

function monitorOf(host: UpstreamHost): HostMonitor {
  let m = monitors.get(host);
  if (!m) monitors.set(host, (m = new HostMonitor()));
  return m;
}

/** /clusters: the host's last success rates (−1 when not computed). */
export function hostSuccessRates(host: UpstreamHost): { external: number; local: number } {
  const m = monitors.get(host);
  return { external: m?.successRate ?? -1, local: m?.localSuccessRate ?? -1 };
}

const num = (v: unknown, dflt: number): number => (v === undefined || v === null ? dflt : Number(v));
const isGatewayError = (code: number): boolean => code === 502 || code === 503 || code === 504;

/** Envoy's resultToHttpCode for the non-split mode; undefined: the result is not counted. */
function resultToHttpCode(result: OutlierResult): number | undefined {
  switch (result) {
    case 'EXT_ORIGIN_REQUEST_SUCCESS':
    case 'LOCAL_ORIGIN_CONNECT_SUCCESS_FINAL':
      return 200;
    case 'LOCAL_ORIGIN_TIMEOUT':
      return 504;
    case 'LOCAL_ORIGIN_CONNECT_FAILED':
      return 503;
    case 'EXT_ORIGIN_REQUEST_FAILED':
      return 500;
    case 'LOCAL_ORIGIN_CONNECT_SUCCESS':
      // A connection opened; the protocol on top reports its own outcome.
      return undefined;
  }
}

export class OutlierDetector implements OutlierSink {
  readonly intervalMs: number;
  private readonly baseEjectionMs: number;
  private readonly maxEjectionMs: number;
  private readonly maxEjectionJitterMs: number;
  private readonly maxEjectionPercent: number;
  private readonly alwaysEjectOneHost: boolean;
  private readonly split: boolean;
  private readonly consecutive5xx: number;
  private readonly consecutiveGateway: number;
  private readonly consecutiveLocal: number;
  /** successful_active_health_check_uneject_host (default true). */
  readonly unejectOnHealthCheck: boolean;
  private readonly enforcing: Record<EjectionType, number>;
  private readonly sr: { minHosts: number; volume: number; stdevFactor: number };
  private readonly fp: { threshold: number; minHosts: number; volume: number };
  private timer: NodeJS.Timeout | undefined;
  /** success_rate_average / ejection threshold of the last tick, −1 when not computed (/clusters). */
  srNumbers = { external: { average: -1, threshold: -1 }, local: { average: -1, threshold: -1 } };

  constructor(
    config: EnvoyJson,
    private readonly cluster: OutlierCluster,
    private readonly random: () => number = Math.random,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.intervalMs = durationMs(config.interval, 10_000);
    this.baseEjectionMs = durationMs(config.base_ejection_time, 30_000);
    // "the default (300 s) or base_ejection_time, whichever is larger"
    this.maxEjectionMs = Math.max(durationMs(config.max_ejection_time, 300_000), this.baseEjectionMs);
    this.maxEjectionJitterMs = durationMs(config.max_ejection_time_jitter, 0);
    this.maxEjectionPercent = Math.min(100, num(config.max_ejection_percent, 10));
    this.alwaysEjectOneHost = config.always_eject_one_host === true;
    this.split = config.split_external_local_origin_errors === true;
    this.consecutive5xx = num(config.consecutive_5xx, 5);
    this.consecutiveGateway = num(config.consecutive_gateway_failure, 5);
    this.consecutiveLocal = num(config.consecutive_local_origin_failure, 5);
    this.unejectOnHealthCheck = config.successful_active_health_check_uneject_host !== false;
    this.enforcing = {} as Record<EjectionType, number>;
    for (const [t, d] of Object.entries(TYPES)) this.enforcing[t as EjectionType] = num(config[d.enforcing], d.enforcingDefault);
    this.sr = { minHosts: num(config.success_rate_minimum_hosts, 5), volume: num(config.success_rate_request_volume, 100), stdevFactor: num(config.success_rate_stdev_factor, 1900) / 1000 };
    this.fp = { threshold: num(config.failure_percentage_threshold, 85), minHosts: num(config.failure_percentage_minimum_hosts, 5), volume: num(config.failure_percentage_request_volume, 50) };
    const s = cluster.stats;
    for (const n of ['ejections_total', 'ejections_overflow', 'ejections_enforced_total', 'ejections_consecutive_5xx', 'ejections_success_rate']) s.counter(`outlier_detection.${n}`);
    for (const d of Object.values(TYPES)) {
      s.counter(`outlier_detection.ejections_detected_${d.stat}`);
      s.counter(`outlier_detection.ejections_enforced_${d.stat}`);
    }
    s.gauge('outlier_detection.ejections_active');
    this.arm();
  }

  // ---------- signals (the router, tcp_proxy, ext_authz report them) ----------

  putHttpResponseCode(host: UpstreamHost, code: number): void {
    const m = monitorOf(host);
    m.external.incTotal();
    if (code >= 500 && code <= 599) {
      if (isGatewayError(code)) {
        if (++m.consecutiveGateway === this.consecutiveGateway) this.onConsecutive(host, 'CONSECUTIVE_GATEWAY_FAILURE');
      } else m.consecutiveGateway = 0;
      if (++m.consecutive5xx === this.consecutive5xx) this.onConsecutive(host, 'CONSECUTIVE_5XX');
    } else {
      m.external.incSuccess();
      m.consecutive5xx = 0;
      m.consecutiveGateway = 0;
    }
  }

  putResult(host: UpstreamHost, result: OutlierResult): void {
    if (!this.split) {
      // One error stream: local-origin results count as the HTTP codes Envoy maps them to.
      const code = resultToHttpCode(result);
      if (code !== undefined) this.putHttpResponseCode(host, code);
      return;
    }
    const m = monitorOf(host);
    switch (result) {
      case 'LOCAL_ORIGIN_CONNECT_SUCCESS':
      case 'LOCAL_ORIGIN_CONNECT_SUCCESS_FINAL':
        m.local.incTotal();
        m.local.incSuccess();
        m.consecutiveLocal = 0;
        return;
      case 'LOCAL_ORIGIN_TIMEOUT':
      case 'LOCAL_ORIGIN_CONNECT_FAILED':
        m.local.incTotal();
        if (++m.consecutiveLocal === this.consecutiveLocal) this.onConsecutive(host, 'CONSECUTIVE_LOCAL_ORIGIN_FAILURE');
        return;
      case 'EXT_ORIGIN_REQUEST_FAILED':
        this.putHttpResponseCode(host, 503);
        return;
      case 'EXT_ORIGIN_REQUEST_SUCCESS':
        this.putHttpResponseCode(host, 200);
    }
  }

  // ---------- ejection ----------

  private onConsecutive(host: UpstreamHost, type: EjectionType): void {
    if (hasHealthFlag(host, HealthFlag.FAILED_OUTLIER_CHECK)) return;
    if (type === 'CONSECUTIVE_5XX') this.cluster.stats.counter('outlier_detection.ejections_consecutive_5xx').inc();
    this.detected(type);
    this.eject(host, type);
    // The counters count to the threshold exactly (==); start over so the next run can trigger.
    const m = monitorOf(host);
    if (type === 'CONSECUTIVE_5XX') m.consecutive5xx = 0;
    else if (type === 'CONSECUTIVE_GATEWAY_FAILURE') m.consecutiveGateway = 0;
    else m.consecutiveLocal = 0;
  }

  private detected(type: EjectionType): void {
    this.cluster.stats.counter(`outlier_detection.ejections_detected_${TYPES[type].stat}`).inc();
  }

  private ejectedCount(hosts: UpstreamHost[]): number {
    let n = 0;
    for (const h of hosts) if (hasHealthFlag(h, HealthFlag.FAILED_OUTLIER_CHECK)) n++;
    return n;
  }

  private eject(host: UpstreamHost, type: EjectionType): void {
    if (hasHealthFlag(host, HealthFlag.FAILED_OUTLIER_CHECK)) return;
    const hosts = this.cluster.allHosts();
    const active = this.ejectedCount(hosts);
    const percent = (100 * (active + 1)) / Math.max(1, hosts.length);
    const s = this.cluster.stats;
    if (!(percent <= this.maxEjectionPercent || (this.alwaysEjectOneHost && active === 0))) {
      s.counter('outlier_detection.ejections_overflow').inc();
      log.debug(`outlier_detection: cluster ${this.cluster.name}: ${host.address} not ejected (${type}): max_ejection_percent ${this.maxEjectionPercent} reached`);
      return;
    }
    // Deprecated counter; Envoy keeps counting these two types only.
    if (type === 'CONSECUTIVE_5XX' || type === 'SUCCESS_RATE') s.counter('outlier_detection.ejections_total').inc();
    const m = monitorOf(host);
    const enforced = this.random() * 100 < this.enforcing[type];
    if (enforced) {
      s.counter('outlier_detection.ejections_enforced_total').inc();
      s.counter(`outlier_detection.ejections_enforced_${TYPES[type].stat}`).inc();
      setHealthFlag(host, HealthFlag.FAILED_OUTLIER_CHECK, true);
      m.numEjections++;
      m.lastEjection = this.now();
      // Envoy's bound: the multiplier stops growing once base × it passes max_ejection_time.
      if (m.backoff * this.baseEjectionMs < this.maxEjectionMs + this.baseEjectionMs) m.backoff++;
      m.jitterMs = this.maxEjectionJitterMs > 0 ? Math.floor(this.random() * (this.maxEjectionJitterMs + 1)) : 0;
      s.gauge('outlier_detection.ejections_active').set(active + 1);
      this.cluster.hostHealthChanged();
    }
    this.logEvent(host, 'EJECT', type, m.numEjections, enforced);
  }

  private uneject(host: UpstreamHost, m: HostMonitor, now: number): void {
    setHealthFlag(host, HealthFlag.FAILED_OUTLIER_CHECK, false);
    // Avoid re-ejection on a handful of errors from a counter left near its trigger.
    m.resetConsecutive();
    m.lastUnejection = now;
    this.logEvent(host, 'UNEJECT', undefined, m.numEjections, true);
  }

  private ejectionTimeMs(m: HostMonitor): number {
    return Math.min(this.baseEjectionMs * m.backoff, this.maxEjectionMs) + m.jitterMs;
  }

  /** Envoy's event-log content (OutlierDetectionEvent) as one log line. */
  private logEvent(host: UpstreamHost, action: 'EJECT' | 'UNEJECT', type: EjectionType | undefined, numEjections: number, enforced: boolean): void {
    const ev: Record<string, unknown> = { cluster_name: this.cluster.name, upstream_url: host.address, action, num_ejections: numEjections, enforced };
    if (type) ev.type = type;
    // A detection that was not enforced (enforcing_* odds, e.g. gateway errors Istio leaves at 0) changes nothing: debug.
    if (enforced) log.info(`outlier_detection ${JSON.stringify(ev)}`);
    else log.debug(`outlier_detection ${JSON.stringify(ev)}`);
  }

  /** Active health checking passed for an ejected host: it returns now (successful_active_health_check_uneject_host). */
  onActiveHealthCheckSuccess(host: UpstreamHost): void {
    if (!this.unejectOnHealthCheck || !hasHealthFlag(host, HealthFlag.FAILED_OUTLIER_CHECK)) return;
    this.uneject(host, monitorOf(host), this.now());
    this.cluster.stats.gauge('outlier_detection.ejections_active').set(this.ejectedCount(this.cluster.allHosts()));
    this.cluster.hostHealthChanged();
  }

  // ---------- the interval tick ----------

  private arm(): void {
    this.timer = setTimeout(() => this.tick(), this.intervalMs);
    this.timer.unref();
  }

  /** Unejects hosts whose time is up, swaps success-rate buckets, runs the rate-based ejections. */
  tick(): void {
    const now = this.now();
    const hosts = this.cluster.allHosts();
    let changed = false;
    for (const h of hosts) {
      const m = monitorOf(h);
      if (!hasHealthFlag(h, HealthFlag.FAILED_OUTLIER_CHECK)) {
        // Not ejected since the last tick: one step off the back-off (Envoy's checkHostForUneject).
        if (m.backoff > 0) m.backoff--;
      } else if (m.lastEjection === undefined || now - m.lastEjection >= this.ejectionTimeMs(m)) {
        this.uneject(h, m, now);
        changed = true;
      }
      m.external.swap();
      m.local.swap();
      m.successRate = -1;
      m.localSuccessRate = -1;
    }
    if (changed) this.cluster.hostHealthChanged();
    this.rateEjections(hosts, 'external');
    if (this.split) this.rateEjections(hosts, 'local');
    this.cluster.stats.gauge('outlier_detection.ejections_active').set(this.ejectedCount(hosts));
    this.arm();
  }

  /** Success-rate and failure-percentage ejection over one origin's last interval. */
  private rateEjections(hosts: UpstreamHost[], origin: 'external' | 'local'): void {
    this.srNumbers[origin] = { average: -1, threshold: -1 };
    if (hosts.length < this.sr.minHosts && hosts.length < this.fp.minHosts) return;
    const srHosts: [UpstreamHost, number][] = [];
    const fpHosts: [UpstreamHost, number][] = [];
    for (const h of hosts) {
      if (hasHealthFlag(h, HealthFlag.FAILED_OUTLIER_CHECK)) continue;
      const m = monitorOf(h);
      const mon = origin === 'external' ? m.external : m.local;
      const rate = mon.rate(Math.min(this.sr.volume, this.fp.volume));
      if (rate === undefined) continue;
      if (origin === 'external') m.successRate = rate;
      else m.localSuccessRate = rate;
      if (mon.rate(this.sr.volume) !== undefined) srHosts.push([h, rate]);
      if (mon.rate(this.fp.volume) !== undefined) fpHosts.push([h, rate]);
    }
    if (srHosts.length > 0 && srHosts.length >= this.sr.minHosts) {
      const nums = successRateThreshold(srHosts.map(([, r]) => r), this.sr.stdevFactor);
      this.srNumbers[origin] = nums;
      const type: EjectionType = origin === 'external' ? 'SUCCESS_RATE' : 'SUCCESS_RATE_LOCAL_ORIGIN';
      for (const [h, r] of srHosts) {
        if (r >= nums.threshold) continue;
        this.cluster.stats.counter('outlier_detection.ejections_success_rate').inc();
        this.detected(type);
        this.eject(h, type);
      }
    }
    if (fpHosts.length > 0 && fpHosts.length >= this.fp.minHosts) {
      const type: EjectionType = origin === 'external' ? 'FAILURE_PERCENTAGE' : 'FAILURE_PERCENTAGE_LOCAL_ORIGIN';
      for (const [h, r] of fpHosts) {
        if (100 - r < this.fp.threshold) continue;
        this.detected(type);
        this.eject(h, type);
      }
    }
  }

  close(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }
}

/** What Envoy rejects in Cluster.outlier_detection (percentages above 100). */
export function validateOutlierDetection(c: EnvoyJson, at: string): string[] {
  const od = c.outlier_detection;
  if (!od) return [];
  const errs: string[] = [];
  for (const f of ['max_ejection_percent', ...Object.values(TYPES).map((t) => t.enforcing), 'failure_percentage_threshold']) {
    if (od[f] !== undefined && !(Number(od[f]) >= 0 && Number(od[f]) <= 100)) errs.push(`${at}.outlier_detection.${f}: a percentage in [0, 100], got ${JSON.stringify(od[f])}`);
  }
  return errs;
}
