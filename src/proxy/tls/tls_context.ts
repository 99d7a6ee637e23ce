/**
 * Turns Envoy's DownstreamTlsContext / UpstreamTlsContext (inline certificates, files, or SDS
 * secret names) into node:tls options. A context naming an SDS secret that has not arrived yet
 * is "not ready" (the listener or cluster keeps warming), not an error.
 */
import { readFileSync } from 'node:fs';
import tls from 'node:tls';
import type { EnvoyJson } from '../../xds/types.ts';
import type { SecretManager } from '../config/secret_manager.ts';
import { TRANSPORT_SOCKET } from '../../xds/type_urls.ts';
import { compileSanMatchers, type SanCheck } from './san_matcher.ts';

export const DOWNSTREAM_TLS = TRANSPORT_SOCKET.DOWNSTREAM_TLS;
export const UPSTREAM_TLS = TRANSPORT_SOCKET.UPSTREAM_TLS;
export const RAW_BUFFER = TRANSPORT_SOCKET.RAW_BUFFER;

export interface TlsOptions {
  cert?: string | Buffer;
  key?: string | Buffer;
  ca?: string | Buffer;
  ALPNProtocols?: string[];
  requestCert?: boolean;
  rejectUnauthorized?: boolean;
  servername?: string;
  /** From tls_params: protocol version bounds and (TLS 1.2) cipher suites, in node:tls terms. */
  minVersion?: tls.SecureVersion;
  maxVersion?: tls.SecureVersion;
  ciphers?: string;
  /** match_typed_subject_alt_names: the peer certificate must carry a matching SAN (verified against `ca`). */
  sanCheck?: SanCheck;
}

export type TlsResult = { ok: true; options: TlsOptions; secretNames: string[] } | { ok: false; notReady?: string; error?: string };

/** Envoy's DataSource: inline_string, inline_bytes (base64), filename, environment_variable. */
export function readDataSource(ds: EnvoyJson | undefined, path: string): string | Buffer | undefined {
  if (!ds) return undefined;
  if (typeof ds.inline_string === 'string') return ds.inline_string;
  if (typeof ds.inline_bytes === 'string') return Buffer.from(ds.inline_bytes, 'base64');
  if (typeof ds.filename === 'string') {
    try {
      return readFileSync(ds.filename);
    } catch (e) {
      throw new Error(`${path}.filename: cannot read ${ds.filename}: ${(e as Error).message}`);
    }
  }
  if (typeof ds.environment_variable === 'string') return process.env[ds.environment_variable];
  return undefined;
}

/** The transport_socket's TLS context, if it has one ("envoy.transport_sockets.tls"). */
export function tlsContextOf(transportSocket: EnvoyJson | undefined): EnvoyJson | undefined {
  const tc = transportSocket?.typed_config;
  if (!tc || tc['@type'] === RAW_BUFFER) return undefined;
  return tc;
}

function certFrom(tc: EnvoyJson | undefined, path: string, out: TlsOptions): void {
  if (!tc) return;
  out.cert = readDataSource(tc.certificate_chain, `${path}.certificate_chain`);
  out.key = readDataSource(tc.private_key, `${path}.private_key`);
}

function validationFrom(vc: EnvoyJson | undefined, path: string, out: TlsOptions): void {
  if (!vc) return;
  const ca = readDataSource(vc.trusted_ca, `${path}.trusted_ca`);
  if (ca) out.ca = ca;
  const san = compileSanMatchers(vc, path);
  if (san) out.sanCheck = san;
}

/**
 * node:tls's checkServerIdentity for an upstream: Envoy checks no host name, only the configured
 * SAN matchers (the chain itself is verified against trusted_ca by OpenSSL).
 */
export function checkPeerSans(t: TlsOptions): (host: string, cert: tls.PeerCertificate) => Error | undefined {
  return (_host, cert) => {
    const why = t.sanCheck?.(cert?.subjectaltname);
    return why ? Object.assign(new Error(why), { code: 'ERR_TLS_SAN_MISMATCH' }) : undefined;
  };
}

/** Builds node:tls options from a CommonTlsContext, resolving SDS secret names via `secrets`. */
export function buildTlsOptions(ctx: EnvoyJson, secrets: SecretManager, path: string): TlsResult {
  const common: EnvoyJson = ctx.common_tls_context ?? {};
  const out: TlsOptions = {};
  const secretNames: string[] = [];
  try {
    const certs: EnvoyJson[] = common.tls_certificates ?? [];
    if (certs.length) certFrom(certs[0], `${path}.common_tls_context.tls_certificates[0]`, out);
    for (const sds of common.tls_certificate_sds_secret_configs ?? []) {
      secretNames.push(sds.name);
      const s = secrets.get(sds.name);
      if (!s) return { ok: false, notReady: sds.name };
      certFrom(s.tls_certificate, `secret ${sds.name}.tls_certificate`, out);
    }
    validationFrom(common.validation_context, `${path}.common_tls_context.validation_context`, out);
    const combined = common.combined_validation_context;
    if (combined) validationFrom(combined.default_validation_context, `${path}.common_tls_context.combined_validation_context`, out);
    const vsds = common.validation_context_sds_secret_config ?? combined?.validation_context_sds_secret_config;
    if (vsds) {
      secretNames.push(vsds.name);
      const s = secrets.get(vsds.name);
      if (!s) return { ok: false, notReady: vsds.name };
      validationFrom(s.validation_context, `secret ${vsds.name}.validation_context`, out);
    }
  } catch (e) {
    return { ok: false, error: (e as Error).message };
  }
  if (Array.isArray(common.alpn_protocols) && common.alpn_protocols.length) out.ALPNProtocols = common.alpn_protocols;
  tlsParams(common.tls_params, out);
  return { ok: true, options: out, secretNames };
}

/** Envoy's TlsParameters.TlsProtocol → node:tls; TLS_AUTO (or unset) keeps node's default. */
const TLS_VERSIONS: Record<string, tls.SecureVersion> = { TLSv1_0: 'TLSv1', TLSv1_1: 'TLSv1.1', TLSv1_2: 'TLSv1.2', TLSv1_3: 'TLSv1.3' };

/**
 * tls_params: tls_minimum/maximum_protocol_version and cipher_suites. Envoy's cipher names are
 * OpenSSL's, possibly in `[a|b]` equivalence groups; they only cover TLS 1.2 and below, so node's
 * TLS 1.3 suites stay enabled (as in Envoy, where TLS 1.3 suites are not configurable).
 */
function tlsParams(p: EnvoyJson | undefined, out: TlsOptions): void {
  if (!p) return;
  const min = TLS_VERSIONS[String(p.tls_minimum_protocol_version ?? '')];
  const max = TLS_VERSIONS[String(p.tls_maximum_protocol_version ?? '')];
  if (min) out.minVersion = min;
  if (max) out.maxVersion = max;
  if (Array.isArray(p.cipher_suites) && p.cipher_suites.length) {
    const names = (p.cipher_suites as string[]).flatMap((c) => c.replace(/^\[|\]$/g, '').split('|')).filter(Boolean);
    const tls13 = tls.DEFAULT_CIPHERS.split(':').filter((c) => c.startsWith('TLS_'));
    out.ciphers = [...tls13, ...names].join(':');
  }
}

/** Server side: certificate required; client certificate requested when require_client_certificate. */
export function downstreamTlsOptions(ctx: EnvoyJson, secrets: SecretManager, path: string): TlsResult {
  const r = buildTlsOptions(ctx, secrets, path);
  if (!r.ok) return r;
  if (!r.options.cert || !r.options.key) return { ok: false, error: `${path}: DownstreamTlsContext needs a certificate and private key` };
  const requireClient = ctx.require_client_certificate === true;
  r.options.requestCert = requireClient || !!r.options.ca || !!r.options.sanCheck;
  r.options.rejectUnauthorized = requireClient;
  return r;
}

/** Client side: SNI from `sni`; the server is verified only when a trusted CA is configured (as Envoy). */
export function upstreamTlsOptions(ctx: EnvoyJson, secrets: SecretManager, path: string): TlsResult {
  const r = buildTlsOptions(ctx, secrets, path);
  if (!r.ok) return r;
  if (typeof ctx.sni === 'string' && ctx.sni) r.options.servername = ctx.sni;
  // SAN matchers are only meaningful on a verified chain: with no trusted CA the handshake then
  // fails (fail closed) instead of accepting any certificate that happens to carry the name.
  r.options.rejectUnauthorized = !!r.options.ca || !!r.options.sanCheck;
  return r;
}
