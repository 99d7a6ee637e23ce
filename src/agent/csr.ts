/**
 * The workload's key and certificate signing request, made in this process (Istio's agent:
 * the private key never leaves the pod). ECDSA P-256 by default, RSA 2048 on request; the CSR
 * carries the SPIFFE ID as its only URI SAN, which is all the CA signs.
 */
import { x509 } from '../ca/x509.ts';
import { generateKeyPair, privateKeyPem, type KeyAlgorithm } from '../ca/keys.ts';

export type { KeyAlgorithm };

export interface WorkloadCsr {
  csrPem: string;
  /** PKCS#8 PEM of the new private key; held in memory only. */
  keyPem: string;
}

/** A fresh key pair and a CSR for `spiffeId` signed with it. */
export async function createWorkloadCsr(spiffeId: string, algorithm: KeyAlgorithm = 'ECDSA'): Promise<WorkloadCsr> {
  const keys = await generateKeyPair(algorithm);
  const signingAlgorithm = algorithm === 'RSA' ? { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' } : { name: 'ECDSA', hash: 'SHA-256' };
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    keys: keys as unknown as CryptoKeyPair,
    signingAlgorithm,
    extensions: [new x509.SubjectAlternativeNameExtension([{ type: 'url', value: spiffeId }], true)],
  });
  return { csrPem: csr.toString('pem'), keyPem: await privateKeyPem(keys.privateKey) };
}
