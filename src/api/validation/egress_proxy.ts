/**
 * Sidecar `outboundTrafficPolicy.egressProxy`, as Istio validates it: only with mode ALLOW_ANY
 * (Istio's proto default for a Sidecar's mode is REGISTRY_ONLY, so the mode must be given), a
 * fully qualified host, a port, a valid subset. Whether the host is a service is a
 * cross-resource warning (the ServiceEntry may be applied next): the pilot sends unknown
 * destinations to `outbound|<port>|<subset>|<host>`, which carries no traffic when no such
 * service port exists.
 */
import type { Config } from '../types.ts';
import { Problems, arr, obj, str, type Obj } from './common.ts';
import { validateDestination } from './virtualservice.ts';

const PATH = 'spec.outboundTrafficPolicy.egressProxy';

export function validateEgressProxy(spec: Obj, p: Problems): void {
  const tp = obj(spec.outboundTrafficPolicy);
  const ep = obj(tp?.egressProxy);
  if (!tp || !ep) return;
  if (tp.mode !== 'ALLOW_ANY') {
    p.err(PATH, 'sidecar: egress_proxy must be set only with ALLOW_ANY outbound_traffic_policy mode');
    return;
  }
  const host = str(ep.host);
  if (!host) p.err(`${PATH}.host`, 'sidecar: egress_proxy host is required');
  // Istio checks a DNS name, not a dotted one: a short host names outbound|<port>||<host> as given.
  else if (host.startsWith('*')) p.err(`${PATH}.host`, `sidecar: egress_proxy host "${host}" must be a DNS name, not a wildcard`);
  if (!obj(ep.port)) {
    p.err(`${PATH}.port`, 'sidecar: egress_proxy port must be non-nil');
    return;
  }
  validateDestination(ep, PATH, p);
}

/** Sidecars whose egressProxy names no known service port (ServiceEntry host or Kubernetes Service). */
export function egressProxyWarnings(configs: readonly Config[], domainSuffix: string, report: (c: Config, path: string, message: string) => void): void {
  const sidecars = configs.filter((c) => c.kind === 'Sidecar' && obj(obj(c.spec?.outboundTrafficPolicy)?.egressProxy));
  if (sidecars.length === 0) return;
  const ports = new Map<string, Set<number>>();
  const add = (host: string, port: unknown) => {
    if (!ports.has(host)) ports.set(host, new Set());
    if (typeof port === 'number') ports.get(host)!.add(port);
  };
  for (const c of configs) {
    if (c.kind === 'ServiceEntry') {
      for (const h of arr(c.spec?.hosts)) if (typeof h === 'string') for (const port of [undefined, ...arr(c.spec?.ports).map((x) => obj(x)?.number)]) add(h, port);
    } else if (c.kind === 'Service') {
      const h = `${c.metadata.name}.${c.metadata.namespace}.svc.${domainSuffix}`;
      for (const port of [undefined, ...arr(c.spec?.ports).map((x) => obj(x)?.port)]) add(h, port);
    }
  }
  for (const sc of sidecars) {
    const ep = obj(sc.spec.outboundTrafficPolicy.egressProxy)!;
    const host = str(ep.host);
    const port = obj(ep.port)?.number;
    if (!host || typeof port !== 'number') continue;
    const known = ports.get(host);
    if (!known) report(sc, `${PATH}.host`, `egressProxy host "${host}" is not a known service (no ServiceEntry host or Kubernetes Service of that name): traffic to unknown destinations will fail`);
    else if (!known.has(port)) report(sc, `${PATH}.port.number`, `egressProxy port ${port} is not a port of service "${host}" (it has ${[...known].sort((a, b) => a - b).join(', ') || 'none'}): traffic to unknown destinations will fail`);
  }
}
