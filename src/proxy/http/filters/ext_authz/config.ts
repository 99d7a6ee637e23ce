/**
 * ExtAuthz (envoy.extensions.filters.http.ext_authz.v3) compiled once per HCM config: which
 * service answers (an HTTP server_uri or an envoy_grpc cluster), what goes into the check and
 * what comes back from it, failure handling and the metadata gate. Anything the filter would not
 * honour throws naming the field, so the listener is NACKed rather than the check weakened.
 */
import type { EnvoyJson } from '../../../../xds/types.ts';
import { envoyRoot } from '../../../../xds/protos.ts';
import { durationMs } from '../../../duration.ts';
import { compileStringMatcher, type StringPredicate } from '../../common/string_matcher.ts';
import { compileMetadataMatcher, type MetadataPredicate } from '../../../rbac/value_matcher.ts';

/** Envoy's default check timeout when the service sets none (ext_authz.cc DefaultTimeout). */
const DEFAULT_TIMEOUT_MS = 200;

/** A header-name predicate (ListStringMatcher); names are lower case. */
export type NamePredicate = (name: string) => boolean;

export interface HttpServiceConfig {
  kind: 'http';
  cluster: string;
  timeoutMs: number;
  pathPrefix: string;
  /** Request headers copied into the check (configured ones plus authorization, :method, :path, :authority). */
  allowedHeaders: NamePredicate;
  headersToAdd: ReadonlyArray<readonly [string, string]>;
  /** On OK: check-response headers that replace / are appended to the upstream request's. */
  upstream: NamePredicate;
  upstreamAppend: NamePredicate;
  /** On deny: check-response headers sent to the client (all but Host when unset). */
  client: NamePredicate;
  /** On OK: check-response headers added to the client's response. */
  clientOnSuccess: NamePredicate;
}

export interface GrpcServiceConfig {
  kind: 'grpc';
  cluster: string;
  /** :authority of the Check call (envoy_grpc.authority, else the cluster name, as Envoy). */
  authority: string;
  timeoutMs: number;
}

export interface ExtAuthzConfig {
  service: HttpServiceConfig | GrpcServiceConfig;
  failureModeAllow: boolean;
  failureModeAllowHeaderAdd: boolean;
  statusOnError: number;
  clearRouteCache: boolean;
  /** Unset: every request is checked. */
  enabledMetadata?: MetadataPredicate;
  /** `<stat_prefix>.` or '' (Envoy's ext_authz.<stat_prefix>.ok). */
  statPrefix: string;
  /** with_request_body: the check waits for the body (up to maxBytes) and carries it. */
  withBody?: BufferSettings;
}

export interface BufferSettings {
  maxBytes: number;
  /** Over maxBytes: check with the first maxBytes (true) or answer 413 (false). */
  allowPartial: boolean;
  /** gRPC: the body as raw_body bytes instead of a UTF-8 string. */
  packAsBytes: boolean;
}

const cache = new WeakMap<EnvoyJson, ExtAuthzConfig>();

const ANY_OF = (ps: StringPredicate[]): NamePredicate => (ps.length === 0 ? () => false : (n) => ps.some((p) => p(n)));

function listMatcher(l: EnvoyJson | undefined, path: string): StringPredicate[] {
  if (l === undefined || l === null) return [];
  const patterns = (l.patterns ?? []) as EnvoyJson[];
  return patterns.map((p, i) => compileStringMatcher(p, `${path}.patterns[${i}]`));
}

function rejectSet(c: EnvoyJson, fields: string[], path: string): void {
  for (const f of fields) {
    const v = c[f];
    if (v === undefined || v === null || v === false || v === '' || (Array.isArray(v) && v.length === 0)) continue;
    throw new Error(`${path}.${f}: not supported by the ext_authz filter`);
  }
}

/** HttpStatus.code as a number (JSON from the wire carries the number, YAML may carry Envoy's enum name). */
export function httpStatusCode(s: EnvoyJson | undefined, dflt: number, path: string): number {
  const code = s?.code;
  if (code === undefined || code === null || code === 0 || code === 'Empty') return dflt;
  if (typeof code === 'number' && code >= 100 && code <= 599) return code;
  if (typeof code === 'string') {
    const n = envoyRoot().lookupEnum('.envoy.type.v3.StatusCode').values[code];
    if (n !== undefined && n >= 100) return n;
  }
  throw new Error(`${path}.code: ${JSON.stringify(code)} is not an HTTP status`);
}

function httpService(s: EnvoyJson, path: string): HttpServiceConfig {
  rejectSet(s, ['path_override', 'method_override', 'retry_policy'], path);
  const uri = s.server_uri;
  if (!uri || typeof uri.cluster !== 'string' || uri.cluster === '') throw new Error(`${path}.server_uri.cluster: required`);
  if (typeof uri.uri !== 'string' || uri.uri === '') throw new Error(`${path}.server_uri.uri: required`);
  const timeoutMs = durationMs(uri.timeout);
  if (timeoutMs === undefined) throw new Error(`${path}.server_uri.timeout: required`);
  const prefix = String(s.path_prefix ?? '');
  if (prefix && !prefix.startsWith('/')) throw new Error(`${path}.path_prefix: must start with "/", got ${JSON.stringify(prefix)}`);
  const req = s.authorization_request ?? {};
  rejectSet(req, ['allowed_headers_to_remove'], `${path}.authorization_request`);
  const allowed = listMatcher(req.allowed_headers, `${path}.authorization_request.allowed_headers`);
  const always = new Set(['authorization', ':method', ':path', ':authority', 'host']);
  const headersToAdd = ((req.headers_to_add ?? []) as EnvoyJson[]).map((h, i): readonly [string, string] => {
    if (typeof h?.key !== 'string' || h.key === '') throw new Error(`${path}.authorization_request.headers_to_add[${i}].key: required`);
    return [h.key.toLowerCase(), String(h.value ?? (h.raw_value ? Buffer.from(h.raw_value).toString() : ''))];
  });
  const res = s.authorization_response ?? {};
  rejectSet(res, ['dynamic_metadata_from_headers'], `${path}.authorization_response`);
  const client = listMatcher(res.allowed_client_headers, `${path}.authorization_response.allowed_client_headers`);
  // Envoy's toClientMatchers: unset means every header but Host; set adds :status, content-length,
  // www-authenticate and location to the list.
  const clientDefaults = new Set([':status', 'content-length', 'www-authenticate', 'location']);
  return {
    kind: 'http',
    cluster: uri.cluster,
    timeoutMs,
    pathPrefix: prefix,
    allowedHeaders: (n) => always.has(n) || allowed.some((p) => p(n)),
    headersToAdd,
    upstream: ANY_OF(listMatcher(res.allowed_upstream_headers, `${path}.authorization_response.allowed_upstream_headers`)),
    upstreamAppend: ANY_OF(listMatcher(res.allowed_upstream_headers_to_append, `${path}.authorization_response.allowed_upstream_headers_to_append`)),
    client: client.length === 0 ? (n) => n !== 'host' && n !== ':authority' : (n) => clientDefaults.has(n) || client.some((p) => p(n)),
    clientOnSuccess: ANY_OF(listMatcher(res.allowed_client_headers_on_success, `${path}.authorization_response.allowed_client_headers_on_success`)),
  };
}

function grpcService(s: EnvoyJson, path: string): GrpcServiceConfig {
  if (s.google_grpc !== undefined) throw new Error(`${path}.google_grpc: not supported (use envoy_grpc: the check goes through one of the proxy's clusters)`);
  rejectSet(s, ['initial_metadata', 'retry_policy'], path);
  const eg = s.envoy_grpc;
  if (!eg || typeof eg.cluster_name !== 'string' || eg.cluster_name === '') throw new Error(`${path}.envoy_grpc.cluster_name: required`);
  rejectSet(eg, ['retry_policy', 'max_receive_message_length', 'skip_envoy_headers'], `${path}.envoy_grpc`);
  return {
    kind: 'grpc',
    cluster: eg.cluster_name,
    authority: typeof eg.authority === 'string' && eg.authority ? eg.authority : eg.cluster_name,
    timeoutMs: durationMs(s.timeout) ?? DEFAULT_TIMEOUT_MS,
  };
}

/** Compiles (and caches) one ExtAuthz config; throws naming the field on anything not honoured. */
export function compileExtAuthz(c: EnvoyJson, path = 'ExtAuthz'): ExtAuthzConfig {
  const hit = cache.get(c);
  if (hit) return hit;
  rejectSet(
    c,
    [
      'metadata_context_namespaces',
      'typed_metadata_context_namespaces',
      'route_metadata_context_namespaces',
      'route_typed_metadata_context_namespaces',
      'filter_enabled',
      'deny_at_disable',
      'bootstrap_metadata_labels_key',
      'allowed_headers',
      'disallowed_headers',
      'include_tls_session',
      'include_peer_certificate',
      'encode_raw_headers',
      'decoder_header_mutation_rules',
      'validate_mutations',
    ],
    path,
  );
  const v = c.transport_api_version;
  if (v !== undefined && v !== 0 && v !== 2 && v !== 'V3' && v !== 'AUTO') throw new Error(`${path}.transport_api_version: only V3 is supported, got ${JSON.stringify(v)}`);
  let service: ExtAuthzConfig['service'];
  if (c.http_service && c.grpc_service) throw new Error(`${path}: set one of http_service, grpc_service`);
  if (c.http_service) service = httpService(c.http_service, `${path}.http_service`);
  else if (c.grpc_service) service = grpcService(c.grpc_service, `${path}.grpc_service`);
  else throw new Error(`${path}: one of http_service, grpc_service is required`);
  const out: ExtAuthzConfig = {
    service,
    failureModeAllow: c.failure_mode_allow === true,
    failureModeAllowHeaderAdd: c.failure_mode_allow_header_add === true,
    statusOnError: httpStatusCode(c.status_on_error, 403, `${path}.status_on_error`),
    clearRouteCache: c.clear_route_cache === true,
    enabledMetadata: c.filter_enabled_metadata ? compileMetadataMatcher(c.filter_enabled_metadata, `${path}.filter_enabled_metadata`) : undefined,
    statPrefix: typeof c.stat_prefix === 'string' && c.stat_prefix ? `${c.stat_prefix}.` : '',
  };
  if (c.with_request_body) {
    const b = c.with_request_body;
    const max = Number(b.max_request_bytes ?? 0);
    if (!Number.isInteger(max) || max <= 0) throw new Error(`${path}.with_request_body.max_request_bytes: must be greater than 0, got ${JSON.stringify(b.max_request_bytes)}`);
    out.withBody = { maxBytes: max, allowPartial: b.allow_partial_message === true, packAsBytes: b.pack_as_bytes === true };
  }
  cache.set(c, out);
  return out;
}
