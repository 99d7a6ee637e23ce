/**
 * What a Kubernetes Secret holds for TLS, in the two layouts Istio reads for `credentialName`:
 * type kubernetes.io/tls (`tls.crt`, `tls.key`, optional `ca.crt`) and a generic Secret (`cert`,
 * `key`, `cacert`). `data` is base64, `stringData` plain text (it wins, as in Kubernetes).
 */
import { X509Certificate, createPrivateKey } from 'node:crypto';

export interface SecretMaterial {
  cert?: string;
  key?: string;
  ca?: string;
}

export interface SecretProblem {
  path: string;
  message: string;
}

const KEYS: Record<keyof SecretMaterial, string[]> = { cert: ['tls.crt', 'cert'], key: ['tls.key', 'key'], ca: ['ca.crt', 'cacert'] };
const BASE64 = /^[A-Za-z0-9+/\s]*={0,2}\s*$/;

/** The PEM texts a Secret's spec (type, data, stringData) holds, and what is wrong with them. */
export function secretMaterial(spec: Record<string, unknown>): { material: SecretMaterial; problems: SecretProblem[] } {
  const problems: SecretProblem[] = [];
  const values = new Map<string, { text: string; path: string }>();
  for (const field of ['data', 'stringData'] as const) {
    const m = spec[field];
    if (m === undefined || m === null) continue;
    if (typeof m !== 'object' || Array.isArray(m)) {
      problems.push({ path: field, message: 'must be a map of strings' });
      continue;
    }
    for (const [k, v] of Object.entries(m)) {
      const path = `${field}.${k}`;
      if (typeof v !== 'string') problems.push({ path, message: 'must be a string' });
      else if (field === 'data' && !BASE64.test(v)) problems.push({ path, message: 'is not valid base64 (data values are base64; put plain text under stringData)' });
      else values.set(k, { text: field === 'data' ? Buffer.from(v, 'base64').toString('utf8') : v, path });
    }
  }
  const material: SecretMaterial = {};
  for (const [what, names] of Object.entries(KEYS) as [keyof SecretMaterial, string[]][]) {
    const found = names.map((n) => values.get(n)).find(Boolean);
    if (!found) continue;
    const why = what === 'key' ? keyProblem(found.text) : certProblem(found.text);
    if (why) problems.push({ path: found.path, message: why });
    else material[what] = found.text;
  }
  if (spec.type === 'kubernetes.io/tls' && (!values.has('tls.crt') || !values.has('tls.key'))) {
    problems.push({ path: 'data', message: 'a kubernetes.io/tls Secret needs tls.crt and tls.key' });
  }
  if (material.cert && material.key && !problems.length) {
    const mismatch = pairProblem(material.cert, material.key);
    if (mismatch) problems.push({ path: values.has('tls.key') ? 'data.tls.key' : 'data.key', message: mismatch });
  }
  return { material, problems };
}

function certProblem(pem: string): string | undefined {
  if (!pem.includes('-----BEGIN CERTIFICATE-----')) return 'is not a PEM certificate';
  try {
    new X509Certificate(pem);
    return undefined;
  } catch (e) {
    return `is not a readable certificate: ${(e as Error).message}`;
  }
}

function keyProblem(pem: string): string | undefined {
  try {
    createPrivateKey(pem);
    return undefined;
  } catch (e) {
    return `is not a readable private key: ${(e as Error).message}`;
  }
}

function pairProblem(certPem: string, keyPem: string): string | undefined {
  return new X509Certificate(certPem).checkPrivateKey(createPrivateKey(keyPem)) ? undefined : 'the private key does not belong to the certificate';
}
