/**
 * meshConfig's side of "accepted means enforced": which MeshConfig fields tsmesh honours, and
 * the warnings the control plane logs at start for those a mesh config sets (to a value other
 * than the default) that it does not. Same statuses as support.ts.
 */
import { defaultMeshConfig } from '../mesh.ts';
import { ERR } from '../errors.ts';
import type { MeshConfig, ValidationError } from '../types.ts';
import { describeGap, type Gap, type Support } from './support.ts';

const ENFORCED: Support = { status: 'enforced' };
const gap = (issue: number, reason: string): Support => ({ status: 'not_enforced', issue, reason });

const EXT_AUTHZ = ['envoyExtAuthzHttp', 'envoyExtAuthzGrpc'];

/** Keys are dotted MeshConfig paths; an entry covers the fields below it unless one is listed. */
export const MESH_SUPPORT: Readonly<Record<string, Support>> = {
  rootNamespace: ENFORCED,
  'outboundTrafficPolicy.mode': ENFORCED,
  discoverySelectors: ENFORCED,
  defaultHttpRetryPolicy: { status: 'enforced', note: 'with the same gaps as VirtualService retries' },
  enableAutoMtls: { status: 'enforced', note: 'mTLS to endpoints with a sidecar (tlsMode istio), plaintext to the rest' },
  trustDomain: { status: 'enforced', note: 'the SPIFFE identities the CA issues and mTLS checks' },
  trustDomainAliases: gap(9, 'peers with an identity in an alias trust domain are not accepted yet'),
  localityLbSetting: { status: 'enforced', note: 'for DestinationRules without their own localityLbSetting: distribute, failover, failoverPriority, enabled' },
  pathNormalization: { status: 'enforced', note: 'NONE, BASE (the default), MERGE_SLASHES, DECODE_AND_MERGE_SLASHES on every HTTP connection manager, before routing and authorization' },
  accessLogFile: ENFORCED,
  accessLogEncoding: ENFORCED,
  accessLogFormat: { status: 'enforced', note: 'unset: Istio\'s default text format (TEXT) or its JSON fields (JSON), emitted by the pilot' },
  enableTracing: {
    status: 'enforced',
    note: 'tsmesh defaults it to false where Istio defaults to true (so no proxy keeps resolving an unreachable zipkin.istio-system); set it true, or name a tracing provider in a Telemetry or defaultProviders.tracing, to trace: every HTTP connection manager then traces (Envoy\'s sampling and B3/W3C propagation) and reports to defaultConfig.tracing.zipkin.address unless the Telemetry API names a provider. `tsmesh demo` turns it on at 100% sampling, reporting to the control plane\'s embedded Zipkin collector',
  },
  'defaultConfig.tracing': gap(12, 'only the zipkin tracer is implemented (lightstep, datadog, stackdriver, openCensusAgent and tlsSettings are not)'),
  'defaultConfig.tracing.sampling': { status: 'enforced', note: 'random_sampling of every HCM (default 1%) unless a Telemetry sets randomSamplingPercentage' },
  'defaultConfig.tracing.zipkin': { status: 'enforced', note: 'address: the `zipkin` cluster (STATIC for an IP, STRICT_DNS for a name) that spans are POSTed to (Zipkin v2 JSON)' },
  'defaultConfig.tracing.customTags': { status: 'enforced', note: 'literal, environment and header tags' },
  'defaultConfig.tracing.maxPathTagLength': ENFORCED,
  'defaultConfig.gatewayTopology.numTrustedProxies': { status: 'enforced', note: 'gateways take the client address that many X-Forwarded-For hops back (remoteIpBlocks, remote.ip)' },
  defaultConfig: gap(15, 'proxies take their settings from `tsmesh proxy` flags, not from the mesh config (injection brings this)'),
  defaultProviders: { status: 'enforced', note: 'metrics, tracing and accessLogging (below): the providers for workloads no Telemetry resource decides for' },
  'defaultProviders.metrics': { status: 'enforced', note: 'metrics providers for workloads no Telemetry metrics applies to (Istio\'s default: prometheus)' },
  'defaultProviders.accessLogging': { status: 'enforced', note: 'access logging providers for workloads no Telemetry accessLogging applies to' },
  'defaultProviders.tracing': { status: 'enforced', note: 'zipkin and opentelemetry (OTLP/HTTP) providers' },
  extensionProviders: {
    status: 'enforced',
    note: 'envoyExtAuthzHttp and envoyExtAuthzGrpc: AuthorizationPolicy CUSTOM through Envoy\'s ext_authz (HTTP chains; TCP chains stay fail-closed); envoyFileAccessLog (path, logFormat text or labels): Telemetry access logging; prometheus: Telemetry metrics (Istio\'s standard metrics); zipkin and opentelemetry (OTLP/HTTP): tracing. Other kinds (datadog, lightstep, stackdriver, skywalking, the gRPC access-log services...) warn',
    gap: (v): Gap | undefined => {
      const p = v && typeof v === 'object' ? (v as Record<string, unknown>) : {};
      if (Object.keys(p).some((k) => EXT_AUTHZ.includes(k) || k === 'envoyFileAccessLog' || k === 'prometheus')) return undefined;
      const tracing = tracingProviderGap(p);
      if (tracing !== null) return tracing;
      const kinds = Object.keys(p).filter((k) => k !== 'name');
      return kinds.length ? { issue: 12, reason: `extension provider kind ${kinds.join(', ')} is not implemented (tsmesh has ext authz, envoyFileAccessLog, prometheus, zipkin and opentelemetry over HTTP)` } : undefined;
    },
  },
};

/**
 * Tracing providers (src/pilot/listener/tracing.ts): zipkin, and opentelemetry over OTLP/HTTP;
 * null when `p` is not a tracing provider tsmesh builds.
 */
function tracingProviderGap(p: Record<string, unknown>): Gap | undefined | null {
  const z = p.zipkin as Record<string, unknown> | undefined;
  if (z && typeof z === 'object') {
    return z.enable64bitTraceId === true ? { issue: 12, reason: 'zipkin.enable64bitTraceId: trace ids are 128-bit' } : undefined;
  }
  const o = p.opentelemetry as Record<string, unknown> | undefined;
  if (o && typeof o === 'object') {
    const http = o.http as Record<string, unknown> | undefined;
    if (!http || typeof http !== 'object') return { issue: 12, reason: 'opentelemetry over gRPC is not implemented: set `http` (OTLP/HTTP)' };
    if (http.headers) return { issue: 12, reason: 'opentelemetry.http.headers are not sent' };
    if (o.resourceDetectors || o.dynamicPatchSampler) return { issue: 12, reason: 'opentelemetry resourceDetectors and samplers are not implemented' };
    return undefined;
  }
  return null;
}

/** The entry for a path: its own or its nearest listed ancestor's. */
function supportOf(path: string): Support | undefined {
  for (let p = path; ; p = p.slice(0, p.lastIndexOf('.'))) {
    if (MESH_SUPPORT[p]) return MESH_SUPPORT[p];
    if (!p.includes('.')) return undefined;
  }
}

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

/** Warnings (TSMESH_ERR_UNSUPPORTED_FIELD) for every field the mesh config sets that tsmesh does not enforce. */
export function meshSupportWarnings(mesh: MeshConfig, file?: string): ValidationError[] {
  const defaults = defaultMeshConfig() as unknown as Record<string, unknown>;
  const out: ValidationError[] = [];
  const warn = (path: string, message: string) => out.push({ file, kind: 'MeshConfig', path, message, severity: 'warning', code: ERR.UNSUPPORTED_FIELD });
  const visit = (path: string, value: unknown, dflt: unknown) => {
    if (value === undefined || value === null || same(value, dflt)) return;
    // Descend where the table says something about a field below this one.
    if (value && typeof value === 'object' && !Array.isArray(value) && Object.keys(MESH_SUPPORT).some((k) => k.startsWith(`${path}.`))) {
      for (const [k, v] of Object.entries(value)) visit(`${path}.${k}`, v, (dflt as Record<string, unknown> | undefined)?.[k]);
      return;
    }
    const s = supportOf(path);
    if (!s) return warn(path, 'not read by tsmesh: this meshConfig field has no effect');
    if (s.status === 'not_enforced') return warn(path, describeGap(s));
    if (s.status === 'enforced' && s.gap) {
      for (const [i, item] of (Array.isArray(value) ? value : [value]).entries()) {
        const g = s.gap(item, []);
        if (g) warn(Array.isArray(value) ? `${path}[${i}]` : path, describeGap(g));
      }
    }
  };
  for (const [k, v] of Object.entries(mesh)) visit(k, v, defaults[k]);
  return out;
}
