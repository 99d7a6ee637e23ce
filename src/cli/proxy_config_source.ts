/**
 * Where proxy-status and proxy-config read from, as istioctl reads a pod: the proxy's admin API
 * (Envoy's /config_dump, /clusters?format=json, /logging on the pod's admin URL in demo.json),
 * and a saved config_dump (istioctl's --file). The control plane is asked through
 * src/cli/controlplane_client.ts.
 */
import { readFileSync } from 'node:fs';
import type { EnvoyJson } from '../xds/types.ts';
import { ADMIN_PREFIX } from '../xds/type_urls.ts';

/** Envoy's /config_dump: `configs` holds one envoy.admin.v3.*ConfigDump per kind. */
export interface ConfigDump {
  configs: EnvoyJson[];
}

/** The section of one kind (`ClustersConfigDump`, `ListenersConfigDump`, ...), if present. */
export function dumpSection(dump: ConfigDump, kind: string): EnvoyJson | undefined {
  return dump.configs.find((c) => c['@type'] === ADMIN_PREFIX + kind);
}

/** GET a URL's body; errors say what was asked and what to check. */
export async function fetchText(url: string, what: string, init: RequestInit = {}): Promise<{ ok: true; status: number; body: string } | { ok: false; error: string }> {
  try {
    const res = await fetch(url, { ...init, signal: AbortSignal.timeout(10_000) });
    return { ok: true, status: res.status, body: await res.text() };
  } catch (e) {
    const cause = (e as { cause?: { code?: string } }).cause?.code ?? (e as Error).message;
    return { ok: false, error: `cannot reach ${what} at ${url} (${cause}): is it running?` };
  }
}

export async function fetchJson<T>(url: string, what: string): Promise<{ value: T } | { error: string }> {
  const r = await fetchText(url, what);
  if (!r.ok) return { error: r.error };
  let body: unknown;
  try {
    body = JSON.parse(r.body);
  } catch {
    return { error: `${what} answered HTTP ${r.status} with something that is not JSON: ${r.body.slice(0, 200)}` };
  }
  if (r.status !== 200) return { error: `${what} answered HTTP ${r.status}: ${(body as { error?: string })?.error ?? r.body.slice(0, 300)}` };
  return { value: body as T };
}

/** A proxy's whole /config_dump (endpoints included, as istioctl asks with include_eds). */
export function proxyConfigDump(admin: string, who: string): Promise<{ value: ConfigDump } | { error: string }> {
  return fetchJson<ConfigDump>(`${admin}/config_dump?include_eds`, `the proxy of ${who}`);
}

/** A saved config_dump file (istioctl's --file): Envoy's shape, `{"configs": [...]}`. */
export function readConfigDumpFile(file: string): { value: ConfigDump } | { error: string } {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    return { error: `${file}: cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}` };
  }
  try {
    const v = JSON.parse(text);
    if (!v || !Array.isArray(v.configs)) return { error: `${file}: not an Envoy config dump (no "configs" list); save one with curl <admin>/config_dump > file.json` };
    return { value: v as ConfigDump };
  } catch (e) {
    return { error: `${file}: not JSON (${(e as Error).message})` };
  }
}
