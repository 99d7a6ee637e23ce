/**
 * The HttpConnectionManager's `tracing` block, compiled once per HCM config: the provider's
 * driver, the sampling fractions (as Envoy's runtime features, in 1/10000), the tags every span
 * of this HCM carries (node_id, zone, literal and environment custom tags), the request-header
 * tags, and the span kind from the listener's traffic_direction (OUTBOUND: egress, CLIENT spans;
 * otherwise ingress, SERVER spans, as Envoy's operation name).
 */
import { TRACING } from '../../xds/type_urls.ts';
import type { Clock, FactoryContext } from '../interfaces.ts';
import type { EnvoyJson } from '../../xds/types.ts';
import type { SharedDriver, TracingDriver } from './driver.ts';
import { zipkinDriver } from './zipkin.ts';
import { openTelemetryDriver } from './opentelemetry.ts';
import type { LocalEndpoint } from './span.ts';

const { ZIPKIN: ZIPKIN_CONFIG, OPENTELEMETRY: OPENTELEMETRY_CONFIG, UUID_REQUEST_ID: UUID_REQUEST_ID_CONFIG } = TRACING;

/** Envoy's default max_path_tag_length. */
export const DEFAULT_MAX_PATH_TAG_LENGTH = 256;

export interface HeaderTag {
  tag: string;
  header: string;
  dflt?: string;
}

export interface HcmTracing {
  /** Absent: decisions and x-request-id marking only, nothing propagated or reported. */
  driver?: TracingDriver;
  egress: boolean;
  /** Out of 10000, as Envoy turns a Percent into a FractionalPercent. */
  randomSampling: number;
  clientSampling: number;
  overallSampling: number;
  maxPathTagLength: number;
  /** Tags fixed for the HCM's lifetime: node_id, zone, component, literal and environment tags. */
  fixedTags: Readonly<Record<string, string>>;
  headerTags: readonly HeaderTag[];
  local: LocalEndpoint;
  clock: Clock;
  /** UuidRequestIdConfig.use_request_id_for_trace_sampling (default true): else a random number decides. */
  useRequestIdForSampling: boolean;
  random: () => number;
  stats: {
    randomSampling: { inc(): void };
    serviceForced: { inc(): void };
    clientEnabled: { inc(): void };
    notTraceable: { inc(): void };
  };
}

/** envoy.type.v3.Percent → 1/10000; Envoy's default (100%) when unset. */
function percent(p: EnvoyJson | undefined, field: string): number {
  if (p === undefined || p === null) return 10_000;
  const v = Number(typeof p === 'object' ? p.value ?? 0 : p);
  if (!Number.isFinite(v) || v < 0 || v > 100) throw new Error(`HttpConnectionManager.tracing.${field}.value must be within [0, 100], got ${JSON.stringify(p)}`);
  return Math.round(v * 100);
}

function compileCustomTags(tags: EnvoyJson[] | undefined, fixed: Record<string, string>, headerTags: HeaderTag[]): void {
  (tags ?? []).forEach((t, i) => {
    const at = `HttpConnectionManager.tracing.custom_tags[${i}]`;
    if (typeof t.tag !== 'string' || !t.tag) throw new Error(`${at}.tag is required`);
    if (t.literal) fixed[t.tag] = String(t.literal.value ?? '');
    else if (t.environment) {
      const v = process.env[String(t.environment.name ?? '')] ?? t.environment.default_value;
      // Envoy leaves the tag off when the variable is unset and there is no default.
      if (v !== undefined && v !== '') fixed[t.tag] = String(v);
    } else if (t.request_header) {
      const name = String(t.request_header.name ?? '').toLowerCase();
      if (!name) throw new Error(`${at}.request_header.name is required`);
      headerTags.push({ tag: t.tag, header: name, dflt: t.request_header.default_value || undefined });
    } else {
      throw new Error(`${at}: only literal, environment and request_header custom tags are supported`);
    }
  });
}

/** The reporter's identity: node.cluster (Istio's `<app>.<namespace>`) and the first IPv4. */
function localEndpoint(node: EnvoyJson): LocalEndpoint {
  const ips = String(node?.metadata?.INSTANCE_IPS ?? '').split(',');
  const ipv4 = ips.find((ip) => /^\d+\.\d+\.\d+\.\d+$/.test(ip));
  return { serviceName: String(node?.cluster || node?.id || 'envoy'), ...(ipv4 ? { ipv4 } : {}) };
}

/** request_id_extension: only Envoy's UUID extension, which is what the HCM does by default. */
function requestIdOptions(ext: EnvoyJson | undefined): { useForSampling: boolean } {
  if (!ext) return { useForSampling: true };
  const tc = ext.typed_config ?? {};
  if (tc['@type'] !== UUID_REQUEST_ID_CONFIG) throw new Error(`HttpConnectionManager.request_id_extension ${tc['@type']} is not supported (envoy.extensions.request_id.uuid.v3.UuidRequestIdConfig is)`);
  return { useForSampling: tc.use_request_id_for_trace_sampling !== false };
}

/**
 * Compiles `tracing` (undefined when the HCM has none) with the HCM's request_id_extension;
 * throws with the field named to NACK.
 */
export function compileHcmTracing(c: EnvoyJson | undefined, ctx: FactoryContext, statPrefix: string, clock: Clock, requestIdExtension?: EnvoyJson, random: () => number = Math.random): HcmTracing | undefined {
  const rid = requestIdOptions(requestIdExtension);
  if (c === undefined || c === null) return undefined;
  if (c.spawn_upstream_span === true) throw new Error('HttpConnectionManager.tracing.spawn_upstream_span true is not supported (one span per stream, Envoy\'s default)');
  const node = ctx.node ?? {};
  const fixed: Record<string, string> = { component: 'proxy' };
  if (node.id) fixed.node_id = String(node.id);
  if (node.locality?.zone) fixed.zone = String(node.locality.zone);
  const headerTags: HeaderTag[] = [];
  compileCustomTags(c.custom_tags, fixed, headerTags);
  const maxPath = c.max_path_tag_length === undefined || c.max_path_tag_length === null ? DEFAULT_MAX_PATH_TAG_LENGTH : Number(c.max_path_tag_length);
  // Last, once nothing else can throw: the driver is held until the listener releases this HCM.
  let driver: TracingDriver | undefined;
  const provider = c.provider;
  if (provider) {
    const tc = provider.typed_config ?? {};
    const type = tc['@type'];
    let shared: SharedDriver;
    try {
      if (type === ZIPKIN_CONFIG) shared = zipkinDriver(tc, ctx.clusterManager, ctx.stats, clock);
      else if (type === OPENTELEMETRY_CONFIG) shared = openTelemetryDriver(tc, ctx.clusterManager, ctx.stats, clock);
      else throw new Error(`tracer ${provider.name ?? type} (${type}) is not supported: envoy.tracers.zipkin and envoy.tracers.opentelemetry are`);
    } catch (e) {
      throw new Error(`HttpConnectionManager.tracing.provider: ${(e as Error).message}`, { cause: e });
    }
    driver = shared.driver;
    ctx.onRelease?.(shared.release);
  }
  const counter = (n: string) => ctx.stats.counter(`http.${statPrefix}.tracing.${n}`);
  return {
    driver,
    egress: ctx.trafficDirection === 'OUTBOUND',
    randomSampling: percent(c.random_sampling, 'random_sampling'),
    clientSampling: percent(c.client_sampling, 'client_sampling'),
    overallSampling: percent(c.overall_sampling, 'overall_sampling'),
    maxPathTagLength: maxPath,
    fixedTags: fixed,
    headerTags,
    local: localEndpoint(node),
    clock,
    useRequestIdForSampling: rid.useForSampling,
    random,
    stats: { randomSampling: counter('random_sampling'), serviceForced: counter('service_forced'), clientEnabled: counter('client_enabled'), notTraceable: counter('not_traceable') },
  };
}
