/**
 * One JwtProvider compiled: issuer, audiences, where its keys come from (local_jwks inline, or
 * remote_jwks through a cluster) and what a verified token produces (forwarded payload header,
 * claim headers, payload / header in dynamic metadata, whether the token stays in the request).
 */
import { DEFAULT_JWT_CACHE_SIZE, VerifiedTokens } from './verified_cache.ts';
import type { Clock, ClusterManager, Stats } from '../../../interfaces.ts';
import type { EnvoyJson } from '../../../../xds/types.ts';
import { Jwks } from './jwks.ts';
import { RemoteJwks } from './remote_jwks.ts';

export interface ClaimToHeader {
  header: string;
  /** Claim path: "a.b" walks nested objects. */
  claim: string[];
}

export interface Provider {
  name: string;
  /** The raw config (the extractor reads its locations). */
  config: EnvoyJson;
  issuer: string;
  audiences: readonly string[];
  clockSkewMs: number;
  requireExpiration: boolean;
  /** Keys given inline; undefined with `localInvalid` when none of them is usable. */
  local?: Jwks;
  localInvalid: boolean;
  remote?: RemoteJwks;
  forward: boolean;
  forwardPayloadHeader?: string;
  padForwardPayloadHeader: boolean;
  payloadInMetadata?: string;
  headerInMetadata?: string;
  spaceDelimitedClaims: ReadonlySet<string>;
  claimToHeaders: readonly ClaimToHeader[];
  clearRouteCache: boolean;
  /** jwt_cache_config: tokens already verified (signature only). */
  verified: VerifiedTokens;
}

const UNSUPPORTED = ['max_lifetime', 'failed_status_in_metadata', 'subject'];

export interface ProviderDeps {
  cm: ClusterManager;
  clock: Clock;
  fetchStats: { success: ReturnType<Stats['counter']>; failed: ReturnType<Stats['counter']> };
}

export function compileProvider(name: string, p: EnvoyJson, deps: ProviderDeps, path: string): Provider {
  for (const f of UNSUPPORTED) if (p[f] !== undefined) throw new Error(`${path}.${f}: not supported`);
  let local: Jwks | undefined;
  let localInvalid = false;
  let remote: RemoteJwks | undefined;
  if (p.local_jwks !== undefined) {
    const ds = p.local_jwks;
    if (typeof ds.inline_string !== 'string') throw new Error(`${path}.local_jwks: only inline_string is supported`);
    local = Jwks.parse(ds.inline_string);
    // Envoy accepts the config and fails each request ("Jwks doesn't have any valid public key").
    localInvalid = !local;
  } else if (p.remote_jwks !== undefined) {
    remote = new RemoteJwks(p.remote_jwks, deps.cm, deps.clock, deps.fetchStats, `${path}.remote_jwks`);
  } else {
    throw new Error(`${path}: one of local_jwks, remote_jwks is required`);
  }
  const skew = p.clock_skew_seconds === undefined ? 60 : Number(p.clock_skew_seconds);
  return {
    name,
    config: p,
    issuer: String(p.issuer ?? ''),
    audiences: ((p.audiences ?? []) as unknown[]).map(String),
    clockSkewMs: skew * 1000,
    requireExpiration: p.require_expiration === true,
    local,
    localInvalid,
    remote,
    forward: p.forward === true,
    forwardPayloadHeader: p.forward_payload_header ? String(p.forward_payload_header).toLowerCase() : undefined,
    padForwardPayloadHeader: p.pad_forward_payload_header === true,
    payloadInMetadata: p.payload_in_metadata || undefined,
    headerInMetadata: p.header_in_metadata || undefined,
    spaceDelimitedClaims: new Set(((p.normalize_payload_in_metadata?.space_delimited_claims ?? []) as unknown[]).map(String)),
    claimToHeaders: ((p.claim_to_headers ?? []) as EnvoyJson[]).map((c, i) => {
      if (!c.header_name || !c.claim_name) throw new Error(`${path}.claim_to_headers[${i}]: header_name and claim_name are required`);
      return { header: String(c.header_name).toLowerCase(), claim: String(c.claim_name).split('.') };
    }),
    clearRouteCache: p.clear_route_cache === true,
    verified: new VerifiedTokens(p.jwt_cache_config?.jwt_cache_size !== undefined ? Number(p.jwt_cache_config.jwt_cache_size) : DEFAULT_JWT_CACHE_SIZE),
  };
}
