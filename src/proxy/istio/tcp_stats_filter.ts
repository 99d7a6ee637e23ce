/**
 * istio.stats on TCP chains (stats.PluginConfig as a TypedStruct, before tcp_proxy): Istio's
 * istio_tcp_connections_opened_total when the connection is established (after the metadata
 * exchange, so both peers are known); istio_tcp_received_bytes_total (from the downstream) and
 * istio_tcp_sent_bytes_total (to it) every tcp_reporting_duration while it is open (Istio's 5 s
 * default; one unref'd timer per connection, the delta since the last report, labelled as at the
 * open) and the rest when it closes, with istio_tcp_connections_closed_total. Labels and overrides as the HTTP filter (stats_reporter.ts, stats_config.ts), with
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
    const registry = labelledRegistry(ctx.stats);
    const plans = buildPlans(registry, cfg, TCP_METRICS, false);
    // A report's series are found first and admitted together under the series cap (all or
    // none); only then are they counted.
    const admitted = <T>(find: () => T): T | undefined => {
      registry.begin();
      let found: T;
      try {
        found = find();
      } catch (e) {
        registry.commit();
        throw e;
      }
      return registry.commit() ? found : undefined;
    };
    const reporter = new StatsReporter(ctx.node, ctx.trafficDirection, ctx.clusterManager, cfg);
    const { tcp_received_bytes_total: received, tcp_sent_bytes_total: sent } = plans;
    const periodMs = received || sent ? cfg.tcpReportingMs : 0;
    // The upstream side of the exchange (an Istio mTLS cluster) is counted where istio.stats runs.
    const exchangeTimeouts = ctx.stats.counter('metadata_exchange.exchange_timeout');
    return (_socket, info) => {
      const session = tcpSessionFor(info);
      session.exchangeTimeouts ??= exchangeTimeouts;
      // What earlier reports already added, so each report adds the delta.
      let rx = 0;
      let tx = 0;
      let timer: NodeJS.Timeout | undefined;
      session.observers.push({
        established(si: StreamInfo) {
          const x = reporter.input(si, info, 'tcp', false);
          plans.tcp_connections_opened_total?.series(x, si)?.inc(1);
          if (periodMs <= 0) return;
          // One timer per connection, not keeping the process alive; labels as at the open (Istio's).
          timer = setInterval(() => {
            const r = session.bytesReceived() - rx;
            const t = session.bytesSent() - tx;
            if (r <= 0 && t <= 0) return;
            const s = admitted(() => [r > 0 ? received?.series(x, si) : undefined, t > 0 ? sent?.series(x, si) : undefined] as const);
            s?.[0]?.inc(r);
            s?.[1]?.inc(t);
            rx += r;
            tx += t;
          }, periodMs);
          timer.unref();
        },
        closed(si: StreamInfo) {
          if (timer) clearInterval(timer);
          const x = reporter.input(si, info, 'tcp', false);
          const s = admitted(() => [plans.tcp_connections_closed_total?.series(x, si), received?.series(x, si), sent?.series(x, si)] as const);
          s?.[0]?.inc(1);
          s?.[1]?.inc(Math.max(0, si.bytesReceived - rx));
          s?.[2]?.inc(Math.max(0, si.bytesSent - tx));
        },
      });
      return 'continue';
    };
  },
};

registerNetworkFilter(ISTIO_FILTER.STATS, tcpStatsFactory);
