/**
 * Turns Envoy's DownstreamTlsContext / UpstreamTlsContext (inline certificates, files, or SDS
 * secret names) into node:tls options. A context naming an SDS secret that has not arrived yet
 * is "not ready" (the listener or cluster keeps warming), not an error.
 */
import { readFileSync } from 'node:fs';
import type { EnvoyJson } from '../../xds/types.ts';
import type { SecretManager } from '../config/secret_manager.ts';

export const DOWNSTREAM_TLS = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext';
export const UPSTREAM_TLS = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext';
export const RAW_BUFFER = 'type.googleapis.com/envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer';

export interface TlsOptions {
  cert?: string | Buffer;
  key?: string | Buffer;
  ca?: string | Buffer;
  ALPNProtocols?: string[];
  requestCert?: boolean;
  rejectUnauthorized?: boolean;
  servername?: string;
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
  return { ok: true, options: out, secretNames };
}

/** Server side: certificate required; client certificate requested when require_client_certificate. */
export function downstreamTlsOptions(ctx: EnvoyJson, secrets: SecretManager, path: string): TlsResult {
  const r = buildTlsOptions(ctx, secrets, path);
  if (!r.ok) return r;
  if (!r.options.cert || !r.options.key) return { ok: false, error: `${path}: DownstreamTlsContext needs a certificate and private key` };
  const requireClient = ctx.require_client_certificate === true;
  r.options.requestCert = requireClient || !!r.options.ca;
  r.options.rejectUnauthorized = requireClient;
  return r;
}

/** Client side: SNI from `sni`; the server is verified only when a trusted CA is configured (as Envoy). */
export function upstreamTlsOptions(ctx: EnvoyJson, secrets: SecretManager, path: string): TlsResult {
  const r = buildTlsOptions(ctx, secrets, path);
  if (!r.ok) return r;
  if (typeof ctx.sni === 'string' && ctx.sni) r.options.servername = ctx.sni;
  r.options.rejectUnauthorized = !!r.options.ca;
  return r;
}
