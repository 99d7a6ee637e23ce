/**
 * Where tokens come from (Envoy's jwt_authn Extractor): each provider's from_headers (with a
 * value_prefix), from_params and from_cookies, or by default `Authorization: Bearer <jwt>` and the
 * `access_token` query parameter. One extractor serves one provider (provider_name requirements)
 * or all of them (allow_missing / allow_missing_or_failed); each location remembers which issuers
 * may be found there, so a token in a provider's location signed by another issuer is refused
 * ("Jwt issuer is not configured").
 */
import type { HeaderMap } from '../../../interfaces.ts';
import type { EnvoyJson } from '../../../../xds/types.ts';
import { getHeader } from '../../common/header_utils.ts';

/** One token found in a request. */
export interface JwtLocation {
  token: string;
  /** Issuers allowed at this location; '' means any (a provider with no issuer). */
  issuers: ReadonlySet<string>;
  /** Whether the token's issuer may be verified from here. */
  isIssuerAllowed(iss: string | undefined): boolean;
  /** Takes the token out of the request (forward: false); only header tokens are removed, as in Envoy. */
  removeJwt(headers: HeaderMap): void;
}

interface HeaderSpec {
  name: string;
  prefix: string;
  issuers: Set<string>;
}

export class Extractor {
  private readonly headers = new Map<string, HeaderSpec>();
  private readonly params = new Map<string, Set<string>>();
  private readonly cookies = new Map<string, Set<string>>();
  /** Headers a provider writes (claim_to_headers): a client must never be able to set them. */
  private readonly reserved = new Set<string>();

  constructor(providers: readonly EnvoyJson[]) {
    for (const p of providers) {
      const iss = String(p.issuer ?? '');
      const fromHeaders = (p.from_headers ?? []) as EnvoyJson[];
      const fromParams = (p.from_params ?? []) as string[];
      const fromCookies = (p.from_cookies ?? []) as string[];
      for (const h of fromHeaders) this.addHeader(String(h.name), String(h.value_prefix ?? ''), iss);
      for (const n of fromParams) add(this.params, String(n), iss);
      for (const n of fromCookies) add(this.cookies, String(n), iss);
      if (fromHeaders.length === 0 && fromParams.length === 0 && fromCookies.length === 0) {
        this.addHeader('authorization', 'Bearer ', iss);
        add(this.params, 'access_token', iss);
      }
      for (const c of (p.claim_to_headers ?? []) as EnvoyJson[]) this.reserved.add(String(c.header_name).toLowerCase());
    }
  }

  private addHeader(name: string, prefix: string, iss: string): void {
    const lname = name.toLowerCase();
    const key = `${lname}\n${prefix}`;
    let spec = this.headers.get(key);
    if (!spec) this.headers.set(key, (spec = { name: lname, prefix, issuers: new Set() }));
    spec.issuers.add(iss);
  }

  /** Drops client-supplied copies of the headers verified claims are written to. */
  sanitizeHeaders(h: HeaderMap): void {
    for (const n of this.reserved) h.delete(n);
  }

  extract(h: HeaderMap): JwtLocation[] {
    const out: JwtLocation[] = [];
    const seen = new Set<string>();
    const push = (token: string, issuers: Set<string>, remove: (h: HeaderMap) => void, where: string) => {
      if (!token || seen.has(`${where}\n${token}`)) return;
      seen.add(`${where}\n${token}`);
      out.push({ token, issuers, isIssuerAllowed: (iss) => issuers.has('') || (iss !== undefined && issuers.has(iss)), removeJwt: remove });
    };
    for (const spec of this.headers.values()) {
      const v = getHeader(h, spec.name);
      if (v === undefined) continue;
      let token = v;
      if (spec.prefix) {
        const at = v.toLowerCase().indexOf(spec.prefix.toLowerCase());
        if (at < 0) continue;
        token = tokenAt(v, at + spec.prefix.length);
      }
      push(token.trim(), spec.issuers, (hm) => void hm.delete(spec.name), `h:${spec.name}`);
    }
    if (this.params.size > 0) {
      const path = getHeader(h, ':path') ?? '';
      const q = path.indexOf('?');
      if (q >= 0) {
        const query = new URLSearchParams(path.slice(q + 1));
        for (const [name, issuers] of this.params) {
          const v = query.get(name);
          if (v) push(v, issuers, () => {}, `p:${name}`);
        }
      }
    }
    if (this.cookies.size > 0) {
      const jar = parseCookies(h);
      for (const [name, issuers] of this.cookies) {
        const v = jar.get(name);
        if (v) push(v, issuers, () => {}, `c:${name}`);
      }
    }
    return out;
  }
}

function add(m: Map<string, Set<string>>, k: string, iss: string): void {
  let s = m.get(k);
  if (!s) m.set(k, (s = new Set()));
  s.add(iss);
}

/** The JWT characters (base64url and dots) from `from` on, as Envoy's extractJWT. */
function tokenAt(v: string, from: number): string {
  let end = from;
  while (end < v.length && /[A-Za-z0-9_\-.=]/.test(v[end]!)) end++;
  return v.slice(from, end);
}

function parseCookies(h: HeaderMap): Map<string, string> {
  const out = new Map<string, string>();
  const raw = h.get('cookie');
  const values = raw === undefined ? [] : Array.isArray(raw) ? raw : [raw];
  for (const line of values) {
    for (const part of line.split(';')) {
      const eq = part.indexOf('=');
      if (eq < 0) continue;
      const k = part.slice(0, eq).trim();
      let v = part.slice(eq + 1).trim();
      if (v.length >= 2 && v.startsWith('"') && v.endsWith('"')) v = v.slice(1, -1);
      if (k && !out.has(k)) out.set(k, v);
    }
  }
  return out;
}
