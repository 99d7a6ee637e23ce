/**
 * The workload ports a sidecar terminates inbound traffic for, and where each is handed to the
 * application. Without a Sidecar `ingress` list these are the workload's service ports
 * (Istio's ServiceTargets) to <app address>:<target port>; with one, as in Istio, the ingress
 * listeners replace them entirely: each listener's port, protocol and defaultEndpoint, bound at
 * `bind` (or the pod IP) when its captureMode is NONE or the proxy has no capture.
 */
import type { Protocol, Service } from '../registry/model.ts';
import { parseProtocol, kubePortProtocol } from '../registry/protocol.ts';
import type { Proxy, PushContext } from './types.ts';
import { appAddress, isNoneMode } from './interception.ts';
import { sidecarFor } from './visibility.ts';
import { serviceTargetsFor, uniqueTargetPorts, type ServiceTarget } from './workload.ts';

/** One inbound port: the chains match `target.targetPort`, the cluster dials `endpoint`. */
export interface InboundPort {
  target: ServiceTarget;
  endpoint: { address: string; port: number };
  /** A listener bound to `bind:port` instead of a chain in virtualInbound (15006). */
  bound: boolean;
  /** The address a bound listener takes (the pod IP unless the ingress listener says `bind`). */
  bind?: string;
  /** Set when the port comes from a Sidecar ingress listener (index into spec.ingress). */
  ingressIndex?: number;
}

/** Istio's accepted defaultEndpoint hosts; 0.0.0.0 / [::] mean the workload's own address. */
const DEFAULT_ENDPOINT = /^(127\.0\.0\.1|0\.0\.0\.0|\[::1\]|\[::\]):(\d+)$/;

interface IngressSpec {
  port?: { number?: number; protocol?: string; name?: string };
  bind?: string;
  captureMode?: string;
  defaultEndpoint?: string;
}

/** Inbound ports for the proxy, by port. */
export function inboundPortsFor(push: PushContext, proxy: Proxy): InboundPort[] {
  const ingress: IngressSpec[] | undefined = proxy.type === 'sidecar' ? sidecarFor(push, proxy)?.spec?.ingress : undefined;
  const targets = serviceTargetsFor(push, proxy);
  if (!ingress || ingress.length === 0) {
    return uniqueTargetPorts(targets).map((target) => ({ target, endpoint: { address: appAddress(proxy), port: target.targetPort }, bound: isNoneMode(proxy) }));
  }
  const out: InboundPort[] = [];
  ingress.forEach((l, i) => {
    const number = l.port?.number;
    if (!number) return; // validation refuses it
    const endpoint = parseDefaultEndpoint(l.defaultEndpoint, proxy, number);
    // unix:// endpoints and binds are accepted with a not-enforced warning (the proxy dials and
    // binds IP addresses only): that listener is not built. Malformed ones validation refuses.
    if (!endpoint || l.bind?.startsWith('unix://')) return;
    const protocol: Protocol = l.port?.protocol ? parseProtocol(l.port.protocol) : kubePortProtocol({ port: number, name: l.port?.name });
    // The service whose workload port this is, for metadata and the route's decorator; a port no
    // service declares still gets its chain (Istio makes up a service for it).
    const svc = targets.find((t) => t.targetPort === number)?.service ?? syntheticService(proxy);
    const target: ServiceTarget = { service: svc, port: { name: l.port?.name ?? `port-${number}`, port: number, protocol }, targetPort: number };
    const bound = isNoneMode(proxy) || l.captureMode === 'NONE';
    out.push({ target, endpoint, bound, bind: l.bind || undefined, ingressIndex: i });
  });
  return out.sort((a, b) => a.target.targetPort - b.target.targetPort);
}

/** "127.0.0.1:8080" etc. to an address; empty means the app address on the listener's port. */
function parseDefaultEndpoint(ep: string | undefined, proxy: Proxy, port: number): { address: string; port: number } | undefined {
  if (!ep) return { address: appAddress(proxy), port };
  const m = DEFAULT_ENDPOINT.exec(ep);
  if (!m) return undefined;
  const host = m[1]!;
  const address = host === '0.0.0.0' || host === '[::]' ? appAddress(proxy) : host === '[::1]' ? '::1' : host;
  return { address, port: Number(m[2]) };
}

function syntheticService(proxy: Proxy): Service {
  const name = `sidecar.${proxy.namespace}`;
  return { hostname: name, namespace: proxy.namespace, name, ports: [], addresses: [], labels: {}, resolution: 'STATIC', exportTo: ['.'], meshExternal: false, registry: 'sidecar' };
}
