/**
 * The Gateways a router applies and their servers merged per listening port (Istio's
 * MergeGateways). LDS and RDS both read this one model, so every `http.<port>` / `https.*` route
 * name a listener asks for is a route configuration RDS can build, and vice versa.
 *
 * Merge rules, after Istio: Gateways are taken oldest first, servers in written order. The first
 * server on a port fixes what the port speaks: plaintext HTTP servers share one `http.<port>` route
 * configuration; TLS-based servers (HTTPS, TLS) share the port as SNI-matched filter chains; plain
 * TCP servers share one tcp_proxy chain. A later server that would mix those is dropped.
 */
import type { ServerSpec, ServerTLSSettings } from '../../api/networking.ts';
import type { Config } from '../../api/types.ts';
import { pushIndex } from '../push_context.ts';
import type { Proxy, PushContext } from '../types.ts';
import { labelsMatch } from '../util.ts';
import { parseServerHost, type ServerHost } from './hosts.ts';

/**
 * What a server does with a connection: `http` plaintext HCM; `https` TLS-terminated HCM;
 * `passthrough` SNI → VirtualService `tls` routes; `auto_passthrough` SNI names the cluster;
 * `tls_terminated` TLS-terminated TCP (VirtualService `tcp` routes); `tcp` plain TCP routes.
 */
export type ServerKind = 'http' | 'https' | 'passthrough' | 'auto_passthrough' | 'tls_terminated' | 'tcp';

export interface GatewayServer {
  gateway: Config;
  /** `namespace/name`, the form VirtualServices' resolved `gateways` use. */
  gatewayName: string;
  server: ServerSpec;
  protocol: string;
  /** The port as written: VirtualService `match.port` compares against it. */
  port: number;
  hosts: ServerHost[];
  kind: ServerKind;
  /** RDS name for `http` and `https` servers. */
  routeName?: string;
}

export interface MergedPort {
  /** The port the proxy listens on (the gateway Service's targetPort when the server names its port). */
  port: number;
  family: 'http' | 'tls' | 'tcp';
  servers: GatewayServer[];
}

export interface MergedGateway {
  gateways: Config[];
  /** Sorted by port. */
  ports: MergedPort[];
  /** Route configuration name → the servers it serves, in merge order. */
  routes: Map<string, GatewayServer[]>;
}

const HTTP_FAMILY = new Set(['HTTP', 'HTTP2', 'GRPC', 'GRPC-WEB']);
const TERMINATING = new Set(['SIMPLE', 'MUTUAL', 'ISTIO_MUTUAL', 'OPTIONAL_MUTUAL']);

/**
 * Gateways whose `selector` matches the router's labels, oldest first. Istio looks in every
 * namespace by default; a Gateway without a selector applies to every router.
 */
export function gatewaysForProxy(push: PushContext, proxy: Proxy): Config[] {
  if (proxy.type !== 'router') return [];
  return (pushIndex(push).byKind.get('Gateway') ?? []).filter((gw) => {
    const selector: Record<string, string> | undefined = gw.spec?.selector;
    return !selector || labelsMatch(selector, proxy.labels);
  });
}

/** Istio's server kind from protocol and TLS mode; undefined for a server tsmesh cannot serve. */
export function serverKind(protocol: string, tls: ServerTLSSettings | undefined): ServerKind | undefined {
  if (HTTP_FAMILY.has(protocol)) return 'http';
  const mode = tls?.mode ?? 'SIMPLE';
  if (protocol === 'HTTPS' || protocol === 'TLS') {
    if (mode === 'PASSTHROUGH') return 'passthrough';
    if (mode === 'AUTO_PASSTHROUGH') return 'auto_passthrough';
    if (!tls || !TERMINATING.has(mode)) return undefined;
    return protocol === 'HTTPS' ? 'https' : 'tls_terminated';
  }
  if (protocol === 'UDP') return undefined;
  // TCP, MONGO, REDIS, MYSQL...: opaque TCP at the gateway.
  return 'tcp';
}

function familyOf(kind: ServerKind): MergedPort['family'] {
  return kind === 'http' ? 'http' : kind === 'tcp' ? 'tcp' : 'tls';
}

/** Istio's gatewayRDSRouteName: `http.<port>` or `https.<port>.<portName>.<gateway>.<namespace>`. */
export function gatewayRouteName(kind: ServerKind, listenPort: number, s: ServerSpec, gateway: Config): string | undefined {
  if (kind === 'http') return `http.${listenPort}`;
  if (kind === 'https') return `https.${s.port.number}.${s.port.name ?? ''}.${gateway.metadata.name}.${gateway.metadata.namespace}`;
  return undefined;
}

/**
 * The port the router really listens on for a server port. When the router's own Service (same
 * namespace, selector matching its labels) exposes the server's port with another targetPort, the
 * server port is the Service port and the proxy listens on the targetPort, as Istio resolves it
 * (so `port: 80` on a gateway whose Service maps 80→8080 listens on 8080).
 */
export function listenPortFor(push: PushContext, proxy: Proxy, port: number): number {
  for (const svc of push.services) {
    if (svc.namespace !== proxy.namespace || !svc.selector || Object.keys(svc.selector).length === 0) continue;
    if (!labelsMatch(svc.selector, proxy.labels)) continue;
    const p = svc.ports.find((sp) => sp.port === port);
    if (p?.targetPort && p.targetPort !== port) return p.targetPort;
  }
  return port;
}

const cache = new WeakMap<PushContext, Map<string, MergedGateway>>();

/** The merged servers of every Gateway that selects `proxy`. Memoised per push and label set. */
export function mergeGateways(push: PushContext, proxy: Proxy): MergedGateway {
  const key = `${proxy.type}|${proxy.namespace}|${JSON.stringify(Object.entries(proxy.labels).sort())}`;
  let perPush = cache.get(push);
  if (!perPush) cache.set(push, (perPush = new Map()));
  const hit = perPush.get(key);
  if (hit) return hit;
  const merged = computeMerge(push, proxy);
  perPush.set(key, merged);
  return merged;
}

function computeMerge(push: PushContext, proxy: Proxy): MergedGateway {
  const gateways = gatewaysForProxy(push, proxy);
  const byPort = new Map<number, MergedPort>();
  const routes = new Map<string, GatewayServer[]>();
  for (const gw of gateways) {
    for (const s of (gw.spec?.servers ?? []) as ServerSpec[]) {
      const number = s?.port?.number;
      if (!Number.isInteger(number) || number <= 0) continue;
      const protocol = String(s.port.protocol ?? '').toUpperCase();
      const kind = serverKind(protocol, s.tls);
      if (!kind) continue;
      const listenPort = listenPortFor(push, proxy, number);
      const existing = byPort.get(listenPort);
      if (existing && existing.family !== familyOf(kind)) continue; // first protocol on a port wins
      const gs: GatewayServer = {
        gateway: gw,
        gatewayName: `${gw.metadata.namespace}/${gw.metadata.name}`,
        server: s,
        protocol,
        port: number,
        hosts: (s.hosts ?? []).map((h) => parseServerHost(h, gw.metadata.namespace)),
        kind,
        routeName: gatewayRouteName(kind, listenPort, s, gw),
      };
      if (gs.routeName) {
        const list = routes.get(gs.routeName) ?? [];
        // Two HTTPS servers with one name (same port name in one Gateway) would share routes: keep the first.
        if (kind === 'https' && list.length > 0) continue;
        list.push(gs);
        routes.set(gs.routeName, list);
      }
      if (existing) existing.servers.push(gs);
      else byPort.set(listenPort, { port: listenPort, family: familyOf(kind), servers: [gs] });
    }
  }
  const ports = [...byPort.values()].sort((a, b) => a.port - b.port);
  return { gateways, ports, routes };
}
