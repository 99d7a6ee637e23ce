/**
 * ServiceEntry → model Services and their own endpoints (Istio's serviceentry conversion).
 * Every host becomes one Service carrying all the entry's ports. Endpoints come from, in Istio's
 * order:
 *   - `spec.endpoints` (inline WorkloadEntries), one endpoint per entry per port;
 *   - `spec.workloadSelector`: workloads in the entry's namespace whose labels match — computed by
 *     the aggregate, since workloads come from every source (see aggregate.ts);
 *   - neither, with resolution DNS / DNS_ROUND_ROBIN: the host itself, resolved by the proxy.
 */
import type { Config } from '../api/types.ts';
import type { Endpoint, Protocol, Resolution, Service, ServicePort } from './model.ts';
import { cleanLabels } from './labels.ts';
import { parseProtocol } from './protocol.ts';
import { parseEntry, type WorkloadEntrySpec } from './workloadentry.ts';

export const SERVICE_ENTRY_REGISTRY = 'serviceentry';
export const TLS_MODE_LABEL = 'security.istio.io/tlsMode';

interface ServiceEntryPortSpec {
  number?: number;
  protocol?: string;
  name?: string;
  targetPort?: number;
}
interface ServiceEntrySpec {
  hosts?: string[];
  addresses?: string[];
  ports?: ServiceEntryPortSpec[];
  location?: 'MESH_EXTERNAL' | 'MESH_INTERNAL';
  resolution?: Resolution;
  endpoints?: WorkloadEntrySpec[];
  workloadSelector?: { labels?: Record<string, string> };
  exportTo?: string[];
}

const RESOLUTIONS: Resolution[] = ['STATIC', 'DNS', 'DNS_ROUND_ROBIN', 'NONE'];

function toPort(p: ServiceEntryPortSpec): ServicePort | undefined {
  const port = Number(p.number);
  if (!Number.isInteger(port) || port <= 0 || port > 65535) return undefined;
  // Istio parses the declared protocol only; an absent one is UNSUPPORTED (TCP + sniffing).
  const protocol: Protocol = parseProtocol(p.protocol);
  const out: ServicePort = { name: p.name ?? '', port, protocol };
  const tp = Number(p.targetPort);
  if (Number.isInteger(tp) && tp > 0 && tp <= 65535 && tp !== port) out.targetPort = tp;
  return out;
}

function isDNS(r: Resolution): boolean {
  return r === 'DNS' || r === 'DNS_ROUND_ROBIN';
}

/** The Services one ServiceEntry defines: one per host, sorted by hostname. */
export function convertServiceEntry(cfg: Config): Service[] {
  const spec: ServiceEntrySpec = cfg.spec ?? {};
  const { name, namespace } = cfg.metadata;
  const resolution: Resolution = RESOLUTIONS.includes(spec.resolution as Resolution) ? spec.resolution! : 'NONE';
  const ports = (spec.ports ?? []).map(toPort).filter((p): p is ServicePort => !!p);
  const selector = cleanLabels(spec.workloadSelector?.labels);
  const hosts = [...new Set((spec.hosts ?? []).filter((h) => typeof h === 'string' && h !== ''))].sort();
  return hosts.map((host) => {
    const svc: Service = {
      hostname: host,
      namespace,
      name: host,
      ports: ports.map((p) => ({ ...p })),
      addresses: (spec.addresses ?? []).filter((a) => typeof a === 'string' && a !== ''),
      labels: cleanLabels(cfg.metadata.labels) ?? {},
      resolution,
      exportTo: spec.exportTo?.length ? [...spec.exportTo] : ['*'],
      // MESH_EXTERNAL is the enum's zero value: an entry that says nothing is outside the mesh.
      meshExternal: spec.location !== 'MESH_INTERNAL',
      registry: SERVICE_ENTRY_REGISTRY,
      source: `ServiceEntry/${namespace}/${name}`,
    };
    if (selector) svc.selector = selector;
    return svc;
  });
}

/** Endpoints a ServiceEntry states itself (inline endpoints, or the DNS host fallback). */
export function serviceEntryEndpoints(cfg: Config, services: Service[]): Endpoint[] {
  const spec: ServiceEntrySpec = cfg.spec ?? {};
  const out: Endpoint[] = [];
  const inline = (spec.endpoints ?? []).map(parseEntry).filter((e) => e.address);
  for (const svc of services) {
    for (const sp of svc.ports) {
      for (const e of inline) {
        const ep: Endpoint = {
          service: svc.hostname,
          servicePortName: sp.name,
          address: e.address!,
          // Istio: the endpoint's own port for this port name, else targetPort, else the port.
          port: e.ports?.[sp.name] ?? sp.targetPort ?? sp.port,
          labels: e.labels,
          locality: e.locality,
          weight: e.weight,
          healthy: true,
          namespace: svc.namespace,
          tlsModeIstio: e.labels[TLS_MODE_LABEL] === 'istio',
        };
        if (e.serviceAccount) ep.serviceAccount = e.serviceAccount;
        if (e.network) ep.network = e.network;
        out.push(ep);
      }
      const hostIsEndpoint = inline.length === 0 && !svc.selector && isDNS(svc.resolution) && !svc.hostname.startsWith('*');
      if (hostIsEndpoint) {
        out.push({
          service: svc.hostname,
          servicePortName: sp.name,
          address: svc.hostname,
          port: sp.targetPort ?? sp.port,
          labels: {},
          locality: {},
          weight: 1,
          healthy: true,
          namespace: svc.namespace,
        });
      }
    }
  }
  return out;
}
