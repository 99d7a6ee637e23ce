/**
 * istiod's own metrics (Istio's pilot/pkg/xds/monitoring.go and pilot/pkg/model names), served
 * on the control plane's :15014 /metrics. The ADS server reports through XdsMetrics; the
 * control plane reports config events and push triggers; gauges (connected proxies, services,
 * virtual services) and the CA's citadel_server_* counters are read when Prometheus scrapes.
 */
import { TYPE } from '../../xds/types.ts';
import type { XdsMetrics } from '../../xds/server/types.ts';
import { MetricsRegistry, type Counter, type Histogram, type Labels } from './registry.ts';

/** Istio's short type names (v3.GetMetricType): the `type` label of pilot_xds_* series. */
const SHORT_TYPE: Record<string, string> = {
  [TYPE.CLUSTER]: 'cds',
  [TYPE.ENDPOINT]: 'eds',
  [TYPE.LISTENER]: 'lds',
  [TYPE.ROUTE]: 'rds',
  [TYPE.SECRET]: 'sds',
};

export function shortType(typeUrl: string): string {
  return SHORT_TYPE[typeUrl] ?? typeUrl.slice(typeUrl.lastIndexOf('.') + 1);
}

/** Istio's buckets (seconds) for pilot_proxy_convergence_time. */
export const CONVERGENCE_BUCKETS = [0.1, 0.5, 1, 3, 5, 10, 20, 30] as const;
/** Istio's buckets (seconds) for pilot_xds_push_time. */
export const PUSH_TIME_BUCKETS = [0.01, 0.1, 1, 3, 5, 10, 20, 30] as const;

/** What the metrics read from the running control plane at scrape time. */
export interface PilotSources {
  /** Connected proxies' Istio versions (node metadata ISTIO_VERSION), one entry per stream. */
  proxyVersions(): string[];
  services(): number;
  virtualServices(): number;
  /** The CA's counters as series names (labelled ones spelled out), if the CA runs. */
  citadel(): Record<string, number>;
}

/** Istio's push trigger reasons (model.TriggerReason) that tsmesh produces. */
export type PushTrigger = 'config' | 'service' | 'endpoint' | 'proxy' | 'secret' | 'unknown';

export class PilotMetrics implements XdsMetrics {
  readonly registry = new MetricsRegistry();
  readonly pushes: Counter;
  readonly rejects: Counter;
  readonly pushTriggers: Counter;
  readonly cfgEvents: Counter;
  readonly inboundUpdates: Counter;
  readonly convergence: Histogram;
  readonly pushTimes: Histogram;

  constructor(private readonly sources: PilotSources) {
    const r = this.registry;
    r.gauge('pilot_xds', 'Number of endpoints connected to this pilot using XDS.', () => {
      const byVersion = new Map<string, number>();
      for (const v of sources.proxyVersions()) byVersion.set(v, (byVersion.get(v) ?? 0) + 1);
      return [...byVersion].map(([version, n]): [Labels, number] => [{ version }, n]);
    });
    this.pushes = r.counter('pilot_xds_pushes', 'Pilot build and send errors for lds, rds, cds and eds.');
    this.pushTimes = r.histogram('pilot_xds_push_time', 'Total time in seconds Pilot takes to push lds, rds, cds and eds.', PUSH_TIME_BUCKETS);
    this.convergence = r.histogram('pilot_proxy_convergence_time', 'Delay in seconds between config change and a proxy receiving all required configuration.', CONVERGENCE_BUCKETS);
    this.rejects = r.counter('pilot_total_xds_rejects', 'Total number of XDS responses from pilot rejected by proxy.');
    this.pushTriggers = r.counter('pilot_push_triggers', 'Total number of times a push was triggered, labeled by reason for the push.');
    this.inboundUpdates = r.counter('pilot_inbound_updates', 'Total number of updates received by pilot.');
    // Istio names file- and Kubernetes-sourced config events alike in this family.
    this.cfgEvents = r.counter('pilot_k8s_cfg_events', 'Events from k8s config.');
    r.gauge('pilot_services', 'Total services known to pilot.', () => [[undefined, sources.services()]]);
    r.gauge('pilot_virt_services', 'Total virtual services known to pilot.', () => [[undefined, sources.virtualServices()]]);
  }

  sent(typeUrl: string): void {
    this.pushes.inc({ type: shortType(typeUrl) });
  }
  rejected(typeUrl: string): void {
    this.rejects.inc({ type: shortType(typeUrl) });
  }
  pushTime(typeUrl: string, seconds: number): void {
    this.pushTimes.observe(seconds, { type: shortType(typeUrl) });
  }
  converged(seconds: number): void {
    this.convergence.observe(seconds);
  }

  /** One push request, by Istio's trigger reason. */
  trigger(reason: PushTrigger): void {
    this.pushTriggers.inc({ type: reason });
  }

  /** A config resource added, updated or deleted (`type` is its kind, as Istio labels it). */
  configEvent(kind: string, event: string): void {
    this.cfgEvents.inc({ type: kind, event });
    this.inboundUpdates.inc({ type: 'config' });
  }

  /** The whole exposition: pilot's families, then the CA's (Istio serves both on :15014). */
  render(): string {
    return this.registry.render() + citadelText(this.sources.citadel());
  }
}

/** The CA's counters, with TYPE lines so Prometheus reads the expiry as a gauge. */
function citadelText(values: Record<string, number>): string {
  const families = new Map<string, string[]>();
  for (const [series, v] of Object.entries(values)) {
    const name = series.split('{')[0]!;
    if (!families.has(name)) families.set(name, []);
    families.get(name)!.push(`${series} ${v}`);
  }
  let out = '';
  for (const [name, lines] of families) out += `# TYPE ${name} ${name.endsWith('_timestamp') ? 'gauge' : 'counter'}\n${lines.join('\n')}\n`;
  return out;
}
