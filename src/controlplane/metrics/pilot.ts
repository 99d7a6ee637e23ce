/**
 * prom-client here, our own stats in the proxy: istiod's metrics change per push and per scrape, never per
 * request, so a maintained library costs nothing; the proxy's counters (src/proxy/stats) are on the request path.
 *
 * istiod's own metrics (Istio's pilot/pkg/xds/monitoring.go and pilot/pkg/model names), served
 * on the control plane's :15014 /metrics. The ADS server reports through XdsMetrics; the
 * control plane reports config events and push triggers; gauges (connected proxies, services,
 * virtual services) and the CA's citadel_server_* counters are read when Prometheus scrapes.
 * Node's process_* and nodejs_* series follow, as istiod serves Go's process_* and go_*.
 */
import { TYPE } from '../../xds/types.ts';
import type { XdsMetrics } from '../../xds/server/types.ts';
import { collectDefaultMetrics, Counter, Histogram, Registry } from 'prom-client';
import { CITADEL_METRICS } from '../../ca/server.ts';
import { scrapeCounter, scrapeGauge, type Labels } from '../../common/prometheus.ts';

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
  /** This control plane's families: one registry per instance, so several in one process do not clash. */
  readonly registry = new Registry();
  readonly pushes: Counter;
  readonly rejects: Counter;
  readonly pushTriggers: Counter;
  readonly cfgEvents: Counter;
  readonly inboundUpdates: Counter;
  readonly convergence: Histogram;
  readonly pushTimes: Histogram;

  constructor(private readonly sources: PilotSources) {
    const r = this.registry;
    const counter = (name: string, help: string, labelNames: string[]) => new Counter({ name, help, labelNames, registers: [r] });
    const histogram = (name: string, help: string, labelNames: string[], buckets: readonly number[]) => new Histogram({ name, help, labelNames, buckets: [...buckets], registers: [r] });
    scrapeGauge(r, 'pilot_xds', 'Number of endpoints connected to this pilot using XDS.', ['version'], () => {
      const byVersion = new Map<string, number>();
      for (const v of sources.proxyVersions()) byVersion.set(v, (byVersion.get(v) ?? 0) + 1);
      return [...byVersion].map(([version, n]): [Labels, number] => [{ version }, n]);
    });
    this.pushes = counter('pilot_xds_pushes', 'Pilot build and send errors for lds, rds, cds and eds.', ['type']);
    this.pushTimes = histogram('pilot_xds_push_time', 'Total time in seconds Pilot takes to push lds, rds, cds and eds.', ['type'], PUSH_TIME_BUCKETS);
    this.convergence = histogram('pilot_proxy_convergence_time', 'Delay in seconds between config change and a proxy receiving all required configuration.', [], CONVERGENCE_BUCKETS);
    this.rejects = counter('pilot_total_xds_rejects', 'Total number of XDS responses from pilot rejected by proxy.', ['type']);
    this.pushTriggers = counter('pilot_push_triggers', 'Total number of times a push was triggered, labeled by reason for the push.', ['type']);
    this.inboundUpdates = counter('pilot_inbound_updates', 'Total number of updates received by pilot.', ['type']);
    // Istio names file- and Kubernetes-sourced config events alike in this family.
    this.cfgEvents = counter('pilot_k8s_cfg_events', 'Events from k8s config.', ['event', 'type']);
    scrapeGauge(r, 'pilot_services', 'Total services known to pilot.', [], () => [[undefined, sources.services()]]);
    scrapeGauge(r, 'pilot_virt_services', 'Total virtual services known to pilot.', [], () => [[undefined, sources.virtualServices()]]);
    citadelFamilies(r, () => sources.citadel());
  }

  sent(typeUrl: string): void {
    this.pushes.inc({ type: shortType(typeUrl) });
  }
  rejected(typeUrl: string): void {
    this.rejects.inc({ type: shortType(typeUrl) });
  }
  pushTime(typeUrl: string, seconds: number): void {
    this.pushTimes.observe({ type: shortType(typeUrl) }, seconds);
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
    this.cfgEvents.inc({ event, type: kind });
    this.inboundUpdates.inc({ type: 'config' });
  }

  /** The whole exposition: pilot's families, the CA's (Istio serves both on :15014), then the process'. */
  async render(): Promise<string> {
    return (await this.registry.metrics()) + (await processRegistry().metrics());
  }
}

/** Istio's citadel_server_* families (security/pkg/server/ca/monitoring.go), mirrored from the CA's counters. */
function citadelFamilies(r: Registry, read: () => Record<string, number>): void {
  const one = (name: string) => (): Array<[Labels | undefined, number]> => {
    const v = read()[name];
    return v === undefined ? [] : [[undefined, v]];
  };
  const M = CITADEL_METRICS;
  scrapeCounter(r, M.csr, 'The number of CSRs received by Citadel server.', [], one(M.csr));
  scrapeCounter(r, M.authnError, 'The number of authentication failures.', [], one(M.authnError));
  scrapeCounter(r, M.csrParsingError, 'The number of errors occurred when parsing the CSR.', [], one(M.csrParsingError));
  scrapeCounter(r, M.idExtractionError, 'The number of errors occurred when extracting the ID from CSR.', [], one(M.idExtractionError));
  // The CA spells its labelled series out: citadel_server_csr_sign_err_count{error="..."}.
  const signErr = new RegExp(`^${M.csrSignError}\\{error="(.*)"\\}$`);
  scrapeCounter(r, M.csrSignError, 'The number of errors occurred when signing the CSR.', ['error'], () =>
    Object.entries(read()).flatMap(([series, v]): Array<[Labels, number]> => {
      const m = signErr.exec(series);
      return m ? [[{ error: m[1]! }, v]] : [];
    }),
  );
  scrapeCounter(r, M.success, 'The number of certificates issuances that have succeeded.', [], one(M.success));
  scrapeGauge(r, M.rootExpiry, 'The unix timestamp, in seconds, when Citadel root cert will expire. A negative time indicates the cert is expired.', [], one(M.rootExpiry));
}

let processMetrics: Registry | undefined;

/**
 * prom-client's process_* (the names Go's process collector uses too) and nodejs_* series. They
 * describe the process, so one registry serves every control plane in it; its GC observer and
 * event-loop monitor are then set up once, not per instance.
 */
function processRegistry(): Registry {
  if (!processMetrics) {
    processMetrics = new Registry();
    collectDefaultMetrics({ register: processMetrics });
  }
  return processMetrics;
}
