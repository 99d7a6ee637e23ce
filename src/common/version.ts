/**
 * tsmesh's own version (package.json): the client's, the control plane's it serves, and the one
 * each proxy reports in its bootstrap node (user_agent_build_version, as Envoy reports its build).
 */
import { readFileSync } from 'node:fs';

export const TSMESH_VERSION: string = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')).version;

/** The node's user_agent_name a tsmesh proxy sends (Envoy sends "envoy"). */
export const TSMESH_USER_AGENT = 'tsmesh';

/** Envoy's config.core.v3.BuildVersion for a semver string: "0.1.0" → {version: {major_number, minor_number, patch}}. */
export function buildVersion(version: string): { version: { major_number: number; minor_number: number; patch: number } } {
  const [major = 0, minor = 0, patch = 0] = version.split(/[.+-]/).slice(0, 3).map((n) => Number.parseInt(n, 10) || 0);
  return { version: { major_number: major, minor_number: minor, patch } };
}

/** "major.minor.patch" of a node's user_agent_build_version, or undefined without one. */
export function buildVersionString(v: unknown): string | undefined {
  const sv = (v as { version?: Record<string, unknown> } | undefined)?.version;
  if (!sv || typeof sv !== 'object') return undefined;
  return [sv.major_number, sv.minor_number, sv.patch].map((n) => Number(n ?? 0) || 0).join('.');
}
