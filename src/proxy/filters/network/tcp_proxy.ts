/**
 * envoy.filters.network.tcp_proxy: picks a cluster (cluster or weighted_clusters), a host from
 * it (the original destination for ORIGINAL_DST clusters), connects and pipes bytes both ways
 * with no per-chunk JavaScript. Half-close is forwarded (FIN one way keeps the other open).
 * Failures close the downstream and record Envoy's flags: UF (connect failure), UH (no healthy
 * host), UO (circuit breaker overflow), NR (no such cluster). Stats under tcp.<stat_prefix>.
 * access_log writes one line per connection when it ends (http/common/access_log.ts).
 */
import type { Socket } from 'node:net';
import type { EnvoyJson } from '../../../xds/types.ts';
import type { ConnectionInfo, FactoryContext, NetworkFilterFactory } from '../../interfaces.ts';
import { compileAccessLogs } from '../../http/common/access_log.ts';
import { durationMs } from '../../duration.ts';
import { log } from '../../logger.ts';
import { createStreamInfo } from '../../stream_info.ts';
import { registerNetworkFilter } from './registry.ts';
import { NETWORK_FILTER } from '../../../xds/type_urls.ts';
import { exchangeTcp, tcpSession } from '../../istio/tcp_session.ts';

export const TCP_PROXY_TYPE = NETWORK_FILTER.TCP_PROXY;

interface WeightedCluster {
  name: string;
  weight: number;
}

function pickCluster(single: string | undefined, weighted: WeightedCluster[], total: number): string {
  if (single !== undefined) return single;
  let r = Math.random() * total;
  for (const w of weighted) {
    r -= w.weight;
    if (r < 0) return w.name;
  }
  return weighted[weighted.length - 1].name;
}

export const tcpProxyFactory: NetworkFilterFactory = {
  create(config: EnvoyJson, ctx: FactoryContext) {
    if (!config.stat_prefix) throw new Error('TcpProxy.stat_prefix: required');
    const single: string | undefined = config.cluster || undefined;
    const weighted: WeightedCluster[] = (config.weighted_clusters?.clusters ?? []).map((c: EnvoyJson) => ({ name: c.name, weight: Number(c.weight ?? 0) }));
    if (single === undefined && weighted.length === 0) throw new Error('TcpProxy: one of cluster or weighted_clusters is required');
    const total = weighted.reduce((a, w) => a + w.weight, 0);
    if (single === undefined && total <= 0) throw new Error('TcpProxy.weighted_clusters: total weight must be > 0');
    // Envoy's default idle timeout is 1h; an explicit 0s disables it.
    const idleMs = durationMs(config.idle_timeout, 3_600_000);
    // A cap on the connection's life (Istio's connectionPool.tcp.maxConnectionDuration); none by default.
    const maxDurationMs = durationMs(config.max_downstream_connection_duration, 0);
    const stats = ctx.stats;
    const p = `tcp.${config.stat_prefix}.`;
    const cxTotal = stats.counter(p + 'downstream_cx_total');
    const cxNoRoute = stats.counter(p + 'downstream_cx_no_route');
    const rxBytes = stats.counter(p + 'downstream_cx_rx_bytes_total');
    const txBytes = stats.counter(p + 'downstream_cx_tx_bytes_total');
    const idleTimeouts = stats.counter(p + 'idle_timeout');
    const maxDurationReached = stats.counter(p + 'max_downstream_connection_duration');
    const cxActive = stats.gauge(p + 'upstream_flush_active');
    const overflow = stats.counter(p + 'upstream_cx_overflow');
    const noHealthy = stats.counter(p + 'upstream_cx_no_healthy_host');
    const accessLog = compileAccessLogs(config.access_log, 'TcpProxy');
    const now = () => (ctx.clock ? ctx.clock.now() : Date.now());

    return (downstream: Socket, info: ConnectionInfo) => {
      cxTotal.inc();
      const name = pickCluster(single, weighted, total);
      const si = createStreamInfo(now(), info);
      si.upstreamCluster = name;
      const logged = () => {
        if (!accessLog) return;
        si.endTime = now();
        accessLog(si);
      };
      const fail = (flag: string, counter: { inc(): void }) => {
        counter.inc();
        si.responseFlags.push(flag);
        log.debug(`tcp_proxy ${config.stat_prefix}: ${info.remoteAddress}:${info.remotePort} -> ${name} closed with ${flag}`);
        downstream.destroy();
        tcpSession(info)?.closed(si);
        logged();
      };
      const cluster = ctx.clusterManager.get(name);
      if (!cluster) return fail('NR', cxNoRoute);
      const release = cluster.tryAcquire('connections');
      if (!release) return fail('UO', overflow);
      const host = cluster.chooseHost({ originalDestination: `${info.localAddress.includes(':') ? `[${info.localAddress}]` : info.localAddress}:${info.localPort}` });
      if (!host) {
        release();
        return fail('UH', noHealthy);
      }
      si.upstreamHost = host;
      ctx.trackActive();
      cxActive.inc();
      downstream.setNoDelay(true);
      const upstream = cluster.connect(host);
      // Istio's network filters ran before this one (metadata exchange, stats): they watch the session.
      const session = tcpSession(info);
      if (!session && info.preread && info.preread.length) upstream.write(info.preread);
      let connected = false;
      upstream.once('connect', () => {
        connected = true;
        cluster.outlier?.putResult(host, 'LOCAL_ORIGIN_CONNECT_SUCCESS_FINAL');
        if (upstream.localAddress) si.upstreamLocalAddress = upstream.localAddress.includes(':') ? `[${upstream.localAddress}]:${upstream.localPort}` : `${upstream.localAddress}:${upstream.localPort}`;
      });
      upstream.once('error', (e) => {
        if (!connected) {
          log.debug(`tcp_proxy ${config.stat_prefix}: upstream ${host.address} failed (UF): ${e.message}`);
          cluster.outlier?.putResult(host, 'LOCAL_ORIGIN_CONNECT_FAILED');
          si.responseFlags.push('UF');
          si.upstreamTransportFailureReason = e.message;
        }
        downstream.destroy();
      });
      downstream.once('error', () => upstream.destroy());
      // pipe forwards FIN per direction; with allowHalfOpen the other direction keeps flowing.
      if (session) {
        // Istio's metadata exchange comes before any byte is piped (preread bytes included).
        exchangeTcp(ctx.node, session, info, si, downstream, upstream, info.preread, () => {
          downstream.pipe(upstream);
          upstream.pipe(downstream);
          session.established(si);
        });
      } else {
        downstream.pipe(upstream);
        upstream.pipe(downstream);
      }
      if (idleMs > 0) {
        downstream.setTimeout(idleMs, () => {
          idleTimeouts.inc();
          si.connectionTerminationDetails = 'idle_timeout';
          downstream.destroy();
          upstream.destroy();
        });
      }
      const lifetime =
        maxDurationMs > 0
          ? setTimeout(() => {
              maxDurationReached.inc();
              si.connectionTerminationDetails = 'max_downstream_connection_duration';
              downstream.destroy();
              upstream.destroy();
            }, maxDurationMs)
          : undefined;
      lifetime?.unref();
      let closed = 0;
      const onClose = () => {
        if (lifetime) clearTimeout(lifetime);
        if (++closed === 1) {
          // Either side fully closed: finish the other once its pending writes flush.
          if (downstream.destroyed && !upstream.destroyed) upstream.end();
          if (upstream.destroyed && !downstream.destroyed) downstream.end();
          return;
        }
        rxBytes.inc(downstream.bytesRead);
        txBytes.inc(downstream.bytesWritten);
        cxActive.dec();
        release();
        ctx.releaseActive();
        si.bytesReceived = downstream.bytesRead - (session?.exchangeBytesRead ?? 0);
        si.bytesSent = downstream.bytesWritten - (session?.exchangeBytesWritten ?? 0);
        session?.closed(si);
        logged();
      };
      downstream.once('close', onClose);
      upstream.once('close', onClose);
    };
  },
};

registerNetworkFilter(TCP_PROXY_TYPE, tcpProxyFactory);
