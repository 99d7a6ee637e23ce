/**
 * The certificates and keys of a local Kubernetes cluster, as kubeadm lays them out: a cluster CA
 * (it signs the API server's serving certificate, the client certificates, and CSRs through the
 * controller manager's cluster signer), a front-proxy CA for the aggregation layer, and the
 * service-account token signing key pair. EC P-256 throughout: fast to make, and Kubernetes
 * accepts it everywhere (ES256 service-account tokens included).
 */
import { randomBytes, webcrypto } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { x509 } from '../../ca/x509.ts';
import { generateKeyPair, privateKeyPem, toPem } from '../../ca/keys.ts';

/** Files written by makeClusterPki (all PEM). */
export interface ClusterPki {
  dir: string;
  caCert: string;
  caKey: string;
  caPem: string;
  apiserverCert: string;
  apiserverKey: string;
  frontProxyCaCert: string;
  frontProxyClientCert: string;
  frontProxyClientKey: string;
  saKey: string;
  saPub: string;
  /** Client certificates by name: admin (O=system:masters), kube-controller-manager. */
  clients: Record<'admin' | 'kube-controller-manager', { cert: string; key: string; certPem: string; keyPem: string }>;
}

const ALG = { name: 'ECDSA', hash: 'SHA-256' };
const YEAR_MS = 365 * 24 * 3600 * 1000;

/** 128 random bits, positive (a 16-byte DER INTEGER). */
function serial(): string {
  const b = randomBytes(16);
  b[0] = (b[0]! & 0x7f) | 0x01;
  return b.toString('hex');
}

interface Ca {
  cert: x509.X509Certificate;
  key: webcrypto.CryptoKey;
}

async function makeCa(cn: string): Promise<Ca & { keyPem: string }> {
  const keys = await generateKeyPair('ECDSA');
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: [{ CN: [cn] }],
    notBefore: new Date(now - 5 * 60_000),
    notAfter: new Date(now + 10 * YEAR_MS),
    keys: keys as CryptoKeyPair,
    signingAlgorithm: ALG,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey as CryptoKey),
    ],
  });
  return { cert, key: keys.privateKey, keyPem: await privateKeyPem(keys.privateKey) };
}

async function issue(
  ca: Ca,
  p: { cn: string; o?: string[]; usage: 'server' | 'client'; dns?: string[]; ips?: string[] },
): Promise<{ certPem: string; keyPem: string }> {
  const keys = await generateKeyPair('ECDSA');
  const now = Date.now();
  const ski = ca.cert.getExtension(x509.SubjectKeyIdentifierExtension)!;
  const sans: x509.JsonGeneralName[] = [
    ...(p.dns ?? []).map((value) => ({ type: 'dns' as const, value })),
    ...(p.ips ?? []).map((value) => ({ type: 'ip' as const, value })),
  ];
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    // Kubernetes reads a client certificate's CN as the user name and each O as a group.
    subject: [{ CN: [p.cn], ...(p.o ? { O: p.o } : {}) }],
    issuer: ca.cert.subjectName,
    notBefore: new Date(now - 5 * 60_000),
    notAfter: new Date(now + YEAR_MS),
    publicKey: keys.publicKey as CryptoKey,
    signingKey: ca.key as CryptoKey,
    signingAlgorithm: ALG,
    extensions: [
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
      new x509.ExtendedKeyUsageExtension([p.usage === 'server' ? x509.ExtendedKeyUsage.serverAuth : x509.ExtendedKeyUsage.clientAuth]),
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.AuthorityKeyIdentifierExtension(ski.keyId),
      ...(sans.length > 0 ? [new x509.SubjectAlternativeNameExtension(sans)] : []),
    ],
  });
  return { certPem: cert.toString('pem') + '\n', keyPem: await privateKeyPem(keys.privateKey) };
}

/** The names the API server answers to: loopback, and the in-cluster `kubernetes` Service. */
export const APISERVER_DNS_NAMES = ['localhost', 'kubernetes', 'kubernetes.default', 'kubernetes.default.svc', 'kubernetes.default.svc.cluster.local'];

/**
 * Writes a fresh PKI into `dir` (created, mode 0700). `serviceIp` is the `kubernetes` Service's
 * ClusterIP (the first address of the service range), which in-cluster clients dial.
 */
export async function makeClusterPki(dir: string, serviceIp = '10.96.0.1'): Promise<ClusterPki> {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const write = (name: string, pem: string, mode = 0o600) => {
    const file = join(dir, name);
    writeFileSync(file, pem, { mode });
    return file;
  };
  const ca = await makeCa('tsmesh-kube-ca');
  const caPem = ca.cert.toString('pem') + '\n';
  const server = await issue(ca, { cn: 'kube-apiserver', usage: 'server', dns: APISERVER_DNS_NAMES, ips: ['127.0.0.1', serviceIp] });
  const admin = await issue(ca, { cn: 'kubernetes-admin', o: ['system:masters'], usage: 'client' });
  const kcm = await issue(ca, { cn: 'system:kube-controller-manager', usage: 'client' });
  const fp = await makeCa('tsmesh-kube-front-proxy-ca');
  const fpClient = await issue(fp, { cn: 'front-proxy-client', usage: 'client' });
  const sa = await generateKeyPair('ECDSA');
  const saPub = toPem('PUBLIC KEY', new Uint8Array(await webcrypto.subtle.exportKey('spki', sa.publicKey)));
  const client = (name: string, c: { certPem: string; keyPem: string }) => ({
    cert: write(`${name}.crt`, c.certPem, 0o644),
    key: write(`${name}.key`, c.keyPem),
    ...c,
  });
  return {
    dir,
    caCert: write('ca.crt', caPem, 0o644),
    caKey: write('ca.key', ca.keyPem),
    caPem,
    apiserverCert: write('apiserver.crt', server.certPem, 0o644),
    apiserverKey: write('apiserver.key', server.keyPem),
    frontProxyCaCert: write('front-proxy-ca.crt', fp.cert.toString('pem') + '\n', 0o644),
    frontProxyClientCert: write('front-proxy-client.crt', fpClient.certPem, 0o644),
    frontProxyClientKey: write('front-proxy-client.key', fpClient.keyPem),
    saKey: write('sa.key', await privateKeyPem(sa.privateKey)),
    saPub: write('sa.pub', saPub, 0o644),
    clients: { admin: client('admin', admin), 'kube-controller-manager': client('kube-controller-manager', kcm) },
  };
}
