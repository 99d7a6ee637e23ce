/**
 * istio.stats on TCP chains (stats.PluginConfig as a TypedStruct, before tcp_proxy): Istio's
 * istio_tcp_connections_opened_total when the connection is established (after the metadata
 * exchange, so both peers are known), and istio_tcp_connections_closed_total,
 * istio_tcp_received_bytes_total (from the downstream) and istio_tcp_sent_bytes_total (to it) when
 * it closes. Labels and overrides as the HTTP filter (stats_reporter.ts, stats_config.ts), with
 * request_protocol "tcp" and no response code.
 */
import type { NetworkFilterFactory, StreamInfo } from '../interfaces.ts';
import { registerNetworkFilter } from '../filters/network/registry.ts';
import { ISTIO_FILTER } from '../../xds/type_urls.ts';
import { labelledRegistry } from './metrics_registry.ts';
import { buildPlans, compileStatsConfig, TCP_METRICS } from './stats_config.ts';
import { StatsReporter } from './stats_reporter.ts';
import { tcpSessionFor } from './tcp_session.ts';

export const tcpStatsFactory: NetworkFilterFactory = {
  create(config, ctx) {
    const cfg = compileStatsConfig(config);
    const plans = buildPlans(labelledRegistry(ctx.stats), cfg, TCP_METRICS, false);
    const reporter = new StatsReporter(ctx.node, ctx.trafficDirection, ctx.clusterManager, cfg);
    return (_socket, info) => {
      tcpSessionFor(info).observers.push({
        established(si: StreamInfo) {
          plans.tcp_connections_opened_total?.series(reporter.input(si, info, 'tcp', false), si)?.inc(1);
        },
        closed(si: StreamInfo) {
          const x = reporter.input(si, info, 'tcp', false);
          plans.tcp_connections_closed_total?.series(x, si)?.inc(1);
          plans.tcp_received_bytes_total?.series(x, si)?.inc(si.bytesReceived);
          plans.tcp_sent_bytes_total?.series(x, si)?.inc(si.bytesSent);
        },
      });
      return 'continue';
    };
  },
};

registerNetworkFilter(ISTIO_FILTER.STATS, tcpStatsFactory);
