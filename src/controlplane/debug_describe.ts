/**
 * The control plane's side of `tsmesh describe` and `tsmesh version` (istioctl x describe, istioctl
 * version), as JSON on the debug port:
 *   /debug/describe/pod?name=<pod>&namespace=<ns>[&deployment=<name>]
 *   /debug/describe/service?name=<svc>&namespace=<ns>
 *   /debug/version                      this control plane's version and each connected proxy's
 * istioctl reads a pod's Envoy config dump and works back to the Istio resources behind it; here
 * pilot is asked directly, with the same functions that build what the proxies are sent (which
 * DestinationRule and VirtualServices a host gets, the effective mTLS mode, the RBAC policies), on
 * the PushContext the proxies are being served. The CLI (src/cli/describe*.ts) prints the answer.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TrafficPolicy, VirtualServiceSpec } from '../api/networking.ts';
import type { Config } from '../api/types.ts';
import { authzHttpFilters, authzNetworkFilters } from '../pilot/authz/index.ts';
import { destinationRuleFor, type ResolvedDestinationRule } from '../pilot/destination_rule.ts';
import { gatewayBindAddress, mergeGateways } from '../pilot/gateway/index.ts';
import { resolveHost } from '../pilot/host.ts';
import { mtlsModeFor } from '../pilot/listener/peer_authentication.ts';
import type { Proxy, PushContext } from '../pilot/types.ts';
import { labelsMatch } from '../pilot/util.ts';
import { MESH_GATEWAY, virtualServicesForHost, virtualServicesForProxy, type VirtualService } from '../pilot/virtualservice/index.ts';
import { boundGateways } from '../pilot/virtualservice/resolve.ts';
import { serviceTargetsFor, type ServiceTarget } from '../pilot/workload.ts';
import type { Service } from '../registry/model.ts';
import { TSMESH_VERSION } from '../common/version.ts';

/** Istio's injected istio-proxy container declares its Prometheus port (http-envoy-prom). */
const PROXY_CONTAINER = 'istio-proxy';
const PROXY_STATS_PORT = 15090;

export interface DescribedDestinationRule {
  /** The rule named in the proxy's cluster metadata: the first of those merged for the host. */
  name: string;
  namespace: string;
  /** spec.host as written. */
  host: string;
  matchingSubsets: string[];
  nonMatchingSubsets: string[];
  trafficPolicy?: TrafficPolicy;
}

export interface DescribedVirtualService {
  name: string;
  namespace: string;
  /** As configured (hosts and destinations as written). */
  spec: VirtualServiceSpec;
}

export interface DescribedPort {
  name: string;
  port: number;
  protocol: string;
  /** The pod port it reaches on the described pod. */
  targetPort: number;
  destinationRule?: DescribedDestinationRule;
  virtualServices: DescribedVirtualService[];
  /** Names of the RBAC policies on the pod's inbound chain for this port (Istio's `ns[..]-policy[..]-rule[..]`). */
  rbacPolicies: string[];
}

export interface DescribedService {
  name: string;
  namespace: string;
  hostname: string;
  ports: DescribedPort[];
}

export interface DescribedIngress {
  /** The gateway's HTTP addresses serving the VirtualService's Gateway. */
  urls: string[];
  /** `ns/name` of the Gateway resource. */
  gateway: string;
  /** The service (by hostname) the VirtualService routes to. */
  hostname: string;
  virtualService: DescribedVirtualService;
  /** The DestinationRule the gateway applies to that host, if any. */
  destinationRule?: DescribedDestinationRule;
}

export interface DescribedPeerAuthentication {
  mode: string;
  perPort: Array<{ port: number; mode: string }>;
  /** `name.namespace` of every PeerAuthentication that selects the workload. */
  applied: string[];
}

export interface PodDescription {
  pod: {
    name: string;
    namespace: string;
    labels: Record<string, string>;
    /** Connected to the control plane with a sidecar. */
    meshed: boolean;
    revision: string;
    ports: Array<{ port: number; protocol: string; container: string }>;
  };
  services: DescribedService[];
  peerAuthentication: DescribedPeerAuthentication;
  /** Connected ingress gateways (routers). */
  gatewayProxies: number;
  ingress: DescribedIngress[];
}

export interface ServiceDescription {
  service: { name: string; namespace: string; hostname: string };
  /** Pods the service selects (Deployment replicas), and those of them with a connected sidecar. */
  pods: number;
  meshedPods: string[];
  /** Described from the first meshed pod, subsets matched against every meshed pod. */
  described?: DescribedService;
  gatewayProxies: number;
  ingress: DescribedIngress[];
}

export interface VersionDescription {
  version: string;
  revision: string;
  proxies: Array<{ ID: string; IstioVersion: string; type: string }>;
}

export interface DescribeSources {
  /** The PushContext proxies are served from. */
  push: () => PushContext;
  /** Every connected proxy. */
  proxies: () => Proxy[];
  /** The whole config store (Deployments are there, not in the PushContext). */
  configs: () => Config[];
  /** The version a connected proxy reports (xds/debug_proxies.ts proxyVersion); default: its ISTIO_VERSION. */
  proxyVersion?: (p: Proxy) => string;
}

export type DescribeHandler = (req: IncomingMessage, res: ServerResponse) => boolean;

export function describeHandler(src: DescribeSources): DescribeHandler {
  return (req, res) => {
    const url = new URL(req.url ?? '/', 'http://debug');
    const q = (k: string) => url.searchParams.get(k) ?? '';
    switch (url.pathname) {
      case '/debug/describe/pod': {
        if (!q('name')) return json(res, 400, { error: 'name query parameter is required' });
        const r = describePod(src.push(), src.proxies(), src.configs(), q('name'), q('namespace') || 'default', q('deployment') || undefined);
        return 'error' in r ? json(res, 404, r) : json(res, 200, r);
      }
      case '/debug/describe/service': {
        if (!q('name')) return json(res, 400, { error: 'name query parameter is required' });
        const r = describeService(src.push(), src.proxies(), src.configs(), q('name'), q('namespace') || 'default');
        return 'error' in r ? json(res, 404, r) : json(res, 200, r);
      }
      case '/debug/version':
        return json(res, 200, describeVersion(src.proxies(), src.proxyVersion));
      default:
        return false;
    }
  };
}

export function describeVersion(proxies: Proxy[], versionOf: (p: Proxy) => string = (p) => String(p.metadata.ISTIO_VERSION ?? '')): VersionDescription {
  return {
    version: TSMESH_VERSION,
    revision: 'default',
    // Every xDS client, proxyless gRPC included, as istioctl counts them from istiod's sync status.
    proxies: proxies
      .map((p) => ({ ID: p.id, IstioVersion: versionOf(p), type: p.type }))
      .sort((a, b) => (a.ID < b.ID ? -1 : a.ID > b.ID ? 1 : 0)),
  };
}

/** The connected proxy of a pod (a sidecar, or a gateway's router): node metadata NAME, else the pod part of its node id. */
function proxyOf(proxies: Proxy[], name: string, namespace: string): Proxy | undefined {
  return proxies.find((p) => p.generator !== 'grpc' && p.namespace === namespace && podName(p) === name);
}

function podName(p: Proxy): string {
  const n = p.metadata.NAME;
  if (typeof n === 'string' && n) return n;
  const podId = p.id.split('~')[2] ?? '';
  const dot = podId.indexOf('.');
  return dot > 0 ? podId.slice(0, dot) : podId;
}

interface DeploymentView {
  labels: Record<string, string>;
  replicas: number;
  containers: Array<{ name: string; ports: Array<{ port: number; protocol: string }> }>;
}

function deploymentView(c: Config): DeploymentView {
  const tpl = c.spec?.template ?? {};
  const labels: Record<string, string> = {};
  for (const [k, v] of Object.entries(tpl.metadata?.labels ?? {})) labels[k] = String(v);
  const containers = ((tpl.spec?.containers ?? []) as Array<Record<string, any>>).map((ct) => ({
    name: String(ct?.name ?? ''),
    ports: ((ct?.ports ?? []) as Array<Record<string, any>>)
      .filter((p) => Number.isInteger(Number(p?.containerPort)))
      .map((p) => ({ port: Number(p.containerPort), protocol: String(p.protocol ?? 'TCP') })),
  }));
  const replicas = typeof c.spec?.replicas === 'number' ? c.spec.replicas : 1;
  return { labels, replicas, containers };
}

function findDeployment(configs: Config[], namespace: string, name: string | undefined): Config | undefined {
  if (!name) return undefined;
  return configs.find((c) => c.kind === 'Deployment' && c.metadata.namespace === namespace && c.metadata.name === name);
}

export function describePod(push: PushContext, proxies: Proxy[], configs: Config[], name: string, namespace: string, deployment?: string): PodDescription | { error: string } {
  const sidecar = proxyOf(proxies, name, namespace);
  const dep = findDeployment(configs, namespace, deployment ?? (sidecar ? String(sidecar.metadata.WORKLOAD_NAME ?? sidecar.workloadName) : undefined));
  if (!sidecar && !dep) return { error: `pods "${name}" not found: no proxy of that name in namespace ${namespace} is connected to this control plane` };
  const view = dep ? deploymentView(dep) : undefined;
  // Unmeshed pods are described from their Deployment's labels, as pilot would see them if they joined.
  const proxy: Proxy = sidecar ?? syntheticProxy(name, namespace, view!.labels);
  const ports = (view?.containers ?? []).flatMap((c) => c.ports.map((p) => ({ port: p.port, protocol: p.protocol, container: c.name })));
  if (sidecar && !ports.some((p) => p.container === PROXY_CONTAINER)) ports.push({ port: PROXY_STATS_PORT, protocol: 'TCP', container: PROXY_CONTAINER });
  const labels = proxy.labels;
  const services = groupTargets(serviceTargetsFor(push, proxy)).map(({ service, targets }) => describeServiceFor(push, proxy, service, targets, [labels]));
  const routers = proxies.filter((p) => p.type === 'router');
  return {
    pod: { name, namespace, labels, meshed: !!sidecar, revision: sidecar ? 'default' : '', ports },
    services,
    peerAuthentication: describePeerAuthentication(push, proxy),
    gatewayProxies: routers.length,
    ingress: describeIngress(push, routers, services.map((s) => s.hostname), [labels]),
  };
}

export function describeService(push: PushContext, proxies: Proxy[], configs: Config[], name: string, namespace: string): ServiceDescription | { error: string } {
  const service = push.services.find((s) => s.namespace === namespace && s.name === name);
  if (!service) return { error: `services "${name}" not found in namespace ${namespace}` };
  const selector = service.selector && Object.keys(service.selector).length > 0 ? service.selector : undefined;
  const pods = selector
    ? configs
        .filter((c) => c.kind === 'Deployment' && c.metadata.namespace === namespace)
        .map(deploymentView)
        .filter((d) => labelsMatch(selector, d.labels))
        .reduce((n, d) => n + d.replicas, 0)
    : 0;
  const meshed = selector ? proxies.filter((p) => p.type === 'sidecar' && p.namespace === namespace && labelsMatch(selector, p.labels)).sort((a, b) => (podName(a) < podName(b) ? -1 : 1)) : [];
  const routers = proxies.filter((p) => p.type === 'router');
  const out: ServiceDescription = {
    service: { name: service.name, namespace: service.namespace, hostname: service.hostname },
    pods: Math.max(pods, meshed.length),
    meshedPods: meshed.map(podName),
    gatewayProxies: routers.length,
    ingress: [],
  };
  const first = meshed[0];
  if (!first) return out;
  const podsLabels = meshed.map((p) => p.labels);
  const targets = serviceTargetsFor(push, first).filter((t) => t.service.hostname === service.hostname);
  out.described = describeServiceFor(push, first, service, targets, podsLabels);
  out.ingress = describeIngress(push, routers, [service.hostname], podsLabels);
  return out;
}

function syntheticProxy(name: string, namespace: string, labels: Record<string, string>): Proxy {
  return { id: `sidecar~0.0.0.0~${name}.${namespace}~${namespace}.svc.cluster.local`, type: 'sidecar', ipAddresses: [], workloadName: name, namespace, dnsDomain: `${namespace}.svc.cluster.local`, labels, metadata: {}, locality: {} };
}

function groupTargets(targets: ServiceTarget[]): Array<{ service: Service; targets: ServiceTarget[] }> {
  const by = new Map<string, { service: Service; targets: ServiceTarget[] }>();
  for (const t of targets) {
    const g = by.get(t.service.hostname) ?? { service: t.service, targets: [] };
    g.targets.push(t);
    by.set(t.service.hostname, g);
  }
  return [...by.values()].sort((a, b) => (a.service.hostname < b.service.hostname ? -1 : 1));
}

function describeServiceFor(push: PushContext, proxy: Proxy, service: Service, targets: ServiceTarget[], podsLabels: Array<Record<string, string>>): DescribedService {
  const dr = destinationRuleFor(push, proxy, service.hostname);
  const vss = virtualServicesForHost(virtualServicesForProxy(push, proxy), service.hostname);
  const ports = service.ports.map((port) => {
    const t = targets.find((x) => x.port.port === port.port);
    const http = /^(HTTP|HTTP2|GRPC|GRPC-WEB)$/i.test(port.protocol);
    // The filters pilot puts on this workload's inbound chain for the port (HTTP or TCP).
    const filters = http ? authzHttpFilters(push, proxy) : authzNetworkFilters(push, proxy);
    return {
      name: port.name,
      port: port.port,
      protocol: port.protocol,
      targetPort: t?.targetPort ?? port.targetPort ?? port.port,
      ...(dr ? { destinationRule: describedRule(dr, podsLabels) } : {}),
      virtualServices: vss.map((vs) => original(push, vs)),
      rbacPolicies: rbacPolicyNames(filters),
    };
  });
  return { name: service.name, namespace: service.namespace, hostname: service.hostname, ports };
}

function describedRule(dr: ResolvedDestinationRule, podsLabels: Array<Record<string, string>>): DescribedDestinationRule {
  const first = dr.configs[0]!;
  const matching: string[] = [];
  const nonMatching: string[] = [];
  for (const s of dr.subsets) (podsLabels.some((l) => labelsMatch(s.labels ?? {}, l)) ? matching : nonMatching).push(s.name);
  return {
    name: first.metadata.name,
    namespace: first.metadata.namespace,
    host: String(first.spec?.host ?? dr.host),
    matchingSubsets: matching,
    nonMatchingSubsets: nonMatching,
    ...(dr.trafficPolicy ? { trafficPolicy: dr.trafficPolicy } : {}),
  };
}

/** The VirtualService as its author wrote it (pilot's copy has names resolved to FQDNs). */
function original(push: PushContext, vs: VirtualService): DescribedVirtualService {
  const c = push.configs.find((x) => x.kind === 'VirtualService' && x.metadata.namespace === vs.metadata.namespace && x.metadata.name === vs.metadata.name);
  return { name: vs.metadata.name, namespace: vs.metadata.namespace, spec: (c?.spec ?? vs.spec) as VirtualServiceSpec };
}

function rbacPolicyNames(filters: Array<Record<string, any>>): string[] {
  const out: string[] = [];
  for (const f of filters) {
    const policies = f.typed_config?.rules?.policies;
    if (policies && typeof policies === 'object') out.push(...Object.keys(policies));
  }
  return out;
}

/**
 * istioctl's listing: PeerAuthentications of the workload's namespace and the root namespace whose
 * selector (none selects all) matches; the modes are pilot's (mtlsModeFor), per port where the
 * workload's own policy sets port-level modes.
 */
function describePeerAuthentication(push: PushContext, proxy: Proxy): DescribedPeerAuthentication {
  const root = push.mesh.rootNamespace;
  const all = push.configs.filter((c) => c.kind === 'PeerAuthentication');
  const inNs = (ns: string) => all.filter((c) => c.metadata.namespace === ns && labelsMatch(c.spec?.selector?.matchLabels, proxy.labels));
  const applied = [...(root !== proxy.namespace ? inNs(root) : []), ...inNs(proxy.namespace)];
  const own = applied.find((c) => c.metadata.namespace === proxy.namespace && c.spec?.selector?.matchLabels);
  const perPort = Object.keys(own?.spec?.portLevelMtls ?? {})
    .map(Number)
    .filter((p) => Number.isInteger(p) && p > 0)
    .sort((a, b) => a - b)
    .map((port) => ({ port, mode: mtlsModeFor(push, proxy, port) }));
  // Port 0 is no workload port: the workload-wide mode.
  return { mode: mtlsModeFor(push, proxy, 0), perPort, applied: applied.map((c) => `${c.metadata.name}.${c.metadata.namespace}`) };
}

/**
 * Where the services are exposed: for each connected gateway, the VirtualServices it serves that
 * route to one of the hosts, with the HTTP addresses of the Gateway they bind (each Gateway once).
 */
function describeIngress(push: PushContext, routers: Proxy[], hostnames: string[], podsLabels: Array<Record<string, string>>): DescribedIngress[] {
  const out: DescribedIngress[] = [];
  const seen = new Set<string>();
  for (const router of routers) {
    const merged = mergeGateways(push, router);
    const address = gatewayBindAddress(router) === '0.0.0.0' ? (router.ipAddresses[0] ?? '0.0.0.0') : gatewayBindAddress(router);
    for (const vs of virtualServicesForProxy(push, router)) {
      const routes = [...(vs.spec.http ?? []), ...(vs.spec.tcp ?? []), ...(vs.spec.tls ?? [])];
      for (const hostname of hostnames) {
        if (!routes.some((r) => (r.route ?? []).some((d) => d.destination?.host && resolveHost(d.destination.host, vs.metadata.namespace) === hostname))) continue;
        for (const gateway of boundGateways(vs)) {
          if (gateway === MESH_GATEWAY) continue;
          const key = `${gateway}|${vs.metadata.namespace}/${vs.metadata.name}|${hostname}`;
          if (seen.has(key)) continue;
          const ports = merged.ports.filter((p) => p.family === 'http' && p.servers.some((s) => s.gatewayName === gateway && !s.server.tls));
          if (ports.length === 0 && !merged.gateways.some((g) => `${g.metadata.namespace}/${g.metadata.name}` === gateway)) continue;
          seen.add(key);
          const dr = destinationRuleFor(push, router, hostname);
          out.push({
            urls: ports.map((p) => `http://${address}${p.port === 80 ? '' : `:${p.port}`}`),
            gateway,
            hostname,
            virtualService: original(push, vs),
            ...(dr ? { destinationRule: describedRule(dr, podsLabels) } : {}),
          });
        }
      }
    }
  }
  return out;
}

function json(res: ServerResponse, status: number, body: unknown): true {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body, null, 2) + '\n');
  return true;
}
