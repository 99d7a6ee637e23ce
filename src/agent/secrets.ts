/**
 * The two secrets Istio's agent serves the proxy over SDS, in Envoy's Secret shape: `default`
 * (the workload's certificate chain and private key) and `ROOTCA` (the roots that peers'
 * chains are verified against). Inline bytes, never files: the key stays in memory.
 */
import { RESOURCE } from '../xds/type_urls.ts';
import type { EnvoyJson } from '../xds/types.ts';

/** Istio's SDS resource name for the workload certificate (SDSDefaultResourceName). */
export const WORKLOAD_SECRET = 'default';
/** Istio's SDS resource name for the root certificates (SDSRootResourceName). */
export const ROOT_SECRET = 'ROOTCA';

const inline = (pem: string): EnvoyJson => ({ inline_bytes: Buffer.from(pem).toString('base64') });

/** Secret `default`: tls_certificate with the chain (leaf first) and the PKCS#8 key. */
export function workloadSecret(chainPem: string, keyPem: string): EnvoyJson {
  return { '@type': RESOURCE.SECRET, name: WORKLOAD_SECRET, tls_certificate: { certificate_chain: inline(chainPem), private_key: inline(keyPem) } };
}

/** Secret `ROOTCA`: validation_context.trusted_ca with every trusted root. */
export function rootSecret(rootsPem: string): EnvoyJson {
  return { '@type': RESOURCE.SECRET, name: ROOT_SECRET, validation_context: { trusted_ca: inline(rootsPem) } };
}
