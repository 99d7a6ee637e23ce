/**
 * Envoy's jwt_cache_config: tokens whose signature has been verified, so a client that sends the
 * same token on every request (a browser session, a service's own token) costs a map lookup
 * instead of a signature check. An entry counts only for the key set it was verified against, so
 * a rotated or refetched JWKS checks afresh; the time and audience claims are checked on every
 * request before the cache is consulted. Least recently used entries go first.
 */
import type { Jwks } from './jwks.ts';

/** Envoy's default jwt_cache_size. */
export const DEFAULT_JWT_CACHE_SIZE = 100;

export class VerifiedTokens {
  private readonly entries = new Map<string, Jwks>();

  constructor(private readonly max: number) {}

  has(token: string, jwks: Jwks): boolean {
    const hit = this.entries.get(token);
    if (hit !== jwks) return false;
    // Refresh its place in the LRU order.
    this.entries.delete(token);
    this.entries.set(token, hit);
    return true;
  }

  add(token: string, jwks: Jwks): void {
    if (this.max <= 0) return;
    this.entries.delete(token);
    this.entries.set(token, jwks);
    if (this.entries.size > this.max) this.entries.delete(this.entries.keys().next().value!);
  }
}
