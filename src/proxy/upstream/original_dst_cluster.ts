/**
 * ORIGINAL_DST clusters (lb_policy CLUSTER_PROVIDED): the upstream host is the downstream
 * connection's original destination (what the listener's original_dst / use_original_dst
 * restored), passed as LoadBalancerContext.originalDestination by tcp_proxy and by the HTTP router
 * alike; Istio's PassthroughCluster and DestinationRule `simple: PASSTHROUGH` rely on it.
 * original_dst_lb_config (use_http_header, x-envoy-original-dst-host) is not supported: the
 * config validation refuses the field. Hosts are created on demand and swept after
 * cleanup_interval (default 5 s) without use, closing their pools.
 */
import { isIP } from 'node:net';
import type { ConnectionInfo, LoadBalancerContext, UpstreamHost } from '../interfaces.ts';
import type { ClusterImpl } from './cluster.ts';
import { durationMs } from '../duration.ts';
import { hostAddress } from './eds.ts';

/** "ip:port" or "[v6]:port" -> parts; undefined when malformed (bad header values are traffic, not errors). */
export function parseHostPort(s: string): { ip: string; port: number } | undefined {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(s) ?? /^([^:]+):(\d+)$/.exec(s);
  if (!m || !isIP(m[1])) return undefined;
  const port = Number(m[2]);
  return port > 0 && port < 65536 ? { ip: m[1], port } : undefined;
}

/** The downstream connection's (original) destination as "ip:port" / "[v6]:port". */
export function connectionDestination(c: Pick<ConnectionInfo, 'localAddress' | 'localPort'> | undefined): string | undefined {
  if (!c?.localAddress || !c.localPort) return undefined;
  return `${c.localAddress.includes(':') ? `[${c.localAddress}]` : c.localAddress}:${c.localPort}`;
}

export function setupOriginalDst(cluster: ClusterImpl): void {
  const used = new Set<string>();
  const cleanupMs = durationMs(cluster.config.cleanup_interval, 5000);
  cluster.hostForContext = (ctx: LoadBalancerContext | undefined): UpstreamHost | undefined => {
    const dst = ctx?.originalDestination;
    if (!dst) return undefined;
    const hp = parseHostPort(dst);
    if (!hp) {
      cluster.stats.counter('original_dst_host_invalid').inc();
      return undefined;
    }
    const address = hostAddress(hp.ip, hp.port);
    used.add(address);
    let h = cluster.hostIndex.get(address);
    if (!h) {
      h = { address, ip: hp.ip, port: hp.port, weight: 1, healthy: true };
      cluster.setHosts([[...cluster.allHosts(), h]]);
    }
    return h;
  };
  const timer = setInterval(() => {
    const hosts = cluster.allHosts();
    const keep = hosts.filter((h) => used.has(h.address));
    used.clear();
    if (keep.length !== hosts.length) cluster.setHosts([keep]);
  }, cleanupMs);
  timer.unref();
  cluster.onClose = () => clearInterval(timer);
  // No hosts are known up front; the cluster is usable at once.
  cluster.markInitialized();
}
