/**
 * Envoy's priority load (LoadBalancerBase): how much of the traffic each priority level gets.
 *
 * A priority's health is its healthy share × the overprovisioning factor (140% by default, from
 * ClusterLoadAssignment.policy.overprovisioning_factor), capped at 100; load fills the priorities
 * in order by health and the remainder spills to the next level, scaled so the total is 100 even
 * when the levels together are less than fully available. Degraded hosts get load only after the
 * healthy ones. A priority whose healthy + degraded share is below healthy_panic_threshold (50%
 * by default; 0 disables panic) is in panic: it spreads its load over all its hosts. With no
 * available host anywhere, load goes to the priorities by host count, all in panic.
 *
 * Retries with envoy.retry_priorities.previous_priorities compute the load again with the tried
 * priorities taken as unavailable (LoadBalancerContext.previousPriorities).
 */
import type { UpstreamHost } from '../interfaces.ts';
import type { EnvoyJson } from '../../xds/types.ts';
import { HealthFlag, hasHealthFlag } from './host_health.ts';

export const DEFAULT_OVERPROVISIONING_FACTOR = 140;
export const DEFAULT_PANIC_THRESHOLD = 50;

/** Settings of ClusterLoadAssignment.policy that eds.ts keeps beside the host set it built. */
export interface AssignmentPolicy {
  /** Percent (Envoy's unit: 140 = 1.4). */
  overprovisioningFactor: number;
  /** ClusterLoadAssignment.policy.weighted_priority_health: health from weights, not host counts. */
  weightedPriorityHealth: boolean;
}

/** Host sets built from a ClusterLoadAssignment carry its policy here (see eds.ts). */
export const assignmentPolicy = new WeakMap<UpstreamHost[][], AssignmentPolicy>();

export function policyOf(priorities: UpstreamHost[][]): AssignmentPolicy {
  return assignmentPolicy.get(priorities) ?? { overprovisioningFactor: DEFAULT_OVERPROVISIONING_FACTOR, weightedPriorityHealth: false };
}

/** A host in rotation but marked degraded (EDS DEGRADED or x-envoy-degraded from health checks). */
export function isDegraded(h: UpstreamHost): boolean {
  return h.healthy && (hasHealthFlag(h, HealthFlag.DEGRADED_EDS_HEALTH) || hasHealthFlag(h, HealthFlag.DEGRADED_ACTIVE_HC));
}

/** Healthy and not degraded: what Envoy's healthyHosts() holds. */
export function isFullyHealthy(h: UpstreamHost): boolean {
  return h.healthy && !isDegraded(h);
}

/** common_lb_config.healthy_panic_threshold in percent (Percent { value }), default 50. */
export function panicThreshold(cluster: EnvoyJson): number {
  const v = cluster.common_lb_config?.healthy_panic_threshold;
  if (v === undefined || v === null) return DEFAULT_PANIC_THRESHOLD;
  const n = Number(typeof v === 'object' ? v.value ?? 0 : v);
  return Number.isFinite(n) ? Math.min(100, Math.max(0, n)) : DEFAULT_PANIC_THRESHOLD;
}

export interface PriorityLoad {
  /** Percent of traffic to the healthy hosts of each priority (sums with `degraded` to 100). */
  healthy: number[];
  degraded: number[];
  /** Per priority: use all its hosts (panic). */
  panic: boolean[];
}

function availability(hosts: UpstreamHost[], policy: AssignmentPolicy, excluded: boolean): { health: number; degraded: number } {
  if (excluded || hosts.length === 0) return { health: 0, degraded: 0 };
  let healthy = 0;
  let degraded = 0;
  let total = 0;
  for (const h of hosts) {
    const w = policy.weightedPriorityHealth ? h.weight : 1;
    total += w;
    if (isDegraded(h)) degraded += w;
    else if (h.healthy) healthy += w;
  }
  const f = policy.overprovisioningFactor;
  // Integer arithmetic as Envoy's (uint32 percent).
  return { health: Math.min(100, Math.floor((f * healthy) / total)), degraded: Math.min(100, Math.floor((f * degraded) / total)) };
}

function distribute(load: number[], avail: number[], total: number, normalized: number): { first: number; remaining: number } {
  let first = -1;
  for (let i = 0; i < avail.length; i++) {
    if (first < 0 && avail[i] > 0) first = i;
    load[i] = Math.min(total, Math.floor((avail[i] * 100) / normalized));
    total -= load[i];
  }
  return { first, remaining: total };
}

function inPanic(hosts: UpstreamHost[], threshold: number, excluded: boolean): boolean {
  const n = hosts.length;
  if (n === 0 || excluded) return true;
  let avail = 0;
  for (const h of hosts) if (h.healthy) avail++;
  return (100 * avail) / n < threshold;
}

/** The load per priority (Envoy's recalculatePerPriorityState + recalculatePerPriorityPanic). */
export function computePriorityLoad(priorities: UpstreamHost[][], policy: AssignmentPolicy, threshold: number, excluded?: ReadonlySet<number>): PriorityLoad {
  const n = Math.max(1, priorities.length);
  const healthy = new Array<number>(n).fill(0);
  const degraded = new Array<number>(n).fill(0);
  const panic = new Array<boolean>(n).fill(false);
  const health: number[] = [];
  const deg: number[] = [];
  for (let p = 0; p < n; p++) {
    const a = availability(priorities[p] ?? [], policy, excluded?.has(p) ?? false);
    health.push(a.health);
    deg.push(a.degraded);
  }
  let sum = 0;
  for (let p = 0; p < n; p++) sum += health[p] + deg[p];
  const normalized = Math.min(100, sum);
  if (normalized === 0 && threshold === 0) {
    // Panic disabled and nothing available: P0 takes the load (and finds no host).
    healthy[0] = 100;
    return { healthy, degraded, panic };
  }
  if (normalized > 0) {
    const h = distribute(healthy, health, 100, normalized);
    const d = distribute(degraded, deg, h.remaining, normalized);
    if (d.remaining !== 0) {
      if (h.first !== -1) healthy[h.first] += d.remaining;
      else degraded[d.first] += d.remaining;
    }
    for (let p = 0; p < n; p++) panic[p] = normalized === 100 ? false : inPanic(priorities[p] ?? [], threshold, excluded?.has(p) ?? false);
    if (!panic.every(Boolean)) return { healthy, degraded, panic };
    // Every priority in panic: as nothing available, load by host count (Envoy).
    healthy.fill(0);
    degraded.fill(0);
  }
  // Total panic: load by host count over every priority, each using all its hosts.
  let hostsTotal = 0;
  for (const hs of priorities) hostsTotal += hs.length;
  for (let p = 0; p < n; p++) panic[p] = threshold > 0;
  if (hostsTotal === 0) {
    healthy[0] = 100;
    return { healthy, degraded, panic };
  }
  let left = 100;
  let firstNonEmpty = -1;
  for (let p = 0; p < n; p++) {
    const c = (priorities[p] ?? []).length;
    if (firstNonEmpty < 0 && c > 0) firstNonEmpty = p;
    healthy[p] = Math.floor((100 * c) / hostsTotal);
    left -= healthy[p];
  }
  healthy[firstNonEmpty] += left;
  return { healthy, degraded, panic };
}

/** Envoy's choosePriority: `hash` (any non-negative integer) mod 100 picks a slot of the load. */
export function choosePriority(hash: number, load: PriorityLoad): { priority: number; degraded: boolean } {
  const h = (hash % 100) + 1;
  let acc = 0;
  for (let p = 0; p < load.healthy.length; p++) {
    acc += load.healthy[p];
    if (h <= acc) return { priority: p, degraded: false };
  }
  for (let p = 0; p < load.degraded.length; p++) {
    acc += load.degraded[p];
    if (h <= acc) return { priority: p, degraded: true };
  }
  return { priority: 0, degraded: false };
}
