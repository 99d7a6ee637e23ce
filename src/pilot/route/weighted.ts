/**
 * Route destinations with their traffic shares, for HTTP routes, sidecar tcp/tls routes and
 * gateway tcp/tls routes alike. The weight rule itself is Istio's, in src/api/weights.ts (the
 * one validation applies): here it only decides what Envoy gets. A set that rule calls invalid
 * is never translated (validation rejects it; if one slips through, the route is skipped rather
 * than emitted as an empty `weighted_clusters`, which Envoy rejects with the whole update).
 */
import { destinationWeights } from '../../api/weights.ts';
import type { Destination } from '../../api/networking.ts';
import type { PushContext } from '../types.ts';
import { clusterNameFor } from './destination.ts';

/** The destinations that carry traffic, in order, each with its (relative) weight; undefined when none or invalid. */
export function carryingDestinations<T extends { destination?: Destination; weight?: number | null }>(route: readonly T[] | undefined): Array<{ d: T; weight: number }> | undefined {
  const dests = (route ?? []).filter((d) => d.destination?.host);
  if (dests.length === 0) return undefined;
  const r = destinationWeights(dests);
  if (!r.valid) return undefined;
  const out = dests.map((d, i) => ({ d, weight: r.weights[i]! })).filter((w) => w.weight > 0);
  return out.length > 0 ? out : undefined;
}

/** An L4 route's target: one cluster, or weighted clusters when several carry traffic. */
export type L4Target = string | Array<{ name: string; weight: number }>;

/**
 * A tcp/tls route's destinations as a tcp_proxy target (Istio's cluster naming, see
 * clusterNameFor): a single carrying destination is a plain cluster, never a one-entry split.
 */
export function l4Target(push: PushContext, vsNamespace: string, route: ReadonlyArray<{ destination: Destination; weight?: number }> | undefined, port: number): L4Target | undefined {
  const carrying = carryingDestinations(route);
  if (!carrying) return undefined;
  const items = carrying.map(({ d, weight }) => ({ name: clusterNameFor(push, vsNamespace, d.destination, port), weight }));
  return items.length === 1 ? items[0]!.name : items;
}
