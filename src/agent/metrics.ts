/**
 * The agent's own series in the merged 15020 output (pilot-agent's istio_agent_* families): its
 * workload certificate's remaining life, the xDS stream state it sees, and how scrapes of the
 * proxy and the app went. Computed on scrape; nothing here runs per request. No prom-client
 * default process metrics: the agent shares the proxy's process, whose request path must not pay
 * for a GC observer and an event-loop monitor.
 */
import { Counter, Registry } from 'prom-client';
import { scrapeGauge } from '../common/prometheus.ts';

export interface AgentMetricsSources {
  /** The workload certificate's notAfter (ms since epoch), when the agent holds one. */
  certNotAfter?: () => number | undefined;
  /** 1 while the proxy's ADS stream is up (Envoy's control_plane.connected_state). */
  xdsConnected?: () => number | undefined;
}

export class AgentMetrics {
  /** One registry per agent, so several agents in one process (tests) do not clash. */
  readonly registry = new Registry();
  readonly scrapes: Counter;
  readonly scrapeFailures: Counter;

  constructor(sources: AgentMetricsSources = {}) {
    const r = this.registry;
    scrapeGauge(r, 'istio_agent_cert_expiry_seconds', 'The time remaining, in seconds, before the certificate chain will expire. A negative value indicates the cert is expired.', ['resource_name'], () => {
      const t = sources.certNotAfter?.();
      return t === undefined ? [] : [[{ resource_name: 'default' }, Math.round((t - Date.now()) / 1000)]];
    });
    scrapeGauge(r, 'istio_agent_xds_connected', 'Whether the proxy has a live xDS stream to the control plane (1) or not (0).', [], () => {
      const v = sources.xdsConnected?.();
      return v === undefined ? [] : [[undefined, v]];
    });
    this.scrapes = new Counter({ name: 'istio_agent_scrapes_total', help: 'The total number of scrapes of the merged metrics endpoint.', registers: [r] });
    this.scrapeFailures = new Counter({
      name: 'istio_agent_scrape_failures_total',
      help: 'The total number of failed scrapes of a merged source, by source (envoy, application).',
      labelNames: ['type'],
      registers: [r],
    });
  }

  render(): Promise<string> {
    return this.registry.metrics();
  }
}
