/**
 * AuthorizationPolicy CUSTOM → Envoy's ext_authz, as Istio's authz builder (extauthz.go) does:
 * the CUSTOM rules go into an rbac filter as shadow rules (never enforced) named
 * `istio-ext-authz-ns[<ns>]-policy[<name>]-rule[<i>]` with stat prefix `istio_ext_authz_`, so a
 * request they match carries `istio_ext_authz_shadow_effective_policy_id` in its dynamic
 * metadata; the ext_authz filter after it asks the provider only about those requests
 * (filter_enabled_metadata). The provider is a meshConfig.extensionProviders entry,
 * envoyExtAuthzHttp or envoyExtAuthzGrpc, reached through the outbound cluster of its service.
 *
 * A provider that is missing, invalid or resolves to no service of the mesh, or CUSTOM policies
 * naming different providers for one workload, leave the policies fail-closed: index.ts then denies what their rules match,
 * and customPolicyProblems() says why.
 */
import type { Config } from '../../api/types.ts';
import type { EnvoyJson } from '../../xds/types.ts';
import { HTTP_FILTER } from '../../xds/type_urls.ts';
import { extAuthzPort, extAuthzProviderProblems, type ExtAuthzKind } from '../../api/mesh.ts';
import { envoyDuration } from '../../api/duration.ts';
import type { PushContext } from '../types.ts';
import { clusterName } from '../cluster/name.ts';

export const EXT_AUTHZ_HTTP_FILTER = 'envoy.filters.http.ext_authz';
export const EXT_AUTHZ_POLICY_PREFIX = 'istio-ext-authz';
export const EXT_AUTHZ_SHADOW_STAT_PREFIX = 'istio_ext_authz_';
const RBAC_HTTP_FILTER = 'envoy.filters.http.rbac';
/** Istio's default when the provider sets no timeout. */
const DEFAULT_TIMEOUT = '600s';

export interface CustomPlan {
  /** The ext_authz HTTP filter for the provider the usable policies name. */
  filter?: EnvoyJson;
  usable: Config[];
  /** Policies kept fail-closed, each with why. */
  failClosed: Array<{ policy: Config; reason: string }>;
}

function providerName(c: Config): string {
  return String(c.spec?.provider?.name ?? '');
}

/** `ns/host` or `host` → the mesh service's hostname (Istio's extensionproviders.LookupCluster). */
function lookupService(push: PushContext, service: string, port: number): { hostname: string } | { error: string } {
  const parts = service.split('/');
  const candidates =
    parts.length === 2
      ? push.services.filter((s) => s.namespace === parts[0] && (s.hostname === parts[1] || s.name === parts[1]))
      : push.services.filter((s) => s.hostname === service);
  if (candidates.length === 0) return { error: parts.length === 2 ? `no service ${parts[1]} in namespace ${parts[0]}` : `no service with hostname ${service}` };
  const namespaces = [...new Set(candidates.map((s) => s.namespace))].sort();
  if (namespaces.length > 1) return { error: `${service} is in several namespaces (${namespaces.join(', ')}): name it as <namespace>/<hostname>` };
  const svc = candidates[0]!;
  if (!svc.ports.some((p) => p.port === port)) return { error: `service ${svc.hostname} has no port ${port}` };
  return { hostname: svc.hostname };
}

/** Istio's generateHeaders: exact, `x-*` prefix or `*-id` suffix, case-insensitive. */
function headerPatterns(list: unknown): EnvoyJson | undefined {
  if (!Array.isArray(list) || list.length === 0) return undefined;
  return {
    patterns: (list as string[]).map((h) => {
      if (h.startsWith('*')) return { suffix: h.slice(1), ignore_case: true };
      if (h.endsWith('*')) return { prefix: h.slice(0, -1), ignore_case: true };
      return { exact: h, ignore_case: true };
    }),
  };
}

function filterEnabledMetadata(): EnvoyJson {
  return { filter: RBAC_HTTP_FILTER, path: [{ key: `${EXT_AUTHZ_SHADOW_STAT_PREFIX}shadow_effective_policy_id` }], value: { string_match: { prefix: EXT_AUTHZ_POLICY_PREFIX } } };
}

/** The ext_authz filter for one provider, or why it cannot be built. */
export function buildExtAuthzFilter(push: PushContext, name: string): { filter: EnvoyJson } | { error: string } {
  const providers = push.mesh.extensionProviders ?? [];
  const entry = providers.find((p) => p?.name === name);
  if (!entry) return { error: `extension provider "${name}" is not in meshConfig.extensionProviders (${providers.length ? `available: ${providers.map((p) => p.name).join(', ')}` : 'none defined'})` };
  const kind: ExtAuthzKind | undefined = entry.envoyExtAuthzHttp ? 'envoyExtAuthzHttp' : entry.envoyExtAuthzGrpc ? 'envoyExtAuthzGrpc' : undefined;
  if (!kind) return { error: `extension provider "${name}" is not an external authorizer (envoyExtAuthzHttp or envoyExtAuthzGrpc)` };
  const p = entry[kind] as Record<string, any>;
  const problems = extAuthzProviderProblems(kind, p);
  if (problems.length) return { error: `extension provider "${name}": ${problems.map((e) => `${kind}.${e.field}: ${e.message}`).join('; ')}` };
  const port = extAuthzPort(p.port)!;
  const svc = lookupService(push, String(p.service), port);
  if ('error' in svc) return { error: `extension provider "${name}": ${kind}.service: ${svc.error}` };
  const cluster = clusterName('outbound', port, undefined, svc.hostname);
  const timeout = p.timeout ? envoyDuration(p.timeout) : DEFAULT_TIMEOUT;
  const cfg: EnvoyJson = { '@type': HTTP_FILTER.EXT_AUTHZ, transport_api_version: 'V3', filter_enabled_metadata: filterEnabledMetadata() };
  if (p.failOpen === true) cfg.failure_mode_allow = true;
  const body = p.includeRequestBodyInCheck as Record<string, unknown> | undefined;
  if (body) {
    cfg.with_request_body = { max_request_bytes: Number(body.maxRequestBytes) };
    if (body.allowPartialMessage === true) cfg.with_request_body.allow_partial_message = true;
    if (body.packAsBytes === true) cfg.with_request_body.pack_as_bytes = true;
  }
  if (p.statusOnError) cfg.status_on_error = { code: Number(p.statusOnError) };
  if (kind === 'envoyExtAuthzGrpc') {
    // `|` is not valid in an :authority; Istio rewrites the cluster name as the authority.
    cfg.grpc_service = { envoy_grpc: { cluster_name: cluster, authority: cluster.replaceAll('|', '_.') }, timeout };
  } else {
    const service: EnvoyJson = { server_uri: { uri: `http://${svc.hostname}`, cluster, timeout } };
    if (p.pathPrefix) service.path_prefix = p.pathPrefix;
    const allowed = headerPatterns(p.includeRequestHeadersInCheck) ?? headerPatterns(p.includeHeadersInCheck);
    const extra = Object.entries((p.includeAdditionalHeadersInCheck ?? {}) as Record<string, string>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    if (allowed || extra.length) {
      service.authorization_request = {};
      if (allowed) service.authorization_request.allowed_headers = allowed;
      if (extra.length) service.authorization_request.headers_to_add = extra.map(([key, value]) => ({ key, value }));
    }
    const up = headerPatterns(p.headersToUpstreamOnAllow);
    const deny = headerPatterns(p.headersToDownstreamOnDeny);
    const allow = headerPatterns(p.headersToDownstreamOnAllow);
    if (up || deny || allow) {
      service.authorization_response = {};
      if (up) service.authorization_response.allowed_upstream_headers = up;
      if (deny) service.authorization_response.allowed_client_headers = deny;
      if (allow) service.authorization_response.allowed_client_headers_on_success = allow;
    }
    cfg.http_service = service;
  }
  return { filter: { name: EXT_AUTHZ_HTTP_FILTER, typed_config: cfg } };
}

/**
 * Splits a workload's enforced CUSTOM policies into those ext_authz serves and those that stay
 * fail-closed. One provider per workload, as Istio requires: policies naming several providers
 * all stay fail-closed.
 */
export function planCustom(push: PushContext, custom: Config[]): CustomPlan {
  if (custom.length === 0) return { usable: [], failClosed: [] };
  const names = [...new Set(custom.map(providerName))].sort();
  if (names.length > 1) {
    const reason = `CUSTOM policies for one workload must name one provider; found ${names.map((n) => `"${n}"`).join(', ')}`;
    return { usable: [], failClosed: custom.map((policy) => ({ policy, reason })) };
  }
  const built = buildExtAuthzFilter(push, names[0]!);
  if ('error' in built) return { usable: [], failClosed: custom.map((policy) => ({ policy, reason: built.error })) };
  return { filter: built.filter, usable: custom, failClosed: [] };
}

/** The shadow-rules rbac filter that marks the requests the usable CUSTOM policies match. */
export function extAuthzRbacFilter(shadowRules: EnvoyJson): EnvoyJson {
  return { name: RBAC_HTTP_FILTER, typed_config: { '@type': HTTP_FILTER.RBAC, shadow_rules: shadowRules, shadow_rules_stat_prefix: EXT_AUTHZ_SHADOW_STAT_PREFIX } };
}
