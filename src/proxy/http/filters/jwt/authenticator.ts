/**
 * Envoy's jwt_authn Authenticator: verifies every token an extractor found (all must be valid, so
 * a good token cannot smuggle a bad one past the check) against the provider named by the
 * requirement, or the one whose issuer the token claims. Checks run in Envoy's order — format,
 * issuer allowed at that location, time (with clock skew), audience, keys, signature — and each
 * failure is reported with jwt_verify_lib's status. Signatures are checked with jose, with the
 * token's own algorithm pinned and only keys of that algorithm's family tried.
 */
import { jose } from '../../../../common/lazy_module.ts';
import type { HeaderMap } from '../../../interfaces.ts';
import { isSupportedAlg, type Jwks } from './jwks.ts';
import type { JwtLocation } from './extractor.ts';
import type { Provider } from './provider.ts';
import { Status } from './status.ts';

/** What verified tokens leave behind for the filter to publish. */
export interface VerifyContext {
  headers: HeaderMap;
  now(): number;
  /** envoy.filters.http.jwt_authn metadata fields (payload_in_metadata / header_in_metadata). */
  extracted: Record<string, unknown>;
  /** The first verified payload, for Istio's request.auth.* attributes. */
  principalPayload?: Record<string, unknown>;
  principalSpaceDelimited?: ReadonlySet<string>;
  clearRouteCache: boolean;
}

export interface AuthenticatorOptions {
  /** A provider_name requirement's provider; undefined means "by the token's issuer". */
  provider?: Provider;
  /** provider_and_audiences: replaces the provider's audiences. */
  audiences?: readonly string[];
  allowFailed: boolean;
  allowMissing: boolean;
}

interface Parsed {
  alg: string;
  kid?: string;
  header: Record<string, unknown>;
  payload: Record<string, unknown>;
  payloadB64: string;
}

function b64json(part: string): Record<string, unknown> | undefined {
  if (!/^[A-Za-z0-9_-]*$/.test(part)) return undefined;
  try {
    const v = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
    return v && typeof v === 'object' && !Array.isArray(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

function parse(token: string): Parsed | Status {
  const parts = token.split('.');
  if (parts.length !== 3) return Status.JwtBadFormat;
  const header = b64json(parts[0]!);
  if (!header) return Status.JwtHeaderParseError;
  if (typeof header.alg !== 'string') return Status.JwtHeaderBadAlg;
  // "none" and anything unknown are refused before any key is looked at.
  if (!isSupportedAlg(header.alg)) return Status.JwtHeaderNotImplementedAlg;
  if (header.kid !== undefined && typeof header.kid !== 'string') return Status.JwtHeaderBadKid;
  const payload = b64json(parts[1]!);
  if (!payload) return Status.JwtPayloadParseError;
  for (const k of ['iss', 'sub']) if (payload[k] !== undefined && typeof payload[k] !== 'string') return Status.JwtPayloadParseError;
  for (const k of ['exp', 'nbf', 'iat']) if (payload[k] !== undefined && typeof payload[k] !== 'number') return Status.JwtPayloadParseError;
  if (!parts[2] || !/^[A-Za-z0-9_-]+$/.test(parts[2])) return Status.JwtSignatureParseError;
  return { alg: header.alg, kid: header.kid as string | undefined, header, payload, payloadB64: parts[1]! };
}

function audiencesOf(payload: Record<string, unknown>): string[] {
  const aud = payload.aud;
  if (typeof aud === 'string') return [aud];
  if (Array.isArray(aud)) return aud.filter((a): a is string => typeof a === 'string');
  return [];
}

/** jwt_verify_lib's CheckAudience: no configured audience allows any; else one must match (scheme and trailing slash ignored). */
function audienceAllowed(allowed: readonly string[], payload: Record<string, unknown>): boolean {
  if (allowed.length === 0) return true;
  const norm = (a: string) => a.replace(/^https?:\/\//, '').replace(/\/+$/, '');
  const want = new Set(allowed.map(norm));
  return audiencesOf(payload).some((a) => want.has(norm(a)));
}

function claimAt(payload: Record<string, unknown>, path: readonly string[]): unknown {
  let v: unknown = payload;
  for (const k of path) {
    if (!v || typeof v !== 'object' || Array.isArray(v)) return undefined;
    v = (v as Record<string, unknown>)[k];
  }
  return v;
}

/** The payload as dynamic metadata: space-delimited claims ("scope") become lists. */
export function normalizePayload(payload: Record<string, unknown>, spaceDelimited: ReadonlySet<string>): Record<string, unknown> {
  if (spaceDelimited.size === 0) return payload;
  const out: Record<string, unknown> = { ...payload };
  for (const k of spaceDelimited) {
    const v = out[k];
    if (typeof v === 'string') out[k] = v.split(' ').filter(Boolean);
  }
  return out;
}

export class Authenticator {
  constructor(
    private readonly opts: AuthenticatorOptions,
    private readonly byIssuer: (iss: string | undefined) => Provider | undefined,
  ) {}

  /** The requirement's status for these tokens (Ok under allow_missing_or_failed whatever happens). */
  async verify(tokens: readonly JwtLocation[], ctx: VerifyContext): Promise<Status> {
    let status: Status = Status.JwtMissed;
    for (const t of tokens) {
      status = await this.verifyOne(t, ctx);
      // Under allow_missing_or_failed every token is still tried, for the payloads of the good ones.
      if (status !== Status.Ok && !this.opts.allowFailed) break;
    }
    if (this.opts.allowFailed) return Status.Ok;
    if (this.opts.allowMissing && status === Status.JwtMissed) return Status.Ok;
    return status;
  }

  private async verifyOne(loc: JwtLocation, ctx: VerifyContext): Promise<Status> {
    const jwt = parse(loc.token);
    if (typeof jwt === 'string') return jwt;
    const iss = jwt.payload.iss as string | undefined;
    if (!loc.isIssuerAllowed(iss)) return Status.JwtUnknownIssuer;
    const provider = this.opts.provider ?? this.byIssuer(iss);
    if (!provider) return Status.JwtUnknownIssuer;
    const now = ctx.now();
    const nbf = jwt.payload.nbf as number | undefined;
    const exp = jwt.payload.exp as number | undefined;
    if (nbf !== undefined && nbf * 1000 > now + provider.clockSkewMs) return Status.JwtNotYetValid;
    if (exp !== undefined && exp * 1000 + provider.clockSkewMs < now) return Status.JwtExpired;
    if (exp === undefined && provider.requireExpiration) return Status.JwtExpired;
    if (!audienceAllowed(this.opts.audiences ?? provider.audiences, jwt.payload)) return Status.JwtAudienceNotAllowed;

    let jwks: Jwks | undefined;
    if (provider.remote) {
      jwks = await provider.remote.get();
      if (!jwks) return Status.JwksFetchFail;
      if (jwt.kid !== undefined && !jwks.hasKid(jwt.kid)) jwks = (await provider.remote.refetchForKid()) ?? jwks;
    } else {
      jwks = provider.local;
      if (!jwks) return Status.JwksNoValidKeys;
    }
    if (provider.verified.has(loc.token, jwks)) {
      this.publish(provider, jwt, loc, ctx);
      return Status.Ok;
    }
    const candidates = jwks.candidates(jwt.alg, jwt.kid);
    let tried = 0;
    let ok = false;
    const { compactVerify } = jose();
    for (const load of candidates) {
      const key = await load();
      if (!key) continue;
      tried++;
      try {
        await compactVerify(loc.token, key, { algorithms: [jwt.alg] });
        ok = true;
        break;
      } catch {
        // Wrong key or bad signature: try the next candidate.
      }
    }
    if (tried === 0) return Status.JwksKidAlgMismatch;
    if (!ok) return Status.JwtVerificationFail;
    provider.verified.add(loc.token, jwks);
    this.publish(provider, jwt, loc, ctx);
    return Status.Ok;
  }

  private publish(p: Provider, jwt: Parsed, loc: JwtLocation, ctx: VerifyContext): void {
    const h = ctx.headers;
    if (p.forwardPayloadHeader) {
      let v = jwt.payloadB64;
      if (p.padForwardPayloadHeader) while (v.length % 4 !== 0) v += '=';
      h.set(p.forwardPayloadHeader, v);
    }
    let headersAdded = false;
    for (const c of p.claimToHeaders) {
      const v = claimAt(jwt.payload, c.claim);
      if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') {
        h.set(c.header, String(v));
        headersAdded = true;
      }
    }
    if (!p.forward) loc.removeJwt(h);
    if (p.payloadInMetadata) ctx.extracted[p.payloadInMetadata] = normalizePayload(jwt.payload, p.spaceDelimitedClaims);
    if (p.headerInMetadata) ctx.extracted[p.headerInMetadata] = jwt.header;
    if (!ctx.principalPayload) {
      ctx.principalPayload = jwt.payload;
      ctx.principalSpaceDelimited = p.spaceDelimitedClaims;
    }
    if (p.clearRouteCache && (headersAdded || p.payloadInMetadata)) ctx.clearRouteCache = true;
  }
}
