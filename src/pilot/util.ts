/**
 * Small pure helpers shared by pilot's builders: stable JSON, content hashes, label selectors
 * and the Envoy JSON fragments every builder repeats (config sources, addresses).
 */
import { createHash } from 'node:crypto';
import { stableStringify } from '../api/canonical.ts';
import { envoyDuration } from '../api/duration.ts';

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

/**
 * Envoy Duration JSON ("90s", "0.5s") of an Istio duration ("1m30s", ".5s", "250ms"), or
 * undefined when the field is absent. The reading is src/api/duration.ts's, the one shared with
 * validation and the proxy, so what validation accepts is what the proxy receives.
 */
export function envoyDurationOf(istio: string | undefined, path?: string): string | undefined {
  return istio === undefined || istio === null ? undefined : envoyDuration(istio, path);
}
