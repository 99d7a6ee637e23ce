/**
 * Decodes and validates each xDS resource type once, into what the proxy applies (grpc-js-xds
 * style: one decoder per type, `{valid: true, result}` or `{valid: false, errors}`): the schema
 * check was done by src/xds/codec.ts; here every set field is checked against the support table
 * (unsupported -> error naming the field path), then what Envoy would reject when applying
 * (unknown cluster type or lb_policy, missing endpoints, duplicate virtual host domains...), and
 * routes and listeners are compiled/built, so nothing that cannot compile is ACKed. Messages
 * name the resource and the field path; the config manager puts every message of one response
 * into one NACK.
 */
import { isIP } from 'node:net';
import type { EnvoyJson } from '../../xds/types.ts';
import { effectiveLbPolicy, loadBalancerFactory } from '../upstream/load_balancer.ts';
import { DOWNSTREAM_TLS, RAW_BUFFER, UPSTREAM_TLS } from '../tls/tls_context.ts';
import { compileSanMatchers } from '../tls/san_matcher.ts';
import { isDynamicForwardProxyCluster, validateDynamicForwardProxyCluster } from '../upstream/dynamic_forward_proxy_cluster.ts';
import '../upstream/least_request.ts';
import { ERR } from '../../api/errors.ts';
import { RESOURCE, TYPE_URL_PREFIX } from '../../xds/type_urls.ts';
import { compileRouteConfig, type CompiledRouteConfig } from '../http/router/route_config.ts';
import { walkResource, type FieldFinding } from './support_walker.ts';
import { ringHashConfig } from '../upstream/ring_hash.ts';
import { maglevTableSize } from '../upstream/maglev.ts';
import { validateHealthChecks } from '../upstream/health_checker.ts';
import { validateOutlierDetection } from '../upstream/outlier_detection.ts';

const CLUSTER_TYPES = new Set(['STATIC', 'EDS', 'STRICT_DNS', 'LOGICAL_DNS', 'ORIGINAL_DST']);

function checkTransportSocket(ts: EnvoyJson | undefined, allowed: string, path: string, errs: string[]): void {
  const t = ts?.typed_config?.['@type'];
  if (ts && t !== allowed && t !== RAW_BUFFER) errs.push(`${path}.typed_config: unsupported transport socket ${t ?? '(none)'}`);
  if (t !== allowed) return;
  // SAN matchers compile now (a bad regex NACKs), not at the first handshake.
  const common = ts!.typed_config.common_tls_context ?? {};
  const contexts: [EnvoyJson | undefined, string][] = [
    [common.validation_context, `${path}.typed_config.common_tls_context.validation_context`],
    [common.combined_validation_context?.default_validation_context, `${path}.typed_config.common_tls_context.combined_validation_context.default_validation_context`],
  ];
  for (const [vc, at] of contexts) {
    try {
      compileSanMatchers(vc, at);
    } catch (e) {
      errs.push((e as Error).message);
    }
  }
}

function checkClusterTransportSockets(c: EnvoyJson, at: string, errs: string[]): void {
  checkTransportSocket(c.transport_socket, UPSTREAM_TLS, `${at}.transport_socket`, errs);
  ((c.transport_socket_matches ?? []) as EnvoyJson[]).forEach((m, i) => {
    const p = `${at}.transport_socket_matches[${i}]`;
    if (!m.name) errs.push(`${p}.name: required`);
    if (!m.transport_socket) errs.push(`${p}.transport_socket: required`);
    checkTransportSocket(m.transport_socket, UPSTREAM_TLS, `${p}.transport_socket`, errs);
  });
}

export function validateCluster(c: EnvoyJson): string[] {
  const errs: string[] = [];
  const at = `cluster ${c.name ?? '(unnamed)'}`;
  if (!c.name) errs.push(`${at}: name is required`);
  if (c.cluster_type) {
    if (!isDynamicForwardProxyCluster(c)) return [...errs, `${at}.cluster_type: custom cluster type ${c.cluster_type.name ?? ''} is not supported`];
    errs.push(...validateDynamicForwardProxyCluster(c, at));
    checkClusterTransportSockets(c, at, errs);
    return errs;
  }
  const type = c.type ?? 'STATIC';
  if (!CLUSTER_TYPES.has(type)) errs.push(`${at}.type: unsupported cluster type ${type}`);
  const lb = effectiveLbPolicy(c);
  if (type === 'ORIGINAL_DST') {
    if (lb !== 'CLUSTER_PROVIDED' && c.lb_policy !== undefined) errs.push(`${at}.lb_policy: ${lb} is not valid for cluster type ORIGINAL_DST (use CLUSTER_PROVIDED)`);
  } else if (lb === 'CLUSTER_PROVIDED') errs.push(`${at}.lb_policy: CLUSTER_PROVIDED is only valid for ORIGINAL_DST and dynamic forward proxy clusters`);
  else if (!loadBalancerFactory(lb)) errs.push(`${at}.lb_policy: unsupported load balancing policy ${lb}`);
  else if (lb === 'RING_HASH') {
    const r = ringHashConfig(c);
    if (typeof r === 'string') errs.push(`${at}.ring_hash_lb_config: ${r}`);
  } else if (lb === 'MAGLEV') {
    const r = maglevTableSize(c);
    if (typeof r === 'string') errs.push(`${at}.maglev_lb_config: ${r}`);
  }
  const endpoints: EnvoyJson[] = (c.load_assignment?.endpoints ?? []).flatMap((l: EnvoyJson) => l.lb_endpoints ?? []);
  endpoints.forEach((e, i) => {
    // A Unix socket (Istio's sds-grpc cluster: the agent's SDS socket), dialled by the SDS stream.
    const pipe = e.endpoint?.address?.pipe;
    if (pipe) {
      if (!pipe.path) errs.push(`${at}.load_assignment.endpoints.lb_endpoints[${i}].endpoint.address.pipe.path: required`);
      if (type !== 'STATIC') errs.push(`${at}.type: pipe endpoints need a STATIC cluster, got ${type}`);
      return;
    }
    const sa = e.endpoint?.address?.socket_address;
    const p = `${at}.load_assignment.endpoints.lb_endpoints[${i}].endpoint.address.socket_address`;
    if (!sa?.address) errs.push(`${p}.address: required`);
    else if (type === 'STATIC' && !isIP(sa.address)) errs.push(`${p}.address: STATIC clusters need IP addresses, got ${sa.address}`);
    if (type !== 'ORIGINAL_DST' && !(Number(sa?.port_value) > 0)) errs.push(`${p}.port_value: required`);
  });
  if (type === 'EDS' && !c.eds_cluster_config) errs.push(`${at}.eds_cluster_config: required for EDS clusters`);
  if ((type === 'STRICT_DNS' || type === 'LOGICAL_DNS') && endpoints.length === 0) errs.push(`${at}.load_assignment: ${type} clusters need at least one endpoint`);
  if (type === 'LOGICAL_DNS' && endpoints.length > 1) errs.push(`${at}.load_assignment: LOGICAL_DNS clusters take exactly one endpoint`);
  checkClusterTransportSockets(c, at, errs);
  errs.push(...validateHealthChecks(c, at), ...validateOutlierDetection(c, at));
  const bind = c.upstream_bind_config?.source_address;
  if (c.upstream_bind_config && !isIP(String(bind?.address ?? ''))) errs.push(`${at}.upstream_bind_config.source_address.address: must be an IP address, got ${JSON.stringify(bind?.address)}`);
  return errs;
}

export function validateEndpoints(cla: EnvoyJson): string[] {
  const errs: string[] = [];
  const at = `ClusterLoadAssignment ${cla.cluster_name ?? '(unnamed)'}`;
  if (!cla.cluster_name) errs.push(`${at}: cluster_name is required`);
  (cla.endpoints ?? []).forEach((l: EnvoyJson, i: number) =>
    (l.lb_endpoints ?? []).forEach((e: EnvoyJson, j: number) => {
      const sa = e.endpoint?.address?.socket_address;
      const p = `${at}.endpoints[${i}].lb_endpoints[${j}].endpoint.address.socket_address`;
      if (!sa?.address || !isIP(sa.address)) errs.push(`${p}.address: must be an IP address, got ${JSON.stringify(sa?.address)}`);
      if (!(Number(sa?.port_value) > 0)) errs.push(`${p}.port_value: required`);
    }),
  );
  return errs;
}

export function validateRoute(rc: EnvoyJson): string[] {
  const errs: string[] = [];
  const at = `RouteConfiguration ${rc.name ?? '(unnamed)'}`;
  if (rc.name === undefined) errs.push(`${at}: name is required`);
  const names = new Set<string>();
  const domains = new Map<string, string>();
  (rc.virtual_hosts ?? []).forEach((vh: EnvoyJson, i: number) => {
    const p = `${at}.virtual_hosts[${i}]`;
    if (!vh.name) errs.push(`${p}.name: required`);
    else if (names.has(vh.name)) errs.push(`${p}.name: duplicate virtual host name ${vh.name}`);
    names.add(vh.name);
    if (!vh.domains?.length) errs.push(`${p}.domains: at least one domain is required`);
    for (const d of vh.domains ?? []) {
      const k = String(d).toLowerCase();
      if (domains.has(k)) errs.push(`${p}.domains: domain ${d} is also in virtual host ${domains.get(k)}`);
      domains.set(k, vh.name);
    }
  });
  return errs;
}

export function validateListenerShape(l: EnvoyJson): string[] {
  const errs: string[] = [];
  const at = `listener ${l.name ?? '(unnamed)'}`;
  if (!l.name) errs.push(`${at}: name is required`);
  if (!l.address?.socket_address) errs.push(`${at}.address.socket_address: required`);
  if (!l.filter_chains?.length && !l.default_filter_chain) errs.push(`${at}.filter_chains: a listener needs a filter chain`);
  (l.filter_chains ?? []).forEach((fc: EnvoyJson, i: number) => checkTransportSocket(fc.transport_socket, DOWNSTREAM_TLS, `${at}.filter_chains[${i}].transport_socket`, errs));
  return errs;
}

export function validateSecret(s: EnvoyJson): string[] {
  const at = `secret ${s.name ?? '(unnamed)'}`;
  if (!s.name) return [`${at}: name is required`];
  if (!s.tls_certificate && !s.validation_context && !s.generic_secret && !s.session_ticket_keys) return [`${at}: one of tls_certificate, validation_context, generic_secret is required`];
  return [];
}

// ---------- decoders ----------

export type Decoded<T> = { valid: true; result: T; ignored: FieldFinding[] } | { valid: false; errors: string[] };

/** What decoding needs from the running proxy (listener builds read clusters, secrets, routes). */
export interface DecodeContext {
  buildListener(l: EnvoyJson): unknown;
}

export interface ResourceDecoder<T = unknown> {
  /** Full proto message name. */
  message: string;
  /** How messages name the resource, e.g. "cluster" or "RouteConfiguration". */
  kind: string;
  name(r: EnvoyJson): string | undefined;
  decode(r: EnvoyJson, ctx: DecodeContext): Decoded<T>;
}

const messageOf = (typeUrl: string): string => typeUrl.slice(TYPE_URL_PREFIX.length);

/** Splits walker findings into NACK errors and fields to count and log. */
function support(message: string, r: EnvoyJson, at: string): { errors: string[]; ignored: FieldFinding[] } {
  const errors: string[] = [];
  const ignored: FieldFinding[] = [];
  for (const f of walkResource(message, r)) {
    if (f.support === 'unsupported') errors.push(`${at}.${f.path}: ${f.reason} [${ERR.UNSUPPORTED_FIELD}]`);
    else ignored.push(f);
  }
  return { errors, ignored };
}

function decoder<T>(typeUrl: string, kind: string, name: (r: EnvoyJson) => string | undefined, check: (r: EnvoyJson, at: string, ctx: DecodeContext) => { errors: string[]; result?: T }): ResourceDecoder<T> {
  const message = messageOf(typeUrl);
  return {
    message,
    kind,
    name,
    decode(r, ctx) {
      const at = `${kind} ${name(r) ?? '(unnamed)'}`;
      const s = support(message, r, at);
      // Compile only what the table accepts: an unsupported field must not half-apply.
      const c = s.errors.length ? { errors: [] as string[] } : check(r, at, ctx);
      const errors = [...s.errors, ...c.errors];
      return errors.length ? { valid: false, errors } : { valid: true, result: c.result as T, ignored: s.ignored };
    },
  };
}

const thrown = (at: string, e: unknown): string => {
  const m = (e as Error).message;
  return m.startsWith(at) ? m : `${at}: ${m}`;
};

export const DECODERS: Record<string, ResourceDecoder> = {
  [RESOURCE.CLUSTER]: decoder<EnvoyJson>(RESOURCE.CLUSTER, 'cluster', (r) => r.name, (r) => ({ errors: validateCluster(r), result: r })),
  [RESOURCE.ENDPOINT]: decoder<EnvoyJson>(RESOURCE.ENDPOINT, 'ClusterLoadAssignment', (r) => r.cluster_name, (r) => ({ errors: validateEndpoints(r), result: r })),
  [RESOURCE.SECRET]: decoder<EnvoyJson>(RESOURCE.SECRET, 'secret', (r) => r.name, (r) => ({ errors: validateSecret(r), result: r })),
  [RESOURCE.ROUTE]: decoder<CompiledRouteConfig>(RESOURCE.ROUTE, 'RouteConfiguration', (r) => r.name, (r, at) => {
    const errors = validateRoute(r);
    if (errors.length) return { errors };
    try {
      // Compiled once here (cached by object): the provider and the HCM reuse this compilation.
      return { errors: [], result: compileRouteConfig(r) };
    } catch (e) {
      return { errors: [thrown(at, e)] };
    }
  }),
  [RESOURCE.LISTENER]: decoder<unknown>(RESOURCE.LISTENER, 'listener', (r) => r.name, (r, at, ctx) => {
    const errors = validateListenerShape(r);
    if (errors.length) return { errors };
    try {
      return { errors: [], result: ctx.buildListener(r) };
    } catch (e) {
      return { errors: [thrown(at, e)] };
    }
  }),
};
