/**
 * The shapes every folder agrees on for configuration: one Istio (or Kubernetes) object as it
 * was read, and the store that holds the valid ones. Owned by src/api; read by registry, pilot,
 * xds and cli.
 */

import type { ErrorCode } from './errors.ts';
import type { MeshNetworks } from './mesh_networks.ts';

/** The kinds tsmesh reads. Istio kinds plus the Kubernetes kinds Bookinfo's YAML is made of. */
export type IstioKind =
  | 'VirtualService'
  | 'DestinationRule'
  | 'Gateway'
  | 'ServiceEntry'
  | 'WorkloadEntry'
  | 'WorkloadGroup'
  | 'Sidecar'
  | 'PeerAuthentication'
  | 'AuthorizationPolicy'
  | 'RequestAuthentication'
  | 'Telemetry';
export type KubeKind = 'Service' | 'Deployment' | 'ServiceAccount' | 'Namespace' | 'Secret';
export type Kind = IstioKind | KubeKind;

export interface ObjectMeta {
  name: string;
  /** Always set once parsed: defaults to "default" like kubectl does. */
  namespace: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string;
}

/** Where a resource came from, so every error can name the file. */
export interface Origin {
  file?: string;
  /** 0-based index of the YAML document inside the file. */
  document?: number;
  /** 0-based index inside a `kind: List` document's items, when it came from one. */
  item?: number;
}

/**
 * One configuration object, as Kubernetes would hold it. `spec` keeps Istio's field names
 * (camelCase, as in the YAML) and is typed per kind where a consumer needs it.
 */
export interface Config<S = any> {
  apiVersion: string;
  kind: Kind;
  metadata: ObjectMeta;
  spec: S;
  origin?: Origin;
}

/** kind/namespace/name: the identity of a Config across versions. */
export function configKey(c: Pick<Config, 'kind' | 'metadata'>): string {
  return `${c.kind}/${c.metadata.namespace}/${c.metadata.name}`;
}

/** One problem with one resource. `path` is a field path like `spec.http[0].route[1].weight`. */
export interface ValidationError {
  file?: string;
  kind?: string;
  namespace?: string;
  name?: string;
  path: string;
  message: string;
  /** 1-based line in `file` where the offending field (or document) starts, when known. */
  line?: number;
  /** 1-based column of `line`, where known precisely (YAML syntax errors). */
  column?: number;
  /** Stable code (TSMESH_ERR_*) that users and tests match on; set on every error. */
  code?: ErrorCode;
  /** Errors (the default) reject the resource; warnings are reported and the resource is kept. */
  severity?: 'error' | 'warning';
}

/** True unless the problem is only a warning. */
export function isError(e: ValidationError): boolean {
  return e.severity !== 'warning';
}

/**
 * Human-readable single line: `file:line[:col]: Kind ns/name: spec.x.y: reason [CODE]`
 * (`warning: ` first for warnings).
 */
export function formatValidationError(e: ValidationError): string {
  const level = e.severity === 'warning' ? 'warning: ' : '';
  const pos = e.line ? `:${e.line}${e.column ? `:${e.column}` : ''}` : '';
  const where = e.file ? `${level}${e.file}${pos}: ` : level;
  // Cluster-scoped objects (Namespace) carry namespace "" and print as just their name.
  const ns = e.namespace ?? 'default';
  const what = e.kind ? `${e.kind} ${ns ? ns + '/' : ''}${e.name ?? '?'}: ` : '';
  return `${where}${what}${e.path ? e.path + ': ' : ''}${e.message}${e.code ? ` [${e.code}]` : ''}`;
}

export type ConfigEventType = 'add' | 'update' | 'delete';
export interface ConfigEvent {
  type: ConfigEventType;
  config: Config;
  /** The previous version, for updates and deletes. */
  old?: Config;
}

/**
 * The store of valid configuration (Istio's ConfigStoreController). Backends: memory, a watched
 * directory tree, and later Kubernetes. Invalid documents never enter it; the last good version
 * of a resource keeps serving and the rejection is reported through `errors()` and `onErrors`.
 */
export interface ConfigStore {
  list(kind: Kind, namespace?: string): Config[];
  get(kind: Kind, name: string, namespace: string): Config | undefined;
  /** Every valid resource of every kind. */
  all(): Config[];
  /** Called for each change after it is applied. Returns an unsubscribe function. */
  watch(handler: (events: ConfigEvent[]) => void): () => void;
  /** Problems with the input currently on disk (or last applied), one per error. */
  errors(): ValidationError[];
  onErrors?(handler: (errors: ValidationError[]) => void): () => void;
}

/** The meshConfig fields tsmesh honours (Istio's MeshConfig names). */
export interface MeshConfig {
  trustDomain: string;
  rootNamespace: string;
  defaultConfig?: {
    discoveryAddress?: string;
    proxyMetadata?: Record<string, string>;
    holdApplicationUntilProxyStarts?: boolean;
    /** Gateways: how many proxies in front of them append X-Forwarded-For (numTrustedProxies). */
    gatewayTopology?: { numTrustedProxies?: number };
    [k: string]: unknown;
  };
  outboundTrafficPolicy: { mode: 'ALLOW_ANY' | 'REGISTRY_ONLY' };
  discoverySelectors?: Array<{ matchLabels?: Record<string, string>; matchExpressions?: Array<{ key: string; operator: string; values?: string[] }> }>;
  enableAutoMtls: boolean;
  accessLogFile?: string;
  accessLogEncoding?: 'TEXT' | 'JSON';
  /** Envoy format string (TEXT) or a JSON object of fields (JSON); Envoy's default format when unset. */
  accessLogFormat?: string;
  enableTracing?: boolean;
  extensionProviders?: Array<Record<string, unknown> & { name: string }>;
  defaultProviders?: { tracing?: string[]; metrics?: string[]; accessLogging?: string[] };
  /** The localityLbSetting of DestinationRules that set none (Istio's LocalityLoadBalancerSetting). */
  localityLbSetting?: Record<string, any>;
  /** How request paths are normalized before routing and authorization; BASE when unset (DEFAULT). */
  pathNormalization?: { normalization?: PathNormalization };
  /**
   * tsmesh, not Istio: false leaves outbound clusters without the default retry budget (Istio's
   * behaviour: only max_retries bounds retries). Set by `tsmesh controlplane --retry-budget off`
   * or TSMESH_RETRY_BUDGET=off; unset means on.
   */
  defaultRetryBudget?: boolean;
  /** Istio's MeshNetworks (read beside the mesh config, src/api/mesh_networks.ts): networks and their gateways. */
  meshNetworks?: MeshNetworks;
}

/** meshConfig.pathNormalization.normalization (Istio's ProxyPathNormalization). */
export type PathNormalization = 'DEFAULT' | 'NONE' | 'BASE' | 'MERGE_SLASHES' | 'DECODE_AND_MERGE_SLASHES';
