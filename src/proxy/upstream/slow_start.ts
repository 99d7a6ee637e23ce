/**
 * Slow start (Envoy's slow_start_config on round_robin_lb_config / least_request_lb_config; Istio's
 * warmup): a host that joined the cluster less than slow_start_window ago gets its weight scaled by
 * max(min_weight_percent, time_factor^(1/aggression)), time_factor = max(seconds since join, 1) /
 * window seconds, so traffic to it ramps up instead of arriving all at once.
 *
 * A host's join time is the first time any load balancer saw the host object; eds.ts reuses host
 * objects across EDS and CDS updates, so a cluster update does not restart the ramp.
 */
import type { UpstreamHost } from '../interfaces.ts';
import type { EnvoyJson } from '../../xds/types.ts';
import { durationMs } from '../duration.ts';

const joined = new WeakMap<UpstreamHost, number>();

/** Records when `h` joined (first sighting) and returns that time. */
export function noteJoined(h: UpstreamHost, now = Date.now()): number {
  let t = joined.get(h);
  if (t === undefined) {
    t = now;
    joined.set(h, t);
  }
  return t;
}

export interface SlowStartConfig {
  windowMs: number;
  aggression: number;
  /** 0..1 */
  minWeight: number;
}

/** The slow_start_config of a ROUND_ROBIN or LEAST_REQUEST cluster, if any (window 0 means off). */
export function slowStartConfig(cluster: EnvoyJson, typed?: EnvoyJson): SlowStartConfig | undefined {
  const c = typed?.slow_start_config ?? cluster.round_robin_lb_config?.slow_start_config ?? cluster.least_request_lb_config?.slow_start_config;
  if (!c) return undefined;
  const windowMs = durationMs(c.slow_start_window, 0);
  if (windowMs <= 0) return undefined;
  const agg = c.aggression;
  const aggression = Number(agg === undefined ? 1 : typeof agg === 'object' ? agg.default_value ?? 1 : agg);
  const mwp = c.min_weight_percent;
  const minPct = Number(mwp === undefined ? 10 : typeof mwp === 'object' ? mwp.value ?? 10 : mwp);
  return { windowMs, aggression: aggression > 0 ? aggression : 1, minWeight: Math.min(100, Math.max(0, minPct)) / 100 };
}

/** The factor (0..1] a host's weight is scaled by now; 1 once it is past the window. */
export function slowStartFactor(h: UpstreamHost, cfg: SlowStartConfig, now = Date.now()): number {
  const age = now - noteJoined(h, now);
  if (age >= cfg.windowMs) return 1;
  const timeFactor = Math.max(age / 1000, 1) / (cfg.windowMs / 1000);
  return Math.max(cfg.minWeight, Math.pow(Math.min(1, timeFactor), 1 / cfg.aggression));
}

/**
 * When the newest of these hosts leaves its window (0 without slow start): past it every weight is
 * plain again, so balancers skip the per-request ramp computation (hosts join only on updates).
 */
export function rampEndsAt(priorities: readonly { hosts: UpstreamHost[] }[], cfg: SlowStartConfig | undefined): number {
  if (!cfg) return 0;
  let latest = 0;
  for (const p of priorities) for (const h of p.hosts) latest = Math.max(latest, noteJoined(h));
  return latest + cfg.windowMs;
}
