/**
 * The agent's own series in the merged 15020 output (pilot-agent's istio_agent_* families): its
 * workload certificate's remaining life, the xDS stream state it sees, and how scrapes of the
 * proxy and the app went. Computed on scrape; nothing here runs per request.
 */
import { MetricsRegistry, type Counter } from '../controlplane/metrics/registry.ts';

export interface AgentMetricsSources {
  /** The workload certificate's notAfter (ms since epoch), when the agent holds one. */
  certNotAfter?: () => number | undefined;
  /** 1 while the proxy's ADS stream is up (Envoy's control_plane.connected_state). */
  xdsConnected?: () => number | undefined;
}

export class AgentMetrics {
  readonly registry = new MetricsRegistry();
  readonly scrapes: Counter;
  readonly scrapeFailures: Counter;

  constructor(sources: AgentMetricsSources = {}) {
    const r = this.registry;
    r.gauge('istio_agent_cert_expiry_seconds', 'The time remaining, in seconds, before the certificate chain will expire. A negative value indicates the cert is expired.', () => {
      const t = sources.certNotAfter?.();
      return t === undefined ? [] : [[{ resource_name: 'default' }, Math.round((t - Date.now()) / 1000)]];
    });
    r.gauge('istio_agent_xds_connected', 'Whether the proxy has a live xDS stream to the control plane (1) or not (0).', () => {
      const v = sources.xdsConnected?.();
      return v === undefined ? [] : [[undefined, v]];
    });
    this.scrapes = r.counter('istio_agent_scrapes_total', 'The total number of scrapes of the merged metrics endpoint.');
    this.scrapeFailures = r.counter('istio_agent_scrape_failures_total', 'The total number of failed scrapes of a merged source, by source (envoy, application).');
  }

  render(): string {
    return this.registry.render();
  }
}
