/**
 * Istio's stats filter config (stats.PluginConfig, sent as a TypedStruct) compiled once per
 * listener: the reporter, the stat prefix ("istio" → istio_requests_total) and the `metrics`
 * overrides the Telemetry API becomes — per metric (or all, when `name` is empty): `drop`,
 * `tags_to_remove`, and `dimensions` (label → CEL value expression, evaluated per stream only for
 * metrics that have some). A metric without overrides takes the fast path: its series key is built
 * from cached parts.
 */
import type { EnvoyJson } from '../../xds/types.ts';
import { compileCelOrThrow, celAttributes, type CelProgram } from '../cel/expression.ts';
import type { StreamInfo } from '../interfaces.ts';
import { durationMs } from '../duration.ts';
import { KEY_SEP, type Family, type LabelledRegistry, type Series } from './metrics_registry.ts';
import { bounded, HTTP_LABELS, labelValues, seriesKey, TCP_LABELS, type LabelInput } from './stats_labels.ts';

/** Istio's standard metrics by their PluginConfig names (the exported name adds `<stat_prefix>_`). */
export const HTTP_METRICS = {
  requests_total: 'counter',
  request_duration_milliseconds: 'histogram',
  request_bytes: 'histogram',
  response_bytes: 'histogram',
  request_messages_total: 'counter',
  response_messages_total: 'counter',
} as const;
export const TCP_METRICS = {
  tcp_sent_bytes_total: 'counter',
  tcp_received_bytes_total: 'counter',
  tcp_connections_opened_total: 'counter',
  tcp_connections_closed_total: 'counter',
} as const;
const ALL_METRICS: ReadonlySet<string> = new Set([...Object.keys(HTTP_METRICS), ...Object.keys(TCP_METRICS)]);

/**
 * disable_host_header_fallback: when unset, destination_service of a cluster without istio
 * metadata comes from the Host header (destination_service.ts). tcp_reporting_duration: how often
 * an open TCP connection's bytes are reported (Istio's default 5 s; 0 only at close). Series
 * rotation is not implemented, so it NACKs.
 */
const KNOWN_FIELDS = new Set(['@type', 'stat_prefix', 'metrics', 'reporter', 'disable_host_header_fallback', 'tcp_reporting_duration', 'debug', 'definitions']);
/** Istio's default tcp_reporting_duration. */
export const DEFAULT_TCP_REPORTING_MS = 5000;

interface Override {
  drop: boolean;
  remove: Set<string>;
  dimensions: Map<string, { expr: string; program: CelProgram }>;
}

/** One metric as this listener records it. */
export class MetricPlan {
  /** Labels removed or replaced: present → the slow path. */
  private readonly slow: boolean;
  private readonly keep: number[];
  private readonly dims: { index: number; program: CelProgram }[];
  private readonly extra: { program: CelProgram }[];
  constructor(
    readonly family: Family,
    private readonly http: boolean,
    base: readonly string[],
    o: Override | undefined,
  ) {
    const names = [...base];
    this.keep = [];
    this.dims = [];
    this.extra = [];
    this.slow = !!o && (o.remove.size > 0 || o.dimensions.size > 0);
    if (!this.slow) return;
    names.forEach((_, i) => (o!.remove.has(base[i]!) ? undefined : this.keep.push(i)));
  }

  /** Labels removed or CEL dimensions: the series depends on more than the label tuple. */
  get perStream(): boolean {
    return this.slow;
  }

  /** The series for a finished stream, or undefined past the cardinality cap. */
  series(x: LabelInput, info: StreamInfo | undefined): Series | undefined {
    if (!this.slow) {
      const key = seriesKey(x, this.http);
      return this.family.series.get(key) ?? this.family.get(key, () => labelValues(x, this.http));
    }
    const all = labelValues(x, this.http);
    if (this.dims.length || this.extra.length) {
      const attrs = info ? celAttributes(info) : undefined;
      for (const d of this.dims) all[d.index] = bounded(celString(d.program, attrs));
      const values = this.keep.map((i) => all[i]!);
      for (const e of this.extra) values.push(bounded(celString(e.program, attrs)));
      return this.family.get(values.join(KEY_SEP), () => values);
    }
    const values = this.keep.map((i) => all[i]!);
    return this.family.get(values.join(KEY_SEP), () => values);
  }

  /** Wires the dimension programs (called once by forPlan, after the family exists). */
  static build(registry: LabelledRegistry, name: string, type: 'counter' | 'histogram', http: boolean, o: Override | undefined): MetricPlan {
    const base = http ? HTTP_LABELS : TCP_LABELS;
    const kept = o ? base.filter((l) => !o.remove.has(l)) : [...base];
    const extraNames: string[] = [];
    if (o) for (const l of o.dimensions.keys()) if (!base.includes(l as never)) extraNames.push(l);
    const family = registry.family(name, type, [...kept, ...extraNames]);
    const plan = new MetricPlan(family, http, base, o);
    if (o) {
      for (const [l, d] of o.dimensions) {
        const index = base.indexOf(l as never);
        if (index >= 0) {
          // A dimension both removed and overridden stays removed, as in Istio.
          if (!o.remove.has(l)) plan.dims.push({ index, program: d.program });
        } else plan.extra.push({ program: d.program });
      }
    }
    return plan;
  }
}

function celString(p: CelProgram, attrs: ReturnType<typeof celAttributes> | undefined): string | undefined {
  if (!attrs) return undefined;
  const v = p.eval(attrs);
  if (v === undefined || v === null) return undefined;
  return typeof v === 'string' ? v : typeof v === 'bigint' || typeof v === 'number' || typeof v === 'boolean' ? String(v) : undefined;
}

export interface CompiledStatsConfig {
  prefix: string;
  /** Undefined: from the listener's traffic_direction. */
  reporter?: string;
  overrides: Map<string, Override>;
  disableHostHeaderFallback: boolean;
  /** tcp_reporting_duration in ms (0: report at close only). */
  tcpReportingMs: number;
}

/** Validates a PluginConfig (throws to NACK, naming the field). */
export function compileStatsConfig(c: EnvoyJson): CompiledStatsConfig {
  for (const k of Object.keys(c)) if (!KNOWN_FIELDS.has(k)) throw new Error(`stats.PluginConfig.${k} is not supported`);
  if (Array.isArray(c.definitions) && c.definitions.length > 0) throw new Error('stats.PluginConfig.definitions (custom metrics) is not supported');
  const reporter = c.reporter ?? 'UNSPECIFIED';
  if (reporter !== 'UNSPECIFIED') throw new Error(`stats.PluginConfig.reporter ${reporter} is not supported (UNSPECIFIED: from the listener direction)`);
  const prefix = typeof c.stat_prefix === 'string' && c.stat_prefix ? c.stat_prefix : 'istio';
  const overrides = new Map<string, Override>();
  const list = c.metrics ?? [];
  if (!Array.isArray(list)) throw new Error('stats.PluginConfig.metrics must be a list');
  list.forEach((m: EnvoyJson, i: number) => {
    const where = `stats.PluginConfig.metrics[${i}]`;
    for (const k of Object.keys(m ?? {})) if (!['name', 'dimensions', 'tags_to_remove', 'drop', 'match'].includes(k)) throw new Error(`${where}.${k} is not supported`);
    if (m.match !== undefined && m.match !== '') throw new Error(`${where}.match is not supported`);
    const name = String(m.name ?? '');
    if (name && !ALL_METRICS.has(name)) throw new Error(`${where}.name: unknown metric ${name} (known: ${[...ALL_METRICS].join(', ')})`);
    const targets = name ? [name] : [...ALL_METRICS];
    const dims = new Map<string, { expr: string; program: CelProgram }>();
    for (const [label, expr] of Object.entries((m.dimensions ?? {}) as Record<string, unknown>)) {
      if (!/^[a-zA-Z_][a-zA-Z0-9_]*$/.test(label)) throw new Error(`${where}.dimensions: ${label} is not a Prometheus label name`);
      dims.set(label, { expr: String(expr), program: compileCelOrThrow(String(expr), `${where}.dimensions.${label}`) });
    }
    const remove: string[] = Array.isArray(m.tags_to_remove) ? m.tags_to_remove.map(String) : [];
    for (const t of targets) {
      // Later entries win per field, as Istio merges them.
      const o = overrides.get(t) ?? { drop: false, remove: new Set<string>(), dimensions: new Map() };
      if (m.drop === true) o.drop = true;
      for (const r of remove) o.remove.add(r);
      for (const [l, d] of dims) {
        o.dimensions.set(l, d);
        o.remove.delete(l);
      }
      overrides.set(t, o);
    }
  });
  if (c.disable_host_header_fallback !== undefined && typeof c.disable_host_header_fallback !== 'boolean') throw new Error('stats.PluginConfig.disable_host_header_fallback must be a boolean');
  const tcpReportingMs = durationMs(c.tcp_reporting_duration) ?? DEFAULT_TCP_REPORTING_MS;
  return { prefix, reporter: undefined, overrides, disableHostHeaderFallback: c.disable_host_header_fallback === true, tcpReportingMs };
}

/** The plans for one filter (HTTP or TCP metrics); dropped metrics are absent. */
export function buildPlans<T extends Record<string, 'counter' | 'histogram'>>(registry: LabelledRegistry, cfg: CompiledStatsConfig, metrics: T, http: boolean): { [K in keyof T]?: MetricPlan } {
  const out: { [K in keyof T]?: MetricPlan } = {};
  for (const [short, type] of Object.entries(metrics)) {
    const o = cfg.overrides.get(short);
    if (o?.drop) continue;
    out[short as keyof T] = MetricPlan.build(registry, `${cfg.prefix}_${short}`, type, http, o);
  }
  return out;
}
