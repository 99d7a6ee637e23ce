/**
 * The proxy's own side: which service ports its workload serves (Istio's ServiceTargets). Inbound
 * clusters and the virtualInbound listener are built from these.
 */
import type { Service, ServicePort } from '../registry/model.ts';
import type { Proxy, PushContext } from './types.ts';
import { cmp, labelsMatch } from './util.ts';

/** One service port the proxy's workload serves, with the port the application listens on. */
export interface ServiceTarget {
  service: Service;
  port: ServicePort;
  targetPort: number;
}

/**
 * Service ports served by this proxy: an endpoint at one of its IPs, or (before endpoints are
 * known) a selector in its namespace matching its labels. Sorted by target port, then host.
 */
export function serviceTargetsFor(push: PushContext, proxy: Proxy): ServiceTarget[] {
  const out: ServiceTarget[] = [];
  const ips = new Set(proxy.ipAddresses);
  for (const svc of push.services) {
    for (const port of svc.ports) {
      const eps = push.endpoints.get(`${svc.hostname}|${port.port}`) ?? [];
      const mine = eps.find((e) => ips.has(e.address));
      if (mine) out.push({ service: svc, port, targetPort: mine.port });
      else if (svc.namespace === proxy.namespace && svc.selector && Object.keys(svc.selector).length > 0 && labelsMatch(svc.selector, proxy.labels)) {
        out.push({ service: svc, port, targetPort: port.targetPort ?? port.port });
      }
    }
  }
  return out.sort((a, b) => a.targetPort - b.targetPort || cmp(a.service.hostname, b.service.hostname));
}

/** One target per distinct workload port (the first service wins, like Istio's inbound dedup). */
export function uniqueTargetPorts(targets: ServiceTarget[]): ServiceTarget[] {
  const seen = new Set<number>();
  return targets.filter((t) => (seen.has(t.targetPort) ? false : (seen.add(t.targetPort), true)));
}
