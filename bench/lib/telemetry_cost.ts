/**
 * Issue 12's cost line: one tsmesh hop with Istio's full default telemetry on — the peer-metadata
 * and istio.stats filters, tracing at Istio's default 1% sampling to a Zipkin collector, and an
 * access log to a file — beside the same hop with none of it. Everything the hop gets comes from
 * the pilot's own translation of a mesh config (as a sidecar's outbound listener gets it), so the
 * bench measures what a user's sidecar runs; the collector is the control plane's embedded one,
 * run in the bench process.
 */
import { join } from 'node:path';
import type { EnvoyJson } from '../../src/xds/types.ts';
import type { Proxy, PushContext } from '../../src/pilot/types.ts';
import { defaultMeshConfig } from '../../src/api/mesh.ts';
import { NETWORK_FILTER } from '../../src/xds/type_urls.ts';
import { withIstioTelemetry } from '../../src/pilot/listener/istio_telemetry_filters.ts';
import { hcmTracing, tracingClusters } from '../../src/pilot/listener/tracing.ts';
import { withAccessLogs } from '../../src/pilot/telemetry/access_log.ts';
import type { HcmExtra } from './configs.ts';

const ROUTER = 'envoy.filters.http.router';

/** The sidecar the pilot translates for: a bench workload in namespace bench. */
function benchProxy(): { proxy: Proxy; metadata: Record<string, unknown> } {
  const labels = { app: 'bench', version: 'v1' };
  const metadata = { NAME: 'bench-1', NAMESPACE: 'bench', LABELS: labels, WORKLOAD_NAME: 'bench', CLUSTER_ID: 'Kubernetes', MESH_ID: 'cluster.local', SERVICE_ACCOUNT: 'bench' };
  const proxy = { id: 'sidecar~127.0.0.1~bench-1.bench~bench.svc.cluster.local', type: 'sidecar', namespace: 'bench', labels, metadata, workloadName: 'bench' } as unknown as Proxy;
  return { proxy, metadata };
}

/**
 * The listener additions (filters, HCM tracing and access_log, the collector's cluster, node
 * metadata) for full telemetry: tracing at `samplingPercent` to the Zipkin collector on
 * 127.0.0.1:`collectorPort`, access log lines appended to `<dir>/access.log`.
 */
export function telemetryBenchExtra(dir: string, collectorPort: number, samplingPercent = 1): HcmExtra & { accessLog: string } {
  const accessLog = join(dir, 'access.log');
  const mesh = {
    ...defaultMeshConfig(),
    enableTracing: true,
    accessLogFile: accessLog,
    defaultConfig: { ...defaultMeshConfig().defaultConfig, tracing: { sampling: samplingPercent, zipkin: { address: `127.0.0.1:${collectorPort}` } } },
  };
  // Only what the telemetry builders read: mesh config and (empty) Telemetry resources.
  const push = { mesh, configs: [], services: [], endpoints: new Map(), workloads: [] } as unknown as PushContext;
  const { proxy, metadata } = benchProxy();
  const hcm: EnvoyJson = { name: NETWORK_FILTER_NAME, typed_config: { '@type': NETWORK_FILTER.HTTP_CONNECTION_MANAGER, stat_prefix: 'bench', http_filters: [{ name: ROUTER }] } };
  const listener: EnvoyJson = { name: 'bench', traffic_direction: 'OUTBOUND', filter_chains: [{ filters: [hcm] }] };
  const [withStats] = withIstioTelemetry(push, proxy, [listener]);
  const [withLogs] = withAccessLogs(push, proxy, [{ name: 'bench', resource: withStats }]);
  const typed = withLogs.resource.filter_chains[0].filters.find((f: EnvoyJson) => f.typed_config?.['@type'] === NETWORK_FILTER.HTTP_CONNECTION_MANAGER).typed_config;
  const httpFilters = (typed.http_filters as EnvoyJson[]).filter((f) => f.name !== ROUTER);
  // The HCM fields tracing sets: `tracing` (and request_id_extension when configured).
  const tracing = hcmTracing(push, proxy, 'CLIENT');
  if (!tracing?.tracing) throw new Error('telemetry bench: the pilot built no tracing block');
  if (!typed.access_log) throw new Error('telemetry bench: the pilot built no access log');
  if (httpFilters.length === 0) throw new Error('telemetry bench: the pilot built no telemetry filters');
  return { httpFilters, hcm: { ...tracing, access_log: typed.access_log }, clusters: tracingClusters(push, proxy), nodeMetadata: metadata, accessLog };
}

const NETWORK_FILTER_NAME = 'envoy.filters.network.http_connection_manager';
