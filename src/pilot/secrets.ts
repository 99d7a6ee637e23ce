/**
 * SDS secrets the control plane serves on the ADS stream: the TLS material of Kubernetes Secrets
 * named by a Gateway's or DestinationRule's `credentialName` (Istio's gateway secret fetcher).
 * `<name>` is the certificate and key; `<name>-cacert` the CA that verifies peers, from the same
 * Secret's ca.crt/cacert or from a Secret called `<name>-cacert`. A proxy only gets Secrets of its
 * own namespace, as Istio only lets a gateway read the secrets beside it. Workload certificates
 * never come from here: the proxy's agent serves those.
 */
import { secretMaterial, type SecretMaterial } from '../api/secret.ts';
import type { EnvoyJson, NamedResource } from '../xds/types.ts';
import type { Proxy, PushContext } from './types.ts';
import { pushIndex } from './push_context.ts';
import { cmp } from './util.ts';

const CACERT_SUFFIX = '-cacert';

export function buildSecrets(push: PushContext, proxy: Proxy, names: string[] | undefined): NamedResource[] {
  if (!names) return [];
  // Each Secret of the proxy's namespace read once, whatever number of names refer to it.
  const material = new Map<string, SecretMaterial>();
  for (const c of pushIndex(push).byKind.get('Secret') ?? []) if (c.metadata.namespace === proxy.namespace) material.set(c.metadata.name, secretMaterial(c.spec ?? {}).material);
  const out: NamedResource[] = [];
  for (const name of [...new Set(names)].sort(cmp)) {
    const r = secretResource(name, material);
    if (r) out.push({ name, resource: r });
  }
  return out;
}

function secretResource(name: string, material: Map<string, SecretMaterial>): EnvoyJson | undefined {
  const own = material.get(name);
  if (own?.cert && own.key) return { name, tls_certificate: { certificate_chain: inline(own.cert), private_key: inline(own.key) } };
  if (!name.endsWith(CACERT_SUFFIX)) return undefined;
  const ca = own?.ca ?? material.get(name.slice(0, -CACERT_SUFFIX.length))?.ca;
  return ca ? { name, validation_context: { trusted_ca: inline(ca) } } : undefined;
}

function inline(pem: string): EnvoyJson {
  return { inline_bytes: Buffer.from(pem).toString('base64') };
}
