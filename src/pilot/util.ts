/**
 * Small pure helpers shared by pilot's builders: stable JSON, content hashes, label selectors
 * and the Envoy JSON fragments every builder repeats (config sources, addresses).
 */
import { createHash } from 'node:crypto';
import { stableStringify } from '../api/canonical.ts';

export { sortKeys, stableStringify } from '../api/canonical.ts';

/** Short content hash: pushes carry it as their version. */
export function contentHash(value: unknown): string {
  return createHash('sha256').update(stableStringify(value)).digest('hex').slice(0, 16);
}

/** True when every selector label is present with the same value (empty selector matches all). */
export function labelsMatch(selector: Record<string, string> | undefined, labels: Record<string, string>): boolean {
  if (!selector) return true;
  return Object.entries(selector).every(([k, v]) => labels[k] === v);
}

/** Sorts named things by name; Envoy resources are always handed out in this order. */
export function byName<T extends { name: string }>(a: T, b: T): number {
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

/** Plain string comparison for Array.prototype.sort. */
export function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** `{ ads: {} }` config source, as Istio points every xDS reference back at the ADS stream. */
export function adsConfigSource(): Record<string, unknown> {
  return { ads: {}, initial_fetch_timeout: '0s', resource_api_version: 'V3' };
}

/** Envoy core.v3.Address for ip:port. */
export function socketAddress(address: string, port: number): Record<string, unknown> {
  return { socket_address: { address, port_value: port } };
}

/** Envoy Duration JSON from an Istio duration string ("1.5s", "100ms", "1m", "2h"). */
export function duration(istio: string | undefined): string | undefined {
  if (istio === undefined || istio === null) return undefined;
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|us|µs|ns)$/.exec(String(istio).trim());
  if (!m) return undefined;
  const n = Number(m[1]);
  const factor: Record<string, number> = { h: 3600, m: 60, s: 1, ms: 1e-3, us: 1e-6, 'µs': 1e-6, ns: 1e-9 };
  const seconds = n * factor[m[2]!]!;
  // Envoy's JSON duration allows up to 9 fractional digits; trim float noise.
  return `${Number(seconds.toFixed(9))}s`;
}
