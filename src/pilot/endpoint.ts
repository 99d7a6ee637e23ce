/**
 * EDS: one ClusterLoadAssignment per outbound cluster, endpoints grouped by locality, filtered by
 * subset labels, weighted and prioritised by the DestinationRule's localityLbSetting relative to
 * the calling proxy's locality (Istio's EndpointBuilder; localityLbSetting in locality_lb.ts).
 * Across networks, split-horizon: other networks' endpoints become their east-west gateway, and a
 * gateway's sni-dnat clusters keep its own network's (network/split_horizon.ts).
 */
import type { Endpoint, Locality, Service } from '../registry/model.ts';
import type { EnvoyJson, NamedResource } from '../xds/types.ts';
import type { Proxy, PushContext } from './types.ts';
import { parseClusterName, type ParsedClusterName } from './cluster/name.ts';
import { hasWorkloadCertificates } from './cluster/tls.ts';
import { sniDnatEndpoints, splitHorizonEndpoints, type MtlsCheck } from './network/split_horizon.ts';
import { networkGateways } from './network/gateways.ts';
import { destinationRuleFor, trafficPolicyFor } from './destination_rule.ts';
import { pushIndex } from './push_context.ts';
import { cmp, labelsMatch, socketAddress } from './util.ts';
import { applyLocalityLbSetting, localityKey, withMeshLocalityLb, type LocalityGroup } from './locality_lb.ts';

export { localityPatternMatches } from './locality_lb.ts';

const ISTIO_DEFAULT_LOCALITY_LB = { enabled: true };

/** The CLA for an `outbound|port|subset|host` cluster; undefined when the name is not one. */
export function buildLoadAssignment(push: PushContext, proxy: Proxy, clusterName: string): EnvoyJson | undefined {
  // An east-west gateway's sni-dnat clusters (`outbound_.<port>_.<subset>_.<host>`) have their own EDS.
  const sniDnat = parseSniDnatName(clusterName);
  const parsed = sniDnat ?? parseClusterName(clusterName);
  if (!parsed || parsed.direction !== 'outbound') return undefined;
  const svc = pushIndex(push).servicesByHost.get(parsed.host);
  if (!svc || !svc.ports.some((p) => p.port === parsed.port)) return undefined;
  const dr = destinationRuleFor(push, proxy, parsed.host);
  let subsetLabels: Record<string, string> | undefined;
  if (parsed.subset) {
    const subset = dr?.subsets.find((s) => s.name === parsed.subset);
    if (!subset) return undefined;
    subsetLabels = subset.labels ?? {};
  }
  const subsetEndpoints = endpointsFor(push, svc, parsed.port).filter((e) => labelsMatch(subsetLabels, e.labels));
  const portPolicy = trafficPolicyFor(dr, parsed.port, parsed.subset || undefined);
  const tlsMode = portPolicy.tls?.mode;
  // The common single-network mesh skips split-horizon (and its mTLS check) entirely.
  const endpoints = sniDnat
    ? sniDnatEndpoints(push, proxy, subsetEndpoints, mtlsCheck(push, svc, tlsMode, true))
    : networkGateways(push).byNetwork.size === 0 && !proxy.requestedNetworkView
      ? subsetEndpoints
      : splitHorizonEndpoints(push, proxy, subsetEndpoints, mtlsCheck(push, svc, tlsMode, hasWorkloadCertificates(push, proxy)));
  const policy = withMeshLocalityLb(portPolicy, push.mesh);
  const groups = groupByLocality(endpoints);
  let localities = [...groups.entries()].sort(([a], [b]) => cmp(a, b)).map(([, eps]) => localityEntry(eps));
  // Without a rule or a mesh setting, Istio's default ({enabled: true}) applies:
  // with outlier detection, endpoints are prioritised by closeness to the caller.
  const setting = policy.loadBalancer?.localityLbSetting ?? ISTIO_DEFAULT_LOCALITY_LB;
  localities = applyLocalityLbSetting(localities, setting, proxy, policy.outlierDetection !== undefined, localityEntry);
  return { cluster_name: clusterName, endpoints: localities.map((l) => l.json) };
}

/** Every CLA for the given cluster names (those that exist), sorted by name. */
export function buildEndpoints(push: PushContext, proxy: Proxy, clusterNames: string[]): NamedResource[] {
  const out: NamedResource[] = [];
  for (const name of [...new Set(clusterNames)].sort(cmp)) {
    const cla = buildLoadAssignment(push, proxy, name);
    if (cla) out.push({ name, resource: cla });
  }
  return out;
}

/**
 * Endpoints of one service port. A DNS-resolved service without explicit endpoints resolves its
 * own hostname (what a ServiceEntry with `resolution: DNS` and no endpoints means).
 */
export function endpointsFor(push: PushContext, svc: Service, port: number): Endpoint[] {
  const eps = push.endpoints.get(`${svc.hostname}|${port}`) ?? [];
  if (eps.length > 0 || (svc.resolution !== 'DNS' && svc.resolution !== 'DNS_ROUND_ROBIN')) return eps;
  const sp = svc.ports.find((p) => p.port === port)!;
  return [{ service: svc.hostname, servicePortName: sp.name, address: svc.hostname, port: sp.targetPort ?? port, labels: {}, locality: {}, weight: 1, healthy: true, namespace: svc.namespace }];
}

/**
 * Whether a client sends mesh mTLS to an endpoint (Istio's mtlsChecker): the DestinationRule's
 * tls mode when it sets one, else auto mTLS for endpoints labelled tlsMode=istio, as the cluster's
 * transport socket matches do (src/pilot/cluster/outbound.ts).
 */
function mtlsCheck(push: PushContext, svc: Service, tlsMode: string | undefined, clientHasCertificates: boolean): MtlsCheck {
  if (tlsMode) return () => tlsMode === 'ISTIO_MUTUAL';
  if (!push.mesh.enableAutoMtls || svc.meshExternal || !clientHasCertificates) return () => false;
  return (e) => e.tlsModeIstio === true;
}

/** `outbound_.<port>_.<subset>_.<host>` (istioSni's form) as a cluster name's parts; else undefined. */
export function parseSniDnatName(name: string): ParsedClusterName | undefined {
  const m = /^outbound_\.(\d+)_\.([^_]*)_\.(.+)$/.exec(name);
  if (!m) return undefined;
  const port = Number(m[1]);
  if (!Number.isInteger(port) || port <= 0 || port > 65535) return undefined;
  return { direction: 'outbound', port, subset: m[2]!, host: m[3]! };
}

function groupByLocality(eps: Endpoint[]): Map<string, Endpoint[]> {
  const m = new Map<string, Endpoint[]>();
  for (const e of eps) {
    const k = localityKey(e.locality);
    m.set(k, [...(m.get(k) ?? []), e]);
  }
  return m;
}

function localityEntry(eps: Endpoint[]): LocalityGroup {
  const sorted = [...eps].sort((a, b) => cmp(a.address, b.address) || a.port - b.port);
  const l = sorted[0]!.locality;
  const json: EnvoyJson = {};
  const loc: EnvoyJson = {};
  if (l.region) loc.region = l.region;
  if (l.zone) loc.zone = l.zone;
  if (l.subzone) loc.sub_zone = l.subzone;
  // Always present, even empty: gRPC's xDS client rejects a LocalityLbEndpoints without one.
  json.locality = loc;
  json.lb_endpoints = sorted.map(lbEndpoint);
  // gRPC clients drop localities without a weight; Envoy honours it under locality-weighted LB.
  json.load_balancing_weight = sorted.reduce((s, e) => s + (e.weight || 1), 0);
  return { locality: l, endpoints: sorted, json };
}

function lbEndpoint(e: Endpoint): EnvoyJson {
  const filterMetadata: EnvoyJson = {};
  // Selects the tlsMode-istio transport socket of auto-mTLS clusters.
  if (e.tlsModeIstio) filterMetadata['envoy.transport_socket_match'] = { tlsMode: 'istio' };
  if (e.workloadName) {
    const app = e.labels['service.istio.io/canonical-name'] ?? e.labels.app ?? e.workloadName;
    const rev = e.labels['service.istio.io/canonical-revision'] ?? e.labels.version ?? 'latest';
    filterMetadata.istio = { workload: `${e.workloadName};${e.namespace};${app};${rev};Kubernetes` };
  }
  const out: EnvoyJson = {
    endpoint: { address: socketAddress(e.address, e.port) },
    health_status: e.healthy ? 'HEALTHY' : 'UNHEALTHY',
    load_balancing_weight: e.weight || 1,
  };
  if (Object.keys(filterMetadata).length > 0) out.metadata = { filter_metadata: filterMetadata };
  return out;
}
