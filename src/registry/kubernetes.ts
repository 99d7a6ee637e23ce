/**
 * Kubernetes Service objects (as read from config) → model Services (Istio's kube
 * conversion.ConvertService). Endpoints do not come from here: a Service's selector picks
 * workloads (WorkloadEntries, self-registered proxies, pods from a live source) and the aggregate
 * turns each pick into endpoints.
 */
import type { Config } from '../api/types.ts';
import type { Endpoint, Service, ServicePort } from './model.ts';
import { cleanLabels } from './labels.ts';
import { kubePortProtocol } from './protocol.ts';
import { isIP } from 'node:net';

export const KUBERNETES_REGISTRY = 'kubernetes';
/** Istio's annotation restricting where a Kubernetes Service is visible. */
export const EXPORT_TO_ANNOTATION = 'networking.istio.io/exportTo';

interface KubeServicePortSpec {
  name?: string;
  port?: number;
  targetPort?: number | string;
  protocol?: string;
  appProtocol?: string;
}
interface KubeServiceSpec {
  type?: string;
  selector?: Record<string, string>;
  ports?: KubeServicePortSpec[];
  clusterIP?: string;
  clusterIPs?: string[];
  externalName?: string;
  externalIPs?: string[];
}

/** `<name>.<namespace>.svc.<domain>`. */
export function kubeHostname(name: string, namespace: string, domain: string): string {
  return `${name}.${namespace}.svc.${domain}`;
}

function toPort(p: KubeServicePortSpec): ServicePort | undefined {
  const port = Number(p.port);
  if (!Number.isInteger(port) || port <= 0 || port > 65535) return undefined;
  const out: ServicePort = { name: p.name ?? '', port, protocol: kubePortProtocol({ ...p, port }) };
  const tp = p.targetPort;
  if (typeof tp === 'number' || (typeof tp === 'string' && /^\d+$/.test(tp))) {
    const n = Number(tp);
    if (n > 0 && n <= 65535 && n !== port) out.targetPort = n;
  } else if (typeof tp === 'string' && tp !== '') {
    out.targetPortName = tp;
  }
  return out;
}

function serviceAddresses(spec: KubeServiceSpec): string[] {
  const ips = spec.clusterIPs?.length ? spec.clusterIPs : spec.clusterIP ? [spec.clusterIP] : [];
  return ips.filter((ip) => typeof ip === 'string' && ip !== '' && ip !== 'None');
}

/** spec.externalIPs that are IP addresses (what an east-west gateway is reached on from other networks). */
function externalAddresses(spec: KubeServiceSpec): { externalAddresses?: string[] } {
  const ips = Array.isArray(spec.externalIPs) ? spec.externalIPs.filter((ip) => typeof ip === 'string' && isIP(ip) !== 0) : [];
  return ips.length > 0 ? { externalAddresses: ips } : {};
}

/** One Kubernetes Service config → one model Service. Ports that are not valid are left out. */
export function convertKubeService(cfg: Config, domain: string): Service {
  const spec: KubeServiceSpec = cfg.spec ?? {};
  const { name, namespace } = cfg.metadata;
  const externalName = spec.type === 'ExternalName' && spec.externalName;
  const headless = spec.clusterIP === 'None';
  const exportTo = cfg.metadata.annotations?.[EXPORT_TO_ANNOTATION]
    ?.split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const svc: Service = {
    hostname: kubeHostname(name, namespace, domain),
    namespace,
    name,
    ports: (spec.ports ?? []).map(toPort).filter((p): p is ServicePort => !!p),
    addresses: externalName ? [] : serviceAddresses(spec),
    ...externalAddresses(spec),
    labels: cleanLabels(cfg.metadata.labels) ?? {},
    // Istio: ExternalName is a DNS alias outside the mesh; headless means passthrough to pod IPs.
    resolution: externalName ? 'DNS' : headless ? 'NONE' : 'STATIC',
    exportTo: exportTo?.length ? exportTo : ['*'],
    meshExternal: !!externalName,
    registry: KUBERNETES_REGISTRY,
    source: `Service/${namespace}/${name}`,
  };
  const selector = cleanLabels(spec.selector);
  if (selector && !externalName) svc.selector = selector;
  return svc;
}

/** An ExternalName Service has one endpoint per port: the external name itself. */
export function externalNameEndpoints(cfg: Config, svc: Service): Endpoint[] {
  const spec: KubeServiceSpec = cfg.spec ?? {};
  if (spec.type !== 'ExternalName' || !spec.externalName) return [];
  return svc.ports.map((p) => ({
    service: svc.hostname,
    servicePortName: p.name,
    address: spec.externalName!,
    port: p.targetPort ?? p.port,
    labels: {},
    locality: {},
    weight: 1,
    healthy: true,
    namespace: svc.namespace,
  }));
}
