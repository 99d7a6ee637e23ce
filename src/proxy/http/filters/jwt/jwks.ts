/**
 * A JSON Web Key Set as jwt_verify_lib holds it: the usable keys of a JWKS document (RSA, EC
 * P-256/384/521, OKP Ed25519, oct), each imported with jose for the one algorithm a token asks
 * for. A key is only ever tried for an algorithm of its own family, so a token signed with HS256
 * cannot be checked against an RSA public key used as an HMAC secret (algorithm confusion).
 */
import type { JWK } from 'jose';
import { jose } from '../../../../common/lazy_module.ts';

type Key = CryptoKey | Uint8Array;

interface Entry {
  jwk: JWK;
  kid?: string;
  alg?: string;
  imported: Map<string, Promise<Key | undefined>>;
}

/** Algorithms this proxy verifies, with the key family and curve each needs. */
const FAMILIES: Record<string, { kty: string; crv?: string }> = {
  RS256: { kty: 'RSA' },
  RS384: { kty: 'RSA' },
  RS512: { kty: 'RSA' },
  PS256: { kty: 'RSA' },
  PS384: { kty: 'RSA' },
  PS512: { kty: 'RSA' },
  ES256: { kty: 'EC', crv: 'P-256' },
  ES384: { kty: 'EC', crv: 'P-384' },
  ES512: { kty: 'EC', crv: 'P-521' },
  EdDSA: { kty: 'OKP', crv: 'Ed25519' },
  HS256: { kty: 'oct' },
  HS384: { kty: 'oct' },
  HS512: { kty: 'oct' },
};

export function isSupportedAlg(alg: string): boolean {
  return Object.hasOwn(FAMILIES, alg);
}

function usable(k: unknown): k is JWK & { kty: string } {
  if (!k || typeof k !== 'object') return false;
  const j = k as Record<string, unknown>;
  switch (j.kty) {
    case 'RSA':
      return typeof j.n === 'string' && typeof j.e === 'string';
    case 'EC':
      return typeof j.x === 'string' && typeof j.y === 'string' && ['P-256', 'P-384', 'P-521'].includes(String(j.crv));
    case 'OKP':
      return j.crv === 'Ed25519' && typeof j.x === 'string';
    case 'oct':
      return typeof j.k === 'string';
  }
  return false;
}

export class Jwks {
  private constructor(private readonly keys: Entry[]) {}

  /** Parses a JWKS document (or one bare JWK); undefined when no key in it is usable. */
  static parse(text: string): Jwks | undefined {
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch {
      return undefined;
    }
    const list = doc && typeof doc === 'object' && Array.isArray((doc as { keys?: unknown }).keys) ? ((doc as { keys: unknown[] }).keys) : [doc];
    const keys: Entry[] = [];
    for (const k of list) {
      if (!usable(k)) continue;
      const { use } = k as { use?: unknown };
      if (use !== undefined && use !== 'sig') continue;
      keys.push({ jwk: k, kid: typeof k.kid === 'string' ? k.kid : undefined, alg: typeof k.alg === 'string' ? k.alg : undefined, imported: new Map() });
    }
    return keys.length > 0 ? new Jwks(keys) : undefined;
  }

  /** True when some key carries this kid (a miss on a remote JWKS triggers a refetch). */
  hasKid(kid: string): boolean {
    return this.keys.some((k) => k.kid === kid);
  }

  /**
   * The keys a token with this header may be verified with, in document order: same family and
   * curve as `alg`, same `alg` when the key names one, same `kid` when both name one.
   */
  candidates(alg: string, kid: string | undefined): Array<() => Promise<Key | undefined>> {
    const fam = FAMILIES[alg];
    if (!fam) return [];
    const out: Array<() => Promise<Key | undefined>> = [];
    for (const e of this.keys) {
      if (e.jwk.kty !== fam.kty) continue;
      if (fam.crv && e.jwk.crv !== fam.crv) continue;
      if (e.alg !== undefined && e.alg !== alg) continue;
      if (kid !== undefined && e.kid !== undefined && e.kid !== kid) continue;
      out.push(() => imported(e, alg));
    }
    return out;
  }
}

function imported(e: Entry, alg: string): Promise<Key | undefined> {
  let p = e.imported.get(alg);
  if (!p) {
    // A key jose will not import for this algorithm (e.g. an RSA modulus under 2048 bits) is no candidate.
    const { importJWK } = jose();
    p = importJWK({ ...e.jwk, alg }, alg).then(
      (k) => k as Key,
      () => undefined,
    );
    e.imported.set(alg, p);
  }
  return p;
}
