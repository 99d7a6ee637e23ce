/**
 * Active health checking (Envoy's HealthCheckerImplBase): one session per host checks it every
 * interval and owns its FAILED_ACTIVE_HC flag. Envoy's rules, as its health-checking overview and
 * HealthCheck proto give them:
 * - a host new to a health-checked cluster starts failed (and pending with
 *   ignore_new_hosts_until_first_hc) and its first passing check brings it in; the cluster's first
 *   host set waits for every host's first check before the cluster is used (warming);
 * - a healthy host goes unhealthy at once on a non-retriable failure (an unexpected HTTP status)
 *   and after unhealthy_threshold network failures (connect error, reset, timeout); an unhealthy
 *   host comes back after healthy_threshold passes;
 * - until the cluster has opened a connection of its own, checks run every no_traffic_interval
 *   (60 s by default); after it, interval / unhealthy_interval and the *_edge_interval after a
 *   change, plus interval_jitter and interval_jitter_percent; initial_jitter delays the first.
 * Transitions and a host's first failure are logged (Envoy's health check event content); other
 * failures only with always_log_health_check_failures.
 */
import type { Socket } from 'node:net';
import type { EnvoyJson } from '../../xds/types.ts';
import type { Stats, UpstreamHost } from '../interfaces.ts';
import { durationMs } from '../duration.ts';
import { log } from '../logger.ts';
import { HealthFlag, hasHealthFlag, setHealthFlag } from './host_health.ts';
import { httpCheckConfig, runHttpCheck } from './health_check_http.ts';
import { runTcpCheck, tcpCheckConfig, type CheckOutcome } from './health_check_tcp.ts';

/** What the checker needs from its cluster (ClusterImpl). */
export interface HealthCheckCluster {
  readonly name: string;
  readonly stats: Stats;
  /** A connection to the host through the cluster's transport socket, not counted as traffic. */
  connect(host: UpstreamHost): Socket;
  /** The cluster has opened a connection for traffic (Envoy: upstream_cx_total used). */
  hasTraffic(): boolean;
  hostHealthChanged(): void;
}

/** Hosts some health checker has checked: a replacement cluster keeps their flags instead of starting them failed. */
const checked = new WeakSet<UpstreamHost>();

type Transition = 'unchanged' | 'changed' | 'pending';

class Session {
  private numHealthy = 0;
  private numUnhealthy = 0;
  private firstCheck = true;
  private timer: NodeJS.Timeout | undefined;
  private socket: Socket | undefined;
  private stopped = false;

  constructor(
    private readonly hc: HealthChecker,
    readonly host: UpstreamHost,
    /** Called once, after the first check completes. */
    private onFirst?: () => void,
  ) {}

  start(delayMs: number): void {
    this.schedule(delayMs);
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.socket?.destroy();
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => void this.check(), ms);
    this.timer.unref();
  }

  private async check(): Promise<void> {
    const hc = this.hc;
    hc.stats.counter('health_check.attempt').inc();
    let timeout: NodeJS.Timeout | undefined;
    let outcome: CheckOutcome;
    try {
      const socket = (this.socket = hc.cluster.connect(this.host));
      socket.on('error', () => {});
      const timedOut = new Promise<CheckOutcome>((r) => {
        timeout = setTimeout(() => r({ healthy: false, failure: 'NETWORK', retriable: true, reason: `no response within ${hc.timeoutMs} ms` }), hc.timeoutMs);
        timeout.unref();
      });
      outcome = await Promise.race([hc.run(socket), timedOut]);
      socket.destroy();
    } catch (e) {
      outcome = { healthy: false, failure: 'NETWORK', retriable: true, reason: (e as Error).message };
    } finally {
      if (timeout) clearTimeout(timeout);
      this.socket = undefined;
    }
    if (this.stopped) return;
    const transition = outcome.healthy ? this.setHealthy(outcome.degraded) : this.setUnhealthy(outcome);
    checked.add(this.host);
    const first = this.onFirst;
    this.onFirst = undefined;
    first?.();
    this.schedule(hc.nextInterval(!hasHealthFlag(this.host, HealthFlag.FAILED_ACTIVE_HC), transition));
  }

  private setHealthy(degraded: boolean): Transition {
    const hc = this.hc;
    const host = this.host;
    this.numUnhealthy = 0;
    let t: Transition = 'unchanged';
    let changed = setHealthFlag(host, HealthFlag.PENDING_ACTIVE_HC, false);
    if (hasHealthFlag(host, HealthFlag.FAILED_ACTIVE_HC)) {
      if (++this.numHealthy >= hc.healthyThreshold || this.firstCheck) {
        changed = setHealthFlag(host, HealthFlag.FAILED_ACTIVE_HC, false) || changed;
        t = 'changed';
        hc.event(host, 'add_healthy_event', { first_check: this.firstCheck });
      } else t = 'pending';
    }
    if (degraded !== hasHealthFlag(host, HealthFlag.DEGRADED_ACTIVE_HC)) {
      setHealthFlag(host, HealthFlag.DEGRADED_ACTIVE_HC, degraded);
      // Degraded hosts move between the healthy and degraded sets: balancers must rebuild.
      changed = true;
      hc.event(host, degraded ? 'degraded_healthy_host' : 'no_longer_degraded_host', {});
    }
    this.firstCheck = false;
    hc.stats.counter('health_check.success').inc();
    hc.onChecked(host, true, changed);
    return t;
  }

  private setUnhealthy(o: Extract<CheckOutcome, { healthy: false }>): Transition {
    const hc = this.hc;
    const host = this.host;
    this.numHealthy = 0;
    let t: Transition = 'unchanged';
    // The first check is done, passed or not: the host is no longer pending (Envoy's clearPendingFlag).
    let changed = setHealthFlag(host, HealthFlag.PENDING_ACTIVE_HC, false);
    if (!hasHealthFlag(host, HealthFlag.FAILED_ACTIVE_HC)) {
      if ((!o.retriable && o.failure !== 'NETWORK') || ++this.numUnhealthy >= hc.unhealthyThreshold) {
        changed = setHealthFlag(host, HealthFlag.FAILED_ACTIVE_HC, true) || changed;
        t = 'changed';
        hc.event(host, 'eject_unhealthy_event', { failure_type: o.failure, reason: o.reason });
      } else t = 'pending';
    }
    // Envoy logs a host's first failure, and every failure with always_log_health_check_failures.
    if (t !== 'changed' && (this.firstCheck || hc.alwaysLogFailures)) hc.event(host, 'health_check_failure_event', { failure_type: o.failure, first_check: this.firstCheck, reason: o.reason });
    else if (t !== 'changed') log.debug(`health_check: cluster ${hc.cluster.name}: ${host.address} failed: ${o.reason}`);
    this.firstCheck = false;
    hc.stats.counter('health_check.failure').inc();
    if (o.failure === 'NETWORK') hc.stats.counter('health_check.network_failure').inc();
    hc.onChecked(host, false, changed);
    return t;
  }
}

export interface HealthCheckerOptions {
  /** common_lb_config.ignore_new_hosts_until_first_hc. */
  ignoreNewHostsUntilFirstHc: boolean;
  /** Every check result (outlier detection unejects a host that passes). */
  onCheck?: (host: UpstreamHost, healthy: boolean) => void;
  random?: () => number;
}

export class HealthChecker {
  readonly timeoutMs: number;
  readonly healthyThreshold: number;
  readonly unhealthyThreshold: number;
  readonly alwaysLogFailures: boolean;
  readonly stats: Stats;
  readonly run: (socket: Socket) => Promise<CheckOutcome>;
  private readonly type: 'HTTP' | 'TCP';
  private readonly intervals: { interval: number; unhealthy: number; unhealthyEdge: number; healthyEdge: number; noTraffic: number; noTrafficHealthy: number; jitter: number; jitterPercent: number; initialJitter: number };
  private readonly sessions = new Map<UpstreamHost, Session>();
  private readonly random: () => number;
  private initialPending: Set<UpstreamHost> | undefined;
  private readonly initialWaiters: (() => void)[] = [];
  private hostsSeen = false;

  constructor(
    config: EnvoyJson,
    readonly cluster: HealthCheckCluster,
    private readonly opts: HealthCheckerOptions,
  ) {
    this.random = opts.random ?? Math.random;
    this.stats = cluster.stats;
    this.timeoutMs = durationMs(config.timeout, 1000);
    this.healthyThreshold = Math.max(1, Number(config.healthy_threshold ?? 1));
    this.unhealthyThreshold = Math.max(1, Number(config.unhealthy_threshold ?? 1));
    this.alwaysLogFailures = config.always_log_health_check_failures === true;
    const interval = durationMs(config.interval, 10_000);
    const unhealthy = durationMs(config.unhealthy_interval, interval);
    const noTraffic = durationMs(config.no_traffic_interval, 60_000);
    this.intervals = {
      interval,
      unhealthy,
      unhealthyEdge: durationMs(config.unhealthy_edge_interval, unhealthy),
      healthyEdge: durationMs(config.healthy_edge_interval, interval),
      noTraffic,
      noTrafficHealthy: durationMs(config.no_traffic_healthy_interval, noTraffic),
      jitter: durationMs(config.interval_jitter, 0),
      jitterPercent: Number(config.interval_jitter_percent ?? 0),
      initialJitter: durationMs(config.initial_jitter, 0),
    };
    if (config.http_health_check) {
      this.type = 'HTTP';
      const cfg = httpCheckConfig(config.http_health_check, cluster.name);
      this.run = (s) => runHttpCheck(s, cfg);
    } else {
      this.type = 'TCP';
      const cfg = tcpCheckConfig(config.tcp_health_check ?? {});
      this.run = (s) => runTcpCheck(s, cfg);
    }
    for (const n of ['attempt', 'success', 'failure', 'network_failure', 'passive_failure', 'verify_cluster']) this.stats.counter(`health_check.${n}`);
    this.stats.gauge('health_check.healthy');
    this.stats.gauge('health_check.degraded');
  }

  /**
   * The cluster's host set changed: hosts new to health checking start failed (and pending with
   * ignore_new_hosts_until_first_hc) and get a session; gone hosts lose theirs. Call before the load
   * balancers see the set, so a new host never takes traffic before its first check.
   */
  setHosts(hosts: Iterable<UpstreamHost>): void {
    const current = new Set(hosts);
    for (const [h, s] of this.sessions) {
      if (current.has(h)) continue;
      s.stop();
      this.sessions.delete(h);
      this.initialPending?.delete(h);
    }
    const initial = !this.hostsSeen;
    this.hostsSeen = true;
    if (initial) this.initialPending = new Set();
    for (const h of current) {
      if (this.sessions.has(h)) continue;
      if (!checked.has(h)) {
        setHealthFlag(h, HealthFlag.FAILED_ACTIVE_HC, true);
        if (this.opts.ignoreNewHostsUntilFirstHc) setHealthFlag(h, HealthFlag.PENDING_ACTIVE_HC, true);
        if (initial) this.initialPending!.add(h);
      }
      const s = new Session(this, h, () => this.firstDone(h));
      this.sessions.set(h, s);
      s.start(this.intervals.initialJitter > 0 ? Math.floor(this.random() * this.intervals.initialJitter) : 0);
    }
    this.updateGauges();
    this.maybeInitialDone();
  }

  /** Runs `cb` once every host of the first host set has had its first check (cluster warming). */
  whenInitialChecksDone(cb: () => void): void {
    this.initialWaiters.push(cb);
    this.maybeInitialDone();
  }

  private firstDone(h: UpstreamHost): void {
    this.initialPending?.delete(h);
    this.maybeInitialDone();
  }

  private maybeInitialDone(): void {
    if (!this.hostsSeen || (this.initialPending && this.initialPending.size > 0)) return;
    for (const w of this.initialWaiters.splice(0)) w();
  }

  /** The delay before a host's next check (Envoy's HealthCheckerImplBase::interval). */
  nextInterval(healthy: boolean, t: Transition): number {
    const i = this.intervals;
    let base: number;
    if (this.cluster.hasTraffic()) {
      if (healthy) base = t === 'changed' ? i.healthyEdge : i.interval;
      else base = t === 'changed' ? i.unhealthyEdge : i.unhealthy;
    } else base = healthy && t !== 'pending' ? i.noTrafficHealthy : i.noTraffic;
    let jitter = 0;
    if (i.jitterPercent > 0) jitter += Math.floor(this.random() * ((base * i.jitterPercent) / 100));
    if (i.jitter > 0) jitter += Math.floor(this.random() * i.jitter);
    return base + jitter;
  }

  onChecked(host: UpstreamHost, healthy: boolean, changed: boolean): void {
    this.updateGauges();
    if (changed) this.cluster.hostHealthChanged();
    this.opts.onCheck?.(host, healthy);
  }

  private updateGauges(): void {
    let healthy = 0;
    let degraded = 0;
    for (const h of this.sessions.keys()) {
      if (!hasHealthFlag(h, HealthFlag.FAILED_ACTIVE_HC)) healthy++;
      if (hasHealthFlag(h, HealthFlag.DEGRADED_ACTIVE_HC)) degraded++;
    }
    this.stats.gauge('health_check.healthy').set(healthy);
    this.stats.gauge('health_check.degraded').set(degraded);
  }

  /** Envoy's HealthCheckEvent content as one log line. */
  event(host: UpstreamHost, kind: string, detail: Record<string, unknown>): void {
    const ev = { health_checker_type: this.type, cluster_name: this.cluster.name, host: host.address, [kind]: detail };
    // A host passing its very first check is the normal start, not news: debug level.
    if (kind === 'add_healthy_event' && detail.first_check === true) log.debug(`health_check ${JSON.stringify(ev)}`);
    else log.info(`health_check ${JSON.stringify(ev)}`);
  }

  close(): void {
    for (const s of this.sessions.values()) s.stop();
    this.sessions.clear();
  }
}

/** What Envoy rejects in Cluster.health_checks (its proto constraints), plus the one-checker limit. */
export function validateHealthChecks(c: EnvoyJson, at: string): string[] {
  const list: EnvoyJson[] = c.health_checks ?? [];
  const errs: string[] = [];
  if (list.length > 1) errs.push(`${at}.health_checks: only one health check per cluster is supported, got ${list.length}`);
  list.forEach((hc, i) => {
    const p = `${at}.health_checks[${i}]`;
    for (const f of ['timeout', 'interval']) {
      let ms: number | undefined;
      try {
        ms = durationMs(hc[f]);
      } catch {
        ms = undefined;
      }
      if (!(ms !== undefined && ms > 0)) errs.push(`${p}.${f}: required, greater than 0`);
    }
    for (const f of ['unhealthy_threshold', 'healthy_threshold']) if (hc[f] === undefined || hc[f] === null) errs.push(`${p}.${f}: required`);
    if (!hc.http_health_check && !hc.tcp_health_check) errs.push(`${p}: one of http_health_check or tcp_health_check is required`);
    const http = hc.http_health_check;
    if (http) {
      if (typeof http.path !== 'string' || http.path === '') errs.push(`${p}.http_health_check.path: required`);
      for (const f of ['expected_statuses', 'retriable_statuses']) {
        (http[f] ?? []).forEach((r: EnvoyJson, j: number) => {
          const start = Number(r.start ?? 0);
          const end = Number(r.end ?? 0);
          if (!(start >= 100 && end <= 600 && start < end)) errs.push(`${p}.http_health_check.${f}[${j}]: a range [start, end) of statuses within [100, 600), got [${start}, ${end})`);
        });
      }
    }
  });
  return errs;
}
