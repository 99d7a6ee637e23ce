/**
 * Why a host is out of rotation (Envoy's Host::HealthFlag). Several sources mark a host: EDS
 * health_status, active health checking and outlier detection. Each sets or clears only its own
 * bit; the host is healthy when no bit is set. `host.healthy` is kept equal to that, so load
 * balancers read one boolean on the hot path. After changing flags, the owner calls its cluster's
 * `hostHealthChanged()` so load balancers rebuild their candidate sets.
 */
import type { UpstreamHost } from '../interfaces.ts';

export const HealthFlag = {
  /** EDS health_status UNHEALTHY / DRAINING / TIMEOUT. */
  FAILED_EDS_HEALTH: 1 << 0,
  /** Active health checking: the host failed its checks (or has not passed one yet). */
  FAILED_ACTIVE_HC: 1 << 1,
  /** Outlier detection ejected the host. */
  FAILED_OUTLIER_CHECK: 1 << 2,
  /** EDS health_status DEGRADED (still in rotation, counted apart). */
  DEGRADED_EDS_HEALTH: 1 << 3,
  /** Active health checking: the host answered with x-envoy-degraded. */
  DEGRADED_ACTIVE_HC: 1 << 4,
  /** Active health checking: a new host not checked yet (ignore_new_hosts_until_first_hc). */
  PENDING_ACTIVE_HC: 1 << 5,
} as const;

/** Flags that take a host out of rotation (the degraded ones do not). */
const UNHEALTHY_MASK = HealthFlag.FAILED_EDS_HEALTH | HealthFlag.FAILED_ACTIVE_HC | HealthFlag.FAILED_OUTLIER_CHECK | HealthFlag.PENDING_ACTIVE_HC;

/** Envoy's /clusters health_flags names, in Envoy's order. */
const NAMES: [number, string][] = [
  [HealthFlag.FAILED_ACTIVE_HC, '/failed_active_hc'],
  [HealthFlag.FAILED_OUTLIER_CHECK, '/failed_outlier_check'],
  [HealthFlag.FAILED_EDS_HEALTH, '/failed_eds_health'],
  [HealthFlag.DEGRADED_ACTIVE_HC, '/degraded_active_hc'],
  [HealthFlag.DEGRADED_EDS_HEALTH, '/degraded_eds_health'],
  [HealthFlag.PENDING_ACTIVE_HC, '/pending_active_hc'],
];

/** Sets or clears one flag; returns true when the host's `healthy` changed. */
export function setHealthFlag(host: UpstreamHost, flag: number, on: boolean): boolean {
  const before = host.healthFlags ?? 0;
  const after = on ? before | flag : before & ~flag;
  host.healthFlags = after;
  const healthy = (after & UNHEALTHY_MASK) === 0;
  const changed = healthy !== host.healthy;
  host.healthy = healthy;
  return changed;
}

export function hasHealthFlag(host: UpstreamHost, flag: number): boolean {
  return ((host.healthFlags ?? 0) & flag) !== 0;
}

/** Envoy's /clusters `health_flags` text: "healthy", or the set flags joined ("/failed_outlier_check"). */
export function healthFlagsText(host: UpstreamHost): string {
  const f = host.healthFlags ?? (host.healthy ? 0 : HealthFlag.FAILED_EDS_HEALTH);
  if (f === 0) return 'healthy';
  let s = '';
  for (const [bit, name] of NAMES) if (f & bit) s += name;
  return s;
}
