/**
 * Test material for the CA: CSRs made the way an agent makes them (WebCrypto key, empty subject,
 * one URI SAN), made by openssl as an independent check, and an Istio plug-in CA layout made
 * with openssl (root -> intermediate) in a temp directory.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { webcrypto, X509Certificate } from 'node:crypto';
import { x509 } from '../../src/ca/x509.ts';

/** A CSR with the given SANs (URIs unless typed) and its key. */
export async function makeCsr(
  sans: Array<string | x509.JsonGeneralName>,
  alg: 'ECDSA' | 'RSA' = 'ECDSA',
): Promise<{ csrPem: string; keyPair: webcrypto.CryptoKeyPair }> {
  const params =
    alg === 'RSA'
      ? { name: 'RSASSA-PKCS1-v1_5', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' }
      : { name: 'ECDSA', namedCurve: 'P-256' };
  const keyPair = (await webcrypto.subtle.generateKey(params, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const names = sans.map((s) => (typeof s === 'string' ? { type: 'url' as const, value: s } : s));
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    keys: keyPair as CryptoKeyPair,
    signingAlgorithm: alg === 'RSA' ? { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' } : { name: 'ECDSA', hash: 'SHA-256' },
    extensions: names.length ? [new x509.SubjectAlternativeNameExtension(names, true)] : [],
  });
  return { csrPem: csr.toString('pem'), keyPair };
}

/** A tampered CSR: the signature no longer matches (one byte of the key's signature flipped). */
export function tamperCsr(csrPem: string): string {
  const der = Buffer.from(csrPem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64');
  der[der.length - 5] ^= 0xff;
  return `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`;
}

export function openssl(args: string[], cwd: string, input?: string): string {
  return execFileSync('openssl', args, { cwd, input, stdio: ['pipe', 'pipe', 'pipe'] }).toString();
}

/** Istio's plug-in layout made with openssl: root (RSA) -> intermediate (EC, SEC1 key). */
export function makePluginCa(): { dir: string; rootPem: string; intermediatePem: string; dispose(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'tsmesh-cacerts-'));
  writeFileSync(
    join(dir, 'ext.cnf'),
    `[req]\ndistinguished_name=dn\n[dn]\n[v3_root]\nbasicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\n` +
      `[v3_int]\nbasicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign,digitalSignature\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid:always\n`,
  );
  openssl(['req', '-x509', '-new', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'root-key.pem', '-out', 'root-cert.pem', '-days', '3', '-subj', '/O=Istio/CN=Root CA', '-config', 'ext.cnf', '-extensions', 'v3_root'], dir);
  openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'ca-key.pem'], dir);
  openssl(['req', '-new', '-key', 'ca-key.pem', '-out', 'ca.csr', '-subj', '/O=Istio/CN=Intermediate CA/L=cluster1', '-config', 'ext.cnf'], dir);
  openssl(['x509', '-req', '-in', 'ca.csr', '-CA', 'root-cert.pem', '-CAkey', 'root-key.pem', '-CAcreateserial', '-out', 'ca-cert.pem', '-days', '2', '-extfile', 'ext.cnf', '-extensions', 'v3_int'], dir);
  const rootPem = openssl(['x509', '-in', 'root-cert.pem'], dir);
  const intermediatePem = openssl(['x509', '-in', 'ca-cert.pem'], dir);
  // Istio's Makefile.selfsigned.mk: cert-chain.pem = ca-cert.pem + root-cert.pem.
  writeFileSync(join(dir, 'cert-chain.pem'), intermediatePem + rootPem);
  return { dir, rootPem, intermediatePem, dispose: () => rmSync(dir, { recursive: true, force: true }) };
}

/** node:crypto's view of each PEM in a chain. */
export function parseChain(chain: string[]): X509Certificate[] {
  return chain.map((p) => new X509Certificate(p));
}
