/**
 * istiod's CA in Kubernetes mode, one root for every replica and every restart (Istio's
 * self-signed CA persistence): the signing certificate and key live in the Secret
 * `istio-ca-secret` in the control plane's namespace, not in a pod's disk.
 *   1. A `cacerts` Secret there (Istio's plug-in CA: ca-cert.pem, ca-key.pem, cert-chain.pem,
 *      root-cert.pem) takes precedence, as in Istio.
 *   2. Else `istio-ca-secret` is loaded (ca-cert.pem, ca-key.pem).
 *   3. Else this replica generates a root and *creates* the Secret: if another replica created it
 *      first (409), the winner's Secret is read instead, so a race ends with one root.
 *
 *   const { ca, source } = await loadKubeCa({ client, namespace: 'istio-system', trustDomain });
 */
import { CertificateAuthority, generateSelfSignedRoot, PLUGIN_CA_FILES, type CaPem } from '../ca/authority.ts';
import type { KeyAlgorithm } from '../ca/keys.ts';
import { KubeApiError, type KubeClient } from './client/client.ts';

/** Istio's self-signed CA Secret and its type. */
export const CA_SECRET = 'istio-ca-secret';
export const CA_SECRET_TYPE = 'istio.io/ca-root';
/** Istio's plug-in CA Secret (the one its docs create with kubectl create secret generic cacerts). */
export const PLUGIN_CA_SECRET = 'cacerts';
/** Keys of istio-ca-secret, as Istio writes them (only ca-cert.pem and ca-key.pem carry data). */
export const CA_SECRET_KEYS = { caCert: 'ca-cert.pem', caKey: 'ca-key.pem', certChain: 'cert-chain.pem', privateKey: 'key.pem', rootCert: 'root-cert.pem' } as const;

export interface KubeCaOptions {
  client: KubeClient;
  /** The control plane's namespace (istio-system). */
  namespace: string;
  trustDomain?: string;
  workloadCertTtlSeconds?: number;
  keyAlgorithm?: KeyAlgorithm;
  log?: (line: string) => void;
}

export interface KubeCa {
  ca: CertificateAuthority;
  /** Which Secret the CA came from, and whether this replica created it. */
  source: { secret: string; created: boolean };
}

export async function loadKubeCa(o: KubeCaOptions): Promise<KubeCa> {
  const log = o.log ?? (() => {});
  const caOpts = { ...(o.trustDomain ? { trustDomain: o.trustDomain } : {}), ...(o.workloadCertTtlSeconds ? { workloadCertTtlSeconds: o.workloadCertTtlSeconds } : {}), ...(o.keyAlgorithm ? { keyAlgorithm: o.keyAlgorithm } : {}) };
  const plugin = await getSecret(o.client, o.namespace, PLUGIN_CA_SECRET);
  if (plugin) {
    const source = `Secret ${o.namespace}/${PLUGIN_CA_SECRET}`;
    const pem = requireKeys(plugin, source, [PLUGIN_CA_FILES.caCert, PLUGIN_CA_FILES.caKey, PLUGIN_CA_FILES.rootCert]);
    const ca = await CertificateAuthority.fromPem({ caCert: pem[PLUGIN_CA_FILES.caCert]!, caKey: pem[PLUGIN_CA_FILES.caKey]!, certChain: pem[PLUGIN_CA_FILES.certChain] ?? '', rootCert: pem[PLUGIN_CA_FILES.rootCert]!, source }, caOpts);
    log(`ca: plug-in CA from ${source}`);
    return { ca, source: { secret: PLUGIN_CA_SECRET, created: false } };
  }
  const existing = await getSecret(o.client, o.namespace, CA_SECRET);
  if (existing) return { ca: await selfSigned(existing, o, caOpts), source: { secret: CA_SECRET, created: false } };

  const root = await generateSelfSignedRoot(o.trustDomain ?? 'cluster.local', o.keyAlgorithm);
  const secret = {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: CA_SECRET, namespace: o.namespace },
    type: CA_SECRET_TYPE,
    data: {
      [CA_SECRET_KEYS.caCert]: b64(root.certPem),
      [CA_SECRET_KEYS.caKey]: b64(root.keyPem),
      [CA_SECRET_KEYS.certChain]: '',
      [CA_SECRET_KEYS.privateKey]: '',
      [CA_SECRET_KEYS.rootCert]: '',
    },
  };
  try {
    // Create, never update: the API server lets exactly one replica win.
    await o.client.request('POST', `/api/v1/namespaces/${encodeURIComponent(o.namespace)}/secrets`, secret);
  } catch (e) {
    if (e instanceof KubeApiError && e.statusCode === 409) {
      const winner = await getSecret(o.client, o.namespace, CA_SECRET);
      if (!winner) throw new Error(`Secret ${o.namespace}/${CA_SECRET} was created by another replica and is gone again; restart the control plane`);
      log(`ca: another replica created ${o.namespace}/${CA_SECRET} first; using its root`);
      return { ca: await selfSigned(winner, o, caOpts), source: { secret: CA_SECRET, created: false } };
    }
    throw new Error(`cannot create Secret ${o.namespace}/${CA_SECRET} for the CA root: ${(e as Error).message}${hint(e)}`);
  }
  log(`ca: created a self-signed root in Secret ${o.namespace}/${CA_SECRET}`);
  const ca = await CertificateAuthority.fromPem({ caCert: root.certPem, caKey: root.keyPem, source: `Secret ${o.namespace}/${CA_SECRET}` }, caOpts);
  return { ca, source: { secret: CA_SECRET, created: true } };
}

async function selfSigned(secret: SecretObject, o: KubeCaOptions, caOpts: object): Promise<CertificateAuthority> {
  const source = `Secret ${o.namespace}/${CA_SECRET}`;
  const pem = requireKeys(secret, source, [CA_SECRET_KEYS.caCert, CA_SECRET_KEYS.caKey]);
  const ca = await CertificateAuthority.fromPem({ caCert: pem[CA_SECRET_KEYS.caCert]!, caKey: pem[CA_SECRET_KEYS.caKey]!, source } satisfies CaPem, caOpts);
  (o.log ?? (() => {}))(`ca: self-signed root from ${source}`);
  return ca;
}

interface SecretObject {
  data?: Record<string, string>;
}

async function getSecret(client: KubeClient, namespace: string, name: string): Promise<SecretObject | undefined> {
  try {
    return await client.get<SecretObject>(`/api/v1/namespaces/${encodeURIComponent(namespace)}/secrets/${encodeURIComponent(name)}`);
  } catch (e) {
    if (e instanceof KubeApiError && e.statusCode === 404) return undefined;
    throw new Error(`cannot read Secret ${namespace}/${name} for the CA: ${(e as Error).message}${hint(e)}`);
  }
}

/** The Secret's data decoded; throws naming the Secret and the missing keys. */
function requireKeys(secret: SecretObject, source: string, keys: string[]): Record<string, string> {
  const data: Record<string, string> = {};
  for (const [k, v] of Object.entries(secret.data ?? {})) data[k] = Buffer.from(v, 'base64').toString('utf8');
  const missing = keys.filter((k) => !data[k]?.trim());
  if (missing.length) throw new Error(`${source}: key ${missing.join(', ')} is missing or empty (it needs ${keys.join(', ')}); fix the Secret, or delete it to ${source.endsWith(CA_SECRET) ? 'have a new root created (workloads then need new certificates)' : 'use the self-signed CA'}`);
  return data;
}

function b64(s: string): string {
  return Buffer.from(s, 'utf8').toString('base64');
}

function hint(e: unknown): string {
  return e instanceof KubeApiError && e.statusCode === 403 ? ` (istiod's ServiceAccount needs get/create on secrets in its namespace: apply tsmesh install's Role)` : '';
}
