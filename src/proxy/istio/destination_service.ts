/**
 * destination_service / destination_service_name / destination_service_namespace as Istio's stats
 * filter derives them (populatePeerInfo):
 * - route `allow_any` → name PassthroughCluster, route `block_all` → BlackHoleCluster;
 * - clusters PassthroughCluster, BlackHoleCluster, InboundPassthroughCluster(Ipv4|Ipv6) → their
 *   own name;
 * - otherwise istio.services[0] of the cluster's metadata (host, name, namespace);
 * - the Host header (:authority) for the host, and the name when nothing above gave one, unless
 *   the config sets disable_host_header_fallback (pilot sets it on inbound and gateway listeners,
 *   as Istio's does, so only outbound sidecars use it).
 * Per cluster config the answer is computed once; the Host fallback only runs for clusters
 * without service metadata. Host values are bounded like every label (MAX_LABEL_LENGTH) and
 * cached per value up to a cap, and their series count against the registry's series cap.
 */
import type { EnvoyJson } from '../../xds/types.ts';
import type { StreamInfo } from '../interfaces.ts';
import { getHeader } from '../http/common/header_utils.ts';
import { UNKNOWN } from './node_peer.ts';
import { bounded, serviceLabelsOf, type ServiceLabels } from './stats_labels.ts';

/** istio.services[0] of a cluster's metadata: the destination service Istio labels with. */
export interface DestinationService {
  host: string;
  name: string;
  namespace: string;
  /** The Host header may give the host (no service metadata). */
  hostFallback: boolean;
  /** `name` is a passthrough/blackhole name the Host header does not replace. */
  fixedName: boolean;
}

const UNKNOWN_SERVICE: DestinationService = { host: UNKNOWN, name: UNKNOWN, namespace: UNKNOWN, hostFallback: true, fixedName: false };
const SPECIAL = new Map<string, DestinationService>();
for (const n of ['PassthroughCluster', 'BlackHoleCluster', 'InboundPassthroughCluster', 'InboundPassthroughClusterIpv4', 'InboundPassthroughClusterIpv6']) {
  SPECIAL.set(n, { host: UNKNOWN, name: n, namespace: UNKNOWN, hostFallback: true, fixedName: true });
}
const ALLOW_ANY = SPECIAL.get('PassthroughCluster')!;
const BLOCK_ALL = SPECIAL.get('BlackHoleCluster')!;

const byConfig = new WeakMap<object, DestinationService>();

/** The destination service of a cluster config (cached on the config object). */
export function destinationService(config: EnvoyJson | undefined): DestinationService {
  if (!config) return UNKNOWN_SERVICE;
  let s = byConfig.get(config);
  if (!s) {
    const svc = config.metadata?.filter_metadata?.istio?.services?.[0];
    const special = typeof config.name === 'string' ? SPECIAL.get(config.name) : undefined;
    if (special) s = special;
    else if (svc && typeof svc.host === 'string') {
      const parts = svc.host.split('.');
      s = { host: svc.host, name: String(svc.name ?? parts[0] ?? UNKNOWN), namespace: String(svc.namespace ?? parts[1] ?? UNKNOWN), hostFallback: false, fixedName: false };
    } else s = UNKNOWN_SERVICE;
    byConfig.set(config, s);
  }
  return s;
}

const MAX_HOSTS = 1024;
const byHost = new WeakMap<DestinationService, Map<string, ServiceLabels>>();

function hostLabels(s: DestinationService, host: string): ServiceLabels {
  let m = byHost.get(s);
  if (!m) byHost.set(s, (m = new Map()));
  let l = m.get(host);
  if (!l) {
    const h = bounded(host);
    // A fresh DestinationService per host so serviceLabelsOf caches its parts by identity.
    l = serviceLabelsOf({ host: h, name: s.fixedName ? s.name : h, namespace: s.namespace, hostFallback: false, fixedName: true });
    if (m.size >= MAX_HOSTS) m.clear();
    m.set(host, l);
  }
  return l;
}

/** The service labels of one finished stream or connection. */
export function serviceLabels(cluster: EnvoyJson | undefined, info: StreamInfo, hostFallback: boolean): ServiceLabels {
  let s = destinationService(cluster);
  const route = info.routeName;
  if (route === 'allow_any') s = ALLOW_ANY;
  else if (route === 'block_all') s = BLOCK_ALL;
  if (hostFallback && s.hostFallback && info.requestHeaders) {
    const host = getHeader(info.requestHeaders, ':authority');
    if (host) return hostLabels(s, host);
  }
  return serviceLabelsOf(s);
}
