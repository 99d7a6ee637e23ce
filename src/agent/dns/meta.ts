/** Node metadata the DNS proxy is switched by (kept apart from the server: a plain proxy reads it without loading the DNS code). */

/**
 * pilot-agent's ISTIO_META_* environment: each variable becomes node metadata under its name
 * without the prefix (ISTIO_META_DNS_CAPTURE=true -> DNS_CAPTURE: "true").
 */
export function istioMetaFromEnv(env: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (k.startsWith('ISTIO_META_') && k.length > 11 && v !== undefined) out[k.slice(11)] = v;
  return out;
}

/** Node metadata DNS_CAPTURE ("true" or true). */
export function dnsCaptureRequested(metadata: Record<string, unknown> | undefined): boolean {
  const v = metadata?.DNS_CAPTURE;
  return v === true || v === 'true';
}
