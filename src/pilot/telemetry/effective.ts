/**
 * The Telemetry API as it applies to one proxy (Istio's Telemetries.applicableTelemetries and its
 * mergeMetrics / mergeTracing / mergeLogs): the Telemetry of the root namespace (no selector),
 * then the one of the proxy's namespace (no selector), then the first one in the proxy's
 * namespace whose selector (or Gateway targetRef) picks the proxy; when several fit a level the
 * oldest wins (configOrder). Later levels override earlier ones: providers replace (not merge)
 * the parent's; metric overrides merge per metric and mode; tracing merges field by field;
 * access logging is decided per provider and mode, `disabled` removing the provider.
 * meshConfig.defaultProviders seeds each list. Pure; memoised per push and proxy.
 */
import type { Config } from '../../api/types.ts';
import type { Proxy, PushContext } from '../types.ts';
import { pushIndex } from '../push_context.ts';
import { labelsMatch } from '../util.ts';

export type WorkloadMode = 'CLIENT' | 'SERVER' | 'CLIENT_AND_SERVER';
export type TagOverride = { operation: 'UPSERT' | 'REMOVE'; value?: string };

/**
 * One metric override after the merge: `metric` is Istio's name (REQUEST_COUNT...) or a
 * customMetric name, always one concrete metric, and `mode` is CLIENT or SERVER (a
 * CLIENT_AND_SERVER override yields both). `{ metric: 'ALL_METRICS', disabled: true }` means the
 * provider reports nothing in that mode (Istio then drops the stats filter for it).
 */
export interface MetricOverride {
  metric: string;
  mode: WorkloadMode;
  disabled?: boolean;
  tagOverrides?: Record<string, TagOverride>;
}

export interface CustomTag {
  literal?: { value: string };
  environment?: { name: string; defaultValue?: string };
  header?: { name: string; defaultValue?: string };
}

export interface TracingSpec {
  /** The chosen provider first (Envoy takes one); empty when only meshConfig's legacy tracing applies. */
  providers: string[];
  randomSamplingPercentage?: number;
  disableSpanReporting?: boolean;
  customTags?: Record<string, CustomTag>;
  useRequestIdForTraceSampling?: boolean;
}

/** One access logger to configure: a single provider for one mode, with its CEL filter. */
export interface AccessLoggingSpec {
  providers: string[];
  disabled?: boolean;
  filter?: string;
  mode?: WorkloadMode;
}

export interface EffectiveTelemetry {
  /** reportingInterval: the most specific Telemetry's for the provider (Istio's tcp_reporting_duration). */
  metrics: { provider: string; overrides: MetricOverride[]; reportingInterval?: string }[];
  /**
   * Mode-agnostic view (every matching tracing entry merged in order); `tracingByMode` is exact
   * per direction. Undefined when no Telemetry tracing and no defaultProviders.tracing apply.
   */
  tracing: TracingSpec | undefined;
  tracingByMode?: { CLIENT: TracingSpec; SERVER: TracingSpec };
  /** Loggers per mode (CLIENT = outbound and gateways, SERVER = inbound); each names one provider. */
  accessLogging: AccessLoggingSpec[];
  /**
   * True when the Telemetry API (a Telemetry's accessLogging or defaultProviders.accessLogging)
   * decides access logging for this proxy; false leaves meshConfig.accessLogFile in charge.
   */
  accessLoggingFromTelemetry: boolean;
}

/** Istio's standard metric names (MetricSelector.IstioMetric), what ALL_METRICS stands for. */
export const ISTIO_METRICS = [
  'REQUEST_COUNT', 'REQUEST_DURATION', 'REQUEST_SIZE', 'RESPONSE_SIZE',
  'TCP_OPENED_CONNECTIONS', 'TCP_CLOSED_CONNECTIONS', 'TCP_SENT_BYTES', 'TCP_RECEIVED_BYTES',
  'GRPC_REQUEST_MESSAGES', 'GRPC_RESPONSE_MESSAGES',
] as const;

/** Istio's default meshConfig.defaultProviders.metrics. */
const DEFAULT_METRICS_PROVIDERS = ['prometheus'];
const GATEWAY_NAME_LABEL = 'gateway.networking.k8s.io/gateway-name';

type Spec = Record<string, any>;

const memo = new WeakMap<PushContext, WeakMap<Proxy, EffectiveTelemetry>>();

export function effectiveTelemetry(push: PushContext, proxy: Proxy): EffectiveTelemetry {
  let perPush = memo.get(push);
  if (!perPush) memo.set(push, (perPush = new WeakMap()));
  let eff = perPush.get(proxy);
  if (!eff) perPush.set(proxy, (eff = compute(push, proxy)));
  return eff;
}

/** The Telemetry specs that apply, root namespace first, most specific last. */
export function applicableTelemetries(push: PushContext, proxy: Proxy): Config[] {
  const all = pushIndex(push).byKind.get('Telemetry') ?? []; // oldest first
  const root = push.mesh.rootNamespace || 'istio-system';
  const out: Config[] = [];
  const namespaceWide = (ns: string) => all.find((c) => c.metadata.namespace === ns && !hasSelection(c.spec ?? {}));
  const r = namespaceWide(root);
  if (r) out.push(r);
  if (proxy.namespace !== root) {
    const n = namespaceWide(proxy.namespace);
    if (n) out.push(n);
  }
  const w = all.find((c) => c.metadata.namespace === proxy.namespace && hasSelection(c.spec ?? {}) && selects(c.spec ?? {}, proxy));
  if (w) out.push(w);
  return out;
}

function targetRefs(spec: Spec): Spec[] {
  if (Array.isArray(spec.targetRefs) && spec.targetRefs.length > 0) return spec.targetRefs;
  return spec.targetRef ? [spec.targetRef] : [];
}

function hasSelection(spec: Spec): boolean {
  return Object.keys(spec.selector?.matchLabels ?? {}).length > 0 || targetRefs(spec).length > 0;
}

/** A selector matches by labels; a targetRef attaches to a Gateway API gateway's deployed proxies. */
function selects(spec: Spec, proxy: Proxy): boolean {
  const refs = targetRefs(spec);
  if (refs.length > 0) {
    return refs.some((t) => t.kind === 'Gateway' && proxy.labels[GATEWAY_NAME_LABEL] === t.name);
  }
  return labelsMatch(spec.selector?.matchLabels, proxy.labels);
}

function compute(push: PushContext, proxy: Proxy): EffectiveTelemetry {
  const specs = applicableTelemetries(push, proxy).map((c) => (c.spec ?? {}) as Spec);
  const list = (k: string): Spec[] => specs.flatMap((s) => (Array.isArray(s[k]) ? s[k] : []));
  const tracingEntries = list('tracing');
  const tracingByMode = mergeTracing(tracingEntries, push.mesh.defaultProviders?.tracing ?? []);
  const logs = specs.map((s) => (Array.isArray(s.accessLogging) ? (s.accessLogging as Spec[]) : [])).filter((l) => l.length > 0);
  const defaultLogging = push.mesh.defaultProviders?.accessLogging ?? [];
  return {
    metrics: mergeMetrics(list('metrics'), push.mesh.defaultProviders?.metrics ?? DEFAULT_METRICS_PROVIDERS),
    tracing: tracingByMode && mergeTracingAll(tracingEntries, tracingByMode.CLIENT.providers),
    ...(tracingByMode ? { tracingByMode } : {}),
    accessLogging: [...mergeLogs(logs, defaultLogging, 'CLIENT'), ...mergeLogs(logs, defaultLogging, 'SERVER')],
    accessLoggingFromTelemetry: logs.length > 0 || defaultLogging.length > 0,
  };
}

function providerNames(e: Spec): string[] {
  return Array.isArray(e.providers) ? e.providers.map((p: Spec) => String(p?.name ?? '')).filter(Boolean) : [];
}

function modesOf(mode: unknown): Array<'CLIENT' | 'SERVER'> {
  if (mode === 'CLIENT') return ['CLIENT'];
  if (mode === 'SERVER') return ['SERVER'];
  return ['CLIENT', 'SERVER'];
}

function matchesMode(e: Spec, mode: 'CLIENT' | 'SERVER'): boolean {
  return modesOf(e.match?.mode).includes(mode);
}

// ---------- metrics (Istio's mergeMetrics) ----------

function metricNames(match: Spec | undefined): string[] {
  if (match?.customMetric) return [String(match.customMetric)];
  const m = match?.metric ?? 'ALL_METRICS';
  return m === 'ALL_METRICS' ? [...ISTIO_METRICS] : [String(m)];
}

function isAllMetrics(match: Spec | undefined): boolean {
  return !match?.customMetric && (match?.metric ?? 'ALL_METRICS') === 'ALL_METRICS';
}

function mergeMetrics(entries: Spec[], defaults: string[]): EffectiveTelemetry['metrics'] {
  // The most specific level that names providers decides which providers are in scope.
  let inScope = defaults;
  for (const m of entries) if (providerNames(m).length > 0) inScope = providerNames(m);
  const scope = new Set(inScope);
  // provider → "mode|metric" → override, in first-seen order (deterministic output).
  const byProvider = new Map<string, Map<string, MetricOverride>>();
  const allOff = new Set<string>(); // "provider|mode"
  const interval = new Map<string, string>();
  for (const p of inScope) byProvider.set(p, new Map());
  let parent = defaults;
  for (const m of entries) {
    const named = providerNames(m);
    const providers = named.length > 0 ? named : parent;
    parent = providers;
    for (const provider of providers) {
      if (!scope.has(provider)) continue;
      const mp = byProvider.get(provider)!;
      if (typeof m.reportingInterval === 'string') interval.set(provider, m.reportingInterval);
      for (const o of Array.isArray(m.overrides) ? (m.overrides as Spec[]) : []) {
        const disabled = typeof o.disabled === 'boolean' ? o.disabled : undefined;
        if (isAllMetrics(o.match) && disabled === true) {
          for (const mode of modesOf(o.match?.mode)) allOff.add(`${provider}|${mode}`);
          continue;
        }
        for (const mode of modesOf(o.match?.mode)) {
          // Any other override (one metric, tags only, or disabled: false) lifts a parent's
          // ALL_METRICS disable for its modes, as Istio's mergeMetrics ("root namespace disables
          // all, but then enables them by namespace scoped"): the stats filter comes back.
          allOff.delete(`${provider}|${mode}`);
          for (const metric of metricNames(o.match)) {
            const key = `${mode}|${metric}`;
            const cur = mp.get(key) ?? { metric, mode };
            if (disabled !== undefined) cur.disabled = disabled;
            if (o.tagOverrides && typeof o.tagOverrides === 'object') {
              cur.tagOverrides = { ...cur.tagOverrides };
              for (const [tag, t] of Object.entries(o.tagOverrides as Record<string, Spec>)) {
                cur.tagOverrides[tag] = { operation: t?.operation === 'REMOVE' ? 'REMOVE' : 'UPSERT', ...(t?.value !== undefined ? { value: String(t.value) } : {}) };
              }
            }
            mp.set(key, cur);
          }
        }
      }
    }
  }
  return [...byProvider].map(([provider, mp]) => {
    const overrides = [...mp.values()].filter((o) => !allOff.has(`${provider}|${o.mode}`));
    for (const mode of ['CLIENT', 'SERVER'] as const) if (allOff.has(`${provider}|${mode}`)) overrides.push({ metric: 'ALL_METRICS', mode, disabled: true });
    const every = interval.get(provider);
    return every ? { provider, overrides, reportingInterval: every } : { provider, overrides };
  });
}

// ---------- tracing (Istio's mergeTracing) ----------

function applyTracing(cfg: TracingSpec, t: Spec): void {
  const names = providerNames(t);
  if (names.length > 0) cfg.providers = names;
  if (typeof t.disableSpanReporting === 'boolean') cfg.disableSpanReporting = t.disableSpanReporting;
  if (t.randomSamplingPercentage !== undefined && t.randomSamplingPercentage !== null) cfg.randomSamplingPercentage = Number(t.randomSamplingPercentage);
  if (typeof t.useRequestIdForTraceSampling === 'boolean') cfg.useRequestIdForTraceSampling = t.useRequestIdForTraceSampling;
  if (t.customTags && typeof t.customTags === 'object') cfg.customTags = { ...cfg.customTags, ...(t.customTags as Record<string, CustomTag>) };
}

function mergeTracing(entries: Spec[], defaults: string[]): { CLIENT: TracingSpec; SERVER: TracingSpec } | undefined {
  if (entries.length === 0 && defaults.length === 0) return undefined;
  const out = {} as { CLIENT: TracingSpec; SERVER: TracingSpec };
  for (const mode of ['CLIENT', 'SERVER'] as const) {
    const cfg: TracingSpec = { providers: [...defaults] };
    for (const t of entries) if (matchesMode(t, mode)) applyTracing(cfg, t);
    out[mode] = cfg;
  }
  return out;
}

function mergeTracingAll(entries: Spec[], defaults: string[]): TracingSpec {
  const cfg: TracingSpec = { providers: [...defaults] };
  for (const t of entries) applyTracing(cfg, t);
  return cfg;
}

// ---------- access logging (Istio's mergeLogs) ----------

function mergeLogs(levels: Spec[][], defaults: string[], mode: 'CLIENT' | 'SERVER'): AccessLoggingSpec[] {
  if (levels.length === 0) return defaults.map((p) => ({ providers: [p], mode }));
  // The most specific level naming providers for this mode decides which are in scope; the
  // filter of a provider is the one given where it was last named.
  let inScope = defaults;
  const filters = new Map<string, string | undefined>();
  for (const level of levels) {
    const names = new Set<string>();
    for (const e of level) {
      if (!matchesMode(e, mode)) continue;
      for (const p of providerNames(e)) {
        names.add(p);
        filters.set(p, e.filter?.expression ? String(e.filter.expression) : undefined);
      }
    }
    if (names.size > 0) inScope = [...names];
  }
  const scope = new Set(inScope);
  const chosen = new Map<string, AccessLoggingSpec>();
  let parent = defaults;
  for (const level of levels) {
    for (const e of level) {
      const named = providerNames(e);
      const providers = named.length > 0 ? named : parent;
      parent = providers;
      if (!matchesMode(e, mode)) continue;
      for (const p of providers) {
        if (!scope.has(p)) continue;
        if (e.disabled === true) {
          chosen.delete(p);
          continue;
        }
        const filter = filters.get(p) ?? (e.filter?.expression ? String(e.filter.expression) : undefined);
        chosen.set(p, { providers: [p], mode, ...(filter ? { filter } : {}) });
      }
    }
  }
  return [...chosen.values()];
}
