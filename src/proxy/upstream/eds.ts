/**
 * ClusterLoadAssignment -> hosts grouped by priority (Envoy's EDS and the load_assignment of
 * STATIC clusters). Host objects are reused across updates when the address is unchanged, so
 * per-host state (pools, outlier ejection) survives an EDS push that only changes other hosts.
 */
import type { EnvoyJson } from '../../xds/types.ts';
import type { UpstreamHost } from '../interfaces.ts';
import { HealthFlag, setHealthFlag } from './host_health.ts';
import { assignmentPolicy, DEFAULT_OVERPROVISIONING_FACTOR } from './priority_load.ts';

/**
 * filter_metadata of the LocalityLbEndpoints a host came from (transport_socket_matches falls
 * back to it when the endpoint's own metadata has no envoy.transport_socket_match entry).
 */
export const localityMetadata = new WeakMap<UpstreamHost, Record<string, any>>();

/** LocalityLbEndpoints.load_balancing_weight of the locality a host came from (locality-weighted LB). */
export const localityLbWeight = new WeakMap<UpstreamHost, number>();

/** Endpoint.hostname (what use_hostname_for_hashing hashes). */
export const endpointHostname = new WeakMap<UpstreamHost, string>();

/** Envoy's HealthStatus values that take a host out of rotation. */
const UNHEALTHY = new Set(['UNHEALTHY', 'DRAINING', 'TIMEOUT']);

export function socketAddress(addr: EnvoyJson | undefined): { ip: string; port: number } | undefined {
  const sa = addr?.socket_address;
  if (!sa || typeof sa.address !== 'string') return undefined;
  return { ip: sa.address, port: Number(sa.port_value ?? 0) };
}

export function hostAddress(ip: string, port: number): string {
  return ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`;
}

export function makeHost(ip: string, port: number, weight = 1, healthy = true): UpstreamHost {
  return { address: hostAddress(ip, port), ip, port, weight, healthy };
}

/**
 * Hosts by priority. `previous` maps address -> host of the last assignment. Endpoints with a
 * hostname instead of an IP keep it as `ip` (STRICT_DNS resolves them separately).
 */
export function hostsFromAssignment(cla: EnvoyJson | undefined, previous?: Map<string, UpstreamHost>): UpstreamHost[][] {
  const priorities: UpstreamHost[][] = [];
  for (const lle of cla?.endpoints ?? []) {
    const prio = Number(lle.priority ?? 0);
    const list = (priorities[prio] ??= []);
    for (const lbe of lle.lb_endpoints ?? []) {
      const sa = socketAddress(lbe.endpoint?.address);
      if (!sa) continue;
      const address = hostAddress(sa.ip, sa.port);
      const weight = Number(lbe.load_balancing_weight ?? 1) || 1;
      const old = previous?.get(address);
      const host: UpstreamHost = old ?? { address, ip: sa.ip, port: sa.port, weight, healthy: true };
      host.weight = weight;
      // Only EDS's own flags: active health checking and outlier ejection survive the push.
      setHealthFlag(host, HealthFlag.FAILED_EDS_HEALTH, UNHEALTHY.has(lbe.health_status));
      setHealthFlag(host, HealthFlag.DEGRADED_EDS_HEALTH, lbe.health_status === 'DEGRADED');
      if (lle.locality) host.locality = lle.locality;
      if (typeof lbe.endpoint?.hostname === 'string' && lbe.endpoint.hostname) endpointHostname.set(host, lbe.endpoint.hostname);
      else endpointHostname.delete(host);
      localityLbWeight.set(host, Number(lle.load_balancing_weight?.value ?? lle.load_balancing_weight ?? 0) || 0);
      const md = lbe.metadata?.filter_metadata;
      if (md) host.metadata = md;
      else delete host.metadata;
      const lmd = lle.metadata?.filter_metadata;
      if (lmd) localityMetadata.set(host, lmd);
      else localityMetadata.delete(host);
      list.push(host);
    }
  }
  for (let i = 0; i < priorities.length; i++) priorities[i] ??= [];
  // ClusterLoadAssignment.policy travels with the host set to the load balancer (priority_load.ts).
  const op = cla?.policy?.overprovisioning_factor;
  assignmentPolicy.set(priorities, {
    overprovisioningFactor: op === undefined ? DEFAULT_OVERPROVISIONING_FACTOR : Number(typeof op === 'object' ? op.value : op),
    weightedPriorityHealth: cla?.policy?.weighted_priority_health === true,
  });
  return priorities;
}

/** address -> host over every priority. */
export function indexHosts(priorities: UpstreamHost[][]): Map<string, UpstreamHost> {
  const m = new Map<string, UpstreamHost>();
  for (const p of priorities) for (const h of p) m.set(h.address, h);
  return m;
}
