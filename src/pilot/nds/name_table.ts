/**
 * Istio's NDS generator (pkg/dns/server BuildNameTable): the NameTable
 * (istio.networking.nds.v1) a sidecar's agent answers DNS from. One entry per hostname the proxy
 * sees, with the addresses it knows the service by (its own, or auto-allocated VIPs). Kubernetes
 * services also carry their short name and namespace, from which the agent derives `name`,
 * `name.ns` and `name.ns.svc` (src/agent/dns/lookup_table.ts).
 *
 * Left out, so the agent forwards them upstream: wildcard hosts, services without an IP, and
 * headless services (their pod IPs change on endpoint-only pushes, which do not carry NDS).
 */
import { isIP } from 'node:net';
import type { EnvoyJson, NamedResource } from '../../xds/types.ts';
import type { Proxy, PushContext } from '../types.ts';
import { servicesForProxy } from '../visibility.ts';
import { serviceAddressesForProxy } from './auto_allocate.ts';

/** NameTable.NameInfo in JSON form. */
export interface NameInfo {
  ips: string[];
  registry: string;
  shortname?: string;
  namespace?: string;
}

/** Istio's registry names (provider.ID): Kubernetes, or External for ServiceEntries. */
function registryName(registry: string): string {
  return registry === 'kubernetes' ? 'Kubernetes' : 'External';
}

/** The proxy's NameTable as `{ table: { host: NameInfo } }`, hosts in sorted order. */
export function buildNameTable(push: PushContext, proxy: Proxy): { table: Record<string, NameInfo> } {
  const table: Record<string, NameInfo> = {};
  const services = [...servicesForProxy(push, proxy)].sort((a, b) => (a.hostname < b.hostname ? -1 : a.hostname > b.hostname ? 1 : 0));
  for (const svc of services) {
    if (svc.hostname.startsWith('*') || table[svc.hostname]) continue;
    // CIDRs and the unspecified address are not answers.
    const ips = serviceAddressesForProxy(push, proxy, svc).filter((a) => isIP(a) !== 0 && a !== '0.0.0.0' && a !== '::');
    if (ips.length === 0) continue;
    const info: NameInfo = { ips, registry: registryName(svc.registry) };
    if (svc.registry === 'kubernetes') {
      info.shortname = svc.name;
      info.namespace = svc.namespace;
    }
    table[svc.hostname] = info;
  }
  return { table };
}

/** NDS resources: one unnamed NameTable, as istiod sends it. */
export function generateNameTable(push: PushContext, proxy: Proxy): NamedResource[] {
  return [{ name: '', resource: buildNameTable(push, proxy) as EnvoyJson }];
}
