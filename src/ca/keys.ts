/**
 * Keys and PEM for the CA: generating CA/serving keys, importing a PEM private key of any usual
 * encoding (PKCS#8, SEC1 "EC PRIVATE KEY", PKCS#1 "RSA PRIVATE KEY" as openssl and Istio's tools
 * write them) into WebCrypto for @peculiar/x509, and splitting PEM bundles.
 */
import { createPrivateKey, createPublicKey, webcrypto, X509Certificate, type KeyObject } from 'node:crypto';

/** Which key the CA generates for itself and for the control plane's serving certificate. */
export type KeyAlgorithm = 'ECDSA' | 'RSA';

/** A private key usable for signing certificates, with the matching signature algorithm. */
export interface SigningKey {
  key: webcrypto.CryptoKey;
  /** For X509CertificateGenerator's signingAlgorithm. */
  algorithm: { name: string; hash: string };
  keyObject: KeyObject;
}

const subtle = webcrypto.subtle;

/** Generates an extractable key pair: ECDSA P-256 or RSA 2048 (Istio's two choices). */
export async function generateKeyPair(alg: KeyAlgorithm): Promise<webcrypto.CryptoKeyPair> {
  const params =
    alg === 'RSA'
      ? { name: 'RSASSA-PKCS1-v1_5', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' }
      : { name: 'ECDSA', namedCurve: 'P-256' };
  return (await subtle.generateKey(params, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
}

/** PKCS#8 PEM of a WebCrypto private key. */
export async function privateKeyPem(key: webcrypto.CryptoKey): Promise<string> {
  const der = Buffer.from(await subtle.exportKey('pkcs8', key));
  return toPem('PRIVATE KEY', der);
}

/** Wraps DER in PEM armour (64-column base64). */
export function toPem(label: string, der: Uint8Array): string {
  const b64 = Buffer.from(der).toString('base64').replace(/.{1,64}/g, '$&\n');
  return `-----BEGIN ${label}-----\n${b64}-----END ${label}-----\n`;
}

/** Imports a PEM private key for signing. Throws an Error saying what is wrong. */
export async function importSigningKey(pem: string): Promise<SigningKey> {
  const keyObject = createPrivateKey(pem);
  const der = keyObject.export({ format: 'der', type: 'pkcs8' });
  if (keyObject.asymmetricKeyType === 'ec') {
    const curve = keyObject.asymmetricKeyDetails?.namedCurve;
    const named = curve === 'prime256v1' ? 'P-256' : curve === 'secp384r1' ? 'P-384' : undefined;
    if (!named) throw new Error(`unsupported EC curve ${curve} (use P-256 or P-384)`);
    const hash = named === 'P-384' ? 'SHA-384' : 'SHA-256';
    const key = await subtle.importKey('pkcs8', der, { name: 'ECDSA', namedCurve: named }, false, ['sign']);
    return { key, algorithm: { name: 'ECDSA', hash }, keyObject };
  }
  if (keyObject.asymmetricKeyType === 'rsa') {
    const key = await subtle.importKey('pkcs8', der, { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' }, false, ['sign']);
    return { key, algorithm: { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' }, keyObject };
  }
  throw new Error(`unsupported key type ${keyObject.asymmetricKeyType} (use EC or RSA)`);
}

/** True when the private key belongs to the certificate. */
export function keyMatchesCertificate(key: KeyObject, cert: X509Certificate): boolean {
  const a = createPublicKey(key).export({ format: 'der', type: 'spki' });
  const b = cert.publicKey.export({ format: 'der', type: 'spki' });
  return a.equals(b);
}

/** Splits a PEM bundle into its CERTIFICATE blocks (each ending with a newline, as Istio sends them). */
export function splitPemCertificates(pem: string): string[] {
  return (pem.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? []).map((b) => b + '\n');
}

/** Parses every certificate of a PEM bundle. Throws naming the block that does not parse. */
export function parseCertificates(pem: string): X509Certificate[] {
  return splitPemCertificates(pem).map((block, i) => {
    try {
      return new X509Certificate(block);
    } catch (err) {
      throw new Error(`certificate #${i + 1} does not parse: ${(err as Error).message}`);
    }
  });
}
