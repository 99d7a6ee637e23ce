/**
 * The certificate authority (Istio's Citadel role): a signing certificate and key, either a
 * self-signed root kept in the control plane's state directory or Istio's plug-in CA layout
 * (cacerts), and the two things signed with them: SPIFFE workload certificates from CSRs and the
 * control plane's own serving certificate. Who may ask for what is the CSR server's business
 * (server.ts); this module only checks that a CSR names exactly the identity it is given.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { randomBytes, X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { x509 } from './x509.ts';
import { CaConfigError, CsrIdentityError, CsrMalformedError } from './errors.ts';
import {
  generateKeyPair,
  importSigningKey,
  keyMatchesCertificate,
  parseCertificates,
  privateKeyPem,
  splitPemCertificates,
  type KeyAlgorithm,
  type SigningKey,
} from './keys.ts';
import { spiffeId, type WorkloadIdentity } from './spiffe.ts';

export interface CertificateAuthorityOptions {
  /** The control plane's state directory; the self-signed root lives in `<stateDir>/ca/`. */
  stateDir: string;
  /** Istio's plug-in CA directory (ca-cert.pem, ca-key.pem, root-cert.pem, cert-chain.pem). */
  cacertsDir?: string;
  trustDomain?: string;
  /** Lifetime of a workload certificate when the CSR asks for none (Istio: 24 h). */
  workloadCertTtlSeconds?: number;
  /** Longest lifetime a CSR may get (Istio's MAX_WORKLOAD_CERT_TTL: 90 days). */
  maxWorkloadCertTtlSeconds?: number;
  /** Key type for a generated root and for the serving certificate. */
  keyAlgorithm?: KeyAlgorithm;
}

/** Files of the self-signed CA in `<stateDir>/ca/`. */
export const CA_STATE_FILES = { rootCert: 'root-cert.pem', caKey: 'ca-key.pem', extraRoots: 'extra-roots.pem' } as const;
/** Istio's plug-in CA layout (the `cacerts` secret). */
export const PLUGIN_CA_FILES = { caCert: 'ca-cert.pem', caKey: 'ca-key.pem', rootCert: 'root-cert.pem', certChain: 'cert-chain.pem' } as const;

const ROOT_LIFETIME_SECONDS = 10 * 365 * 86400;
const SERVER_CERT_TTL_SECONDS = 365 * 86400;
const OID_SAN = '2.5.29.17';

/** What signs: the signing certificate, its key, the certificates between it and the root. */
interface Signer {
  cert: x509.X509Certificate;
  node: X509Certificate;
  key: SigningKey;
  /** PEM, the signing certificate first, excluding the root. Empty when the root signs. */
  intermediates: string[];
  /** PEM of the root the chain ends at. */
  root: string;
}

export class CertificateAuthority {
  readonly trustDomain: string;
  readonly workloadCertTtlSeconds: number;
  readonly maxWorkloadCertTtlSeconds: number;
  readonly keyAlgorithm: KeyAlgorithm;
  readonly #signer: Signer;
  readonly #roots: string[];

  private constructor(opts: Required<Omit<CertificateAuthorityOptions, 'cacertsDir' | 'stateDir'>>, signer: Signer, roots: string[]) {
    this.trustDomain = opts.trustDomain;
    this.workloadCertTtlSeconds = opts.workloadCertTtlSeconds;
    this.maxWorkloadCertTtlSeconds = opts.maxWorkloadCertTtlSeconds;
    this.keyAlgorithm = opts.keyAlgorithm;
    this.#signer = signer;
    this.#roots = roots;
  }

  /**
   * Loads the CA: the plug-in layout when `cacertsDir` is given, else the self-signed root in
   * `<stateDir>/ca/`, created on first start. Throws CaConfigError naming the file at fault.
   */
  static async load(opts: CertificateAuthorityOptions): Promise<CertificateAuthority> {
    const o = normalizeOptions(opts);
    const signer = opts.cacertsDir ? await loadPluginCa(opts.cacertsDir) : await loadOrCreateSelfSigned(join(opts.stateDir, 'ca'), o.trustDomain, o.keyAlgorithm);
    const roots = [signer.root];
    const addRoots = (pem: string) => {
      for (const r of splitPemCertificates(pem)) if (!roots.some((have) => sameCert(have, r))) roots.push(r);
    };
    if (opts.cacertsDir) addRoots(readFileSync(join(opts.cacertsDir, PLUGIN_CA_FILES.rootCert), 'utf8'));
    const extra = join(opts.stateDir, 'ca', CA_STATE_FILES.extraRoots);
    if (existsSync(extra)) {
      const pem = readFileSync(extra, 'utf8');
      try {
        if (parseCertificates(pem).length === 0) throw new Error('no PEM certificate in it');
      } catch (err) {
        throw new CaConfigError(extra, `${(err as Error).message} (it should hold extra trusted root certificates in PEM)`);
      }
      addRoots(pem);
    }
    return new CertificateAuthority(o, signer, roots);
  }

  /**
   * The CA from PEM text kept elsewhere (Kubernetes mode: the `istio-ca-secret` or `cacerts`
   * Secret), checked as load() checks files. With `rootCert` it is Istio's plug-in layout
   * (cert-chain defaults to ca-cert); without, ca-cert must be a self-signed root. Errors name
   * `<source> key <file name>`.
   */
  static async fromPem(pem: CaPem, opts: Omit<CertificateAuthorityOptions, 'stateDir' | 'cacertsDir'> = {}): Promise<CertificateAuthority> {
    const o = normalizeOptions(opts);
    const at = (file: string) => `${pem.source} key ${file}`;
    const signer = pem.rootCert?.trim()
      ? await pluginSigner({
          caCert: { name: at(PLUGIN_CA_FILES.caCert), pem: pem.caCert },
          caKey: { name: at(PLUGIN_CA_FILES.caKey), pem: pem.caKey },
          certChain: pem.certChain?.trim() ? { name: at(PLUGIN_CA_FILES.certChain), pem: pem.certChain } : { name: at(PLUGIN_CA_FILES.caCert), pem: pem.caCert },
          rootCert: { name: at(PLUGIN_CA_FILES.rootCert), pem: pem.rootCert },
        })
      : await selfSignedSigner({ name: at(PLUGIN_CA_FILES.caCert), pem: pem.caCert }, { name: at(PLUGIN_CA_FILES.caKey), pem: pem.caKey });
    const roots = [signer.root];
    for (const r of splitPemCertificates(pem.rootCert ?? '')) if (!roots.some((have) => sameCert(have, r))) roots.push(r);
    return new CertificateAuthority(o, signer, roots);
  }

  /** PEM of the root that anchors the certificates this CA issues now. */
  rootPem(): string {
    return this.#signer.root;
  }

  /** PEM of every trusted root: the current one first, then the others (a rotation's overlap). */
  rootsPem(): string {
    return this.#roots.join('');
  }

  /**
   * Signs a workload CSR for `identity` and returns the chain, one PEM certificate per element:
   * the leaf, the intermediates, then the root (Istio's CreateCertificate response), then any
   * other trusted root (a rotation's overlap; every self-signed element is a root). The CSR's
   * URI SANs must be exactly the identity's SPIFFE ID. Throws CsrMalformedError or
   * CsrIdentityError.
   */
  async sign(csrPem: string, identity: WorkloadIdentity, ttlSeconds?: number): Promise<string[]> {
    const allowed = spiffeId(this.trustDomain, identity);
    const csr = await parseCsr(csrPem);
    const requested = csrSans(csr);
    if (requested.length !== 1 || requested[0] !== `URI:${allowed}`) throw new CsrIdentityError(requested, allowed);

    const ttl = Math.min(ttlSeconds && ttlSeconds > 0 ? ttlSeconds : this.workloadCertTtlSeconds, this.maxWorkloadCertTtlSeconds);
    const leaf = await this.#issue({
      publicKey: csr.publicKey,
      ttlSeconds: ttl,
      sans: [{ type: 'url', value: allowed }],
    });
    // Every trusted root, the anchoring one first: during a rotation's overlap, workloads learn
    // the whole trust bundle from here (as Istio appends all of root-cert.pem).
    return [leaf, ...this.#signer.intermediates, ...this.#roots];
  }

  /**
   * The control plane's serving certificate (istiod's :15012) with a fresh key: DNS and IP SANs,
   * serverAuth. `chainPem` is the leaf and the intermediates, as a TLS server sends them.
   */
  async serverCertificate(opts: { dnsNames: string[]; ips?: string[]; ttlSeconds?: number }): Promise<{ chainPem: string; keyPem: string }> {
    const keys = await generateKeyPair(this.keyAlgorithm);
    const sans: x509.JsonGeneralName[] = [
      ...opts.dnsNames.map((value) => ({ type: 'dns' as const, value })),
      ...(opts.ips ?? []).map((value) => {
        if (!isIP(value)) throw new Error(`serverCertificate: ${JSON.stringify(value)} is not an IP address`);
        return { type: 'ip' as const, value };
      }),
    ];
    if (sans.length === 0) throw new Error('serverCertificate: give at least one DNS name or IP');
    const leaf = await this.#issue({ publicKey: keys.publicKey, ttlSeconds: opts.ttlSeconds ?? SERVER_CERT_TTL_SECONDS, sans, subjectCn: opts.dnsNames[0] });
    return { chainPem: [leaf, ...this.#signer.intermediates].join(''), keyPem: await privateKeyPem(keys.privateKey) };
  }

  async #issue(p: { publicKey: x509.PublicKey | CryptoKey; ttlSeconds: number; sans: x509.JsonGeneralName[]; subjectCn?: string }): Promise<string> {
    const s = this.#signer;
    const now = Date.now();
    // Backdated for clock skew between CA and peers, by a small fraction of short lifetimes so
    // that a rotation at half the lifetime stays in the future.
    const backdateMs = Math.min(60, Math.floor(p.ttlSeconds / 10)) * 1000;
    const notAfter = Math.min(now + p.ttlSeconds * 1000, s.cert.notAfter.getTime());
    const ski = s.cert.getExtension(x509.SubjectKeyIdentifierExtension);
    const aki = ski
      ? new x509.AuthorityKeyIdentifierExtension(ski.keyId)
      : await x509.AuthorityKeyIdentifierExtension.create(s.cert.publicKey);
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: randomSerial(),
      // Workload certificates have an empty subject (so the SAN is critical, RFC 5280 4.2.1.6).
      subject: p.subjectCn ? [{ CN: [p.subjectCn] }] : undefined,
      issuer: s.cert.subjectName,
      notBefore: new Date(now - backdateMs),
      notAfter: new Date(notAfter),
      publicKey: p.publicKey as x509.PublicKey,
      signingKey: s.key.key as CryptoKey,
      signingAlgorithm: s.key.algorithm,
      extensions: [
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]),
        new x509.BasicConstraintsExtension(false, undefined, true),
        aki,
        new x509.SubjectAlternativeNameExtension(p.sans, !p.subjectCn),
      ],
    });
    return cert.toString('pem') + '\n';
  }
}

/** PEM text of a CA kept outside the state directory (see CertificateAuthority.fromPem). */
export interface CaPem {
  caCert: string;
  caKey: string;
  certChain?: string;
  rootCert?: string;
  /** Where the PEMs came from, for errors: "Secret istio-system/istio-ca-secret". */
  source: string;
}

function normalizeOptions(opts: Omit<CertificateAuthorityOptions, 'stateDir' | 'cacertsDir'>): Required<Omit<CertificateAuthorityOptions, 'cacertsDir' | 'stateDir'>> {
  const o = {
    trustDomain: opts.trustDomain ?? 'cluster.local',
    workloadCertTtlSeconds: opts.workloadCertTtlSeconds ?? 86400,
    maxWorkloadCertTtlSeconds: opts.maxWorkloadCertTtlSeconds ?? 90 * 86400,
    keyAlgorithm: opts.keyAlgorithm ?? 'ECDSA',
  };
  if (!(o.workloadCertTtlSeconds > 0) || !(o.maxWorkloadCertTtlSeconds >= o.workloadCertTtlSeconds)) {
    throw new Error(`CA: workloadCertTtlSeconds (${o.workloadCertTtlSeconds}) must be > 0 and <= maxWorkloadCertTtlSeconds (${o.maxWorkloadCertTtlSeconds})`);
  }
  return o;
}

/** 128 random bits, positive and with a non-zero first byte (a 16-byte DER INTEGER). */
function randomSerial(): string {
  const b = randomBytes(16);
  b[0] = (b[0]! & 0x7f) | 0x01;
  return b.toString('hex');
}

function sameCert(a: string, b: string): boolean {
  return new X509Certificate(a).raw.equals(new X509Certificate(b).raw);
}

async function parseCsr(pem: string): Promise<x509.Pkcs10CertificateRequest> {
  if (typeof pem !== 'string' || !pem.includes('-----BEGIN CERTIFICATE REQUEST-----')) {
    throw new CsrMalformedError('not a PEM certificate request (expected -----BEGIN CERTIFICATE REQUEST-----)');
  }
  let csr: x509.Pkcs10CertificateRequest;
  try {
    csr = new x509.Pkcs10CertificateRequest(pem);
  } catch (err) {
    throw new CsrMalformedError(`PKCS#10 does not parse: ${(err as Error).message}`);
  }
  let algorithm: string;
  try {
    algorithm = keyDescription(csr.publicKey);
  } catch (err) {
    throw new CsrMalformedError((err as Error).message);
  }
  let ok = false;
  try {
    ok = await csr.verify();
  } catch (err) {
    throw new CsrMalformedError(`signature cannot be checked (${algorithm}): ${(err as Error).message}`);
  }
  if (!ok) throw new CsrMalformedError('signature does not verify: the CSR was not signed by the key it carries');
  return csr;
}

/** "EC P-256" or "RSA 2048"; throws for keys workloads should not have. */
function keyDescription(pub: x509.PublicKey): string {
  const alg = pub.algorithm as { name: string; namedCurve?: string; modulusLength?: number };
  if (alg.name === 'ECDSA' || alg.name === 'EC') {
    if (alg.namedCurve === 'P-256' || alg.namedCurve === 'P-384') return `EC ${alg.namedCurve}`;
    throw new Error(`unsupported EC curve ${alg.namedCurve ?? '(unknown)'}: workload keys are ECDSA P-256 or RSA 2048+`);
  }
  if (alg.name.startsWith('RSA')) {
    if ((alg.modulusLength ?? 0) >= 2048) return `RSA ${alg.modulusLength}`;
    throw new Error(`RSA key of ${alg.modulusLength} bits is too small: workload keys are ECDSA P-256 or RSA 2048+`);
  }
  throw new Error(`unsupported key algorithm ${alg.name}: workload keys are ECDSA P-256 or RSA 2048+`);
}

/** Every SAN of the CSR as "URI:...", "DNS:...", "IP:...". */
function csrSans(csr: x509.Pkcs10CertificateRequest): string[] {
  const ext = csr.getExtension(OID_SAN);
  if (!ext) return [];
  let names: x509.JsonGeneralName[];
  try {
    names = new x509.SubjectAlternativeNameExtension(ext.rawData).names.toJSON();
  } catch (err) {
    throw new CsrMalformedError(`subjectAltName extension does not parse: ${(err as Error).message}`);
  }
  const label: Record<string, string> = { url: 'URI', dns: 'DNS', ip: 'IP', email: 'email' };
  return names.map((n) => `${label[n.type] ?? n.type}:${n.value}`);
}

/** The self-signed root in `dir`, created on first start. */
async function loadOrCreateSelfSigned(dir: string, trustDomain: string, alg: KeyAlgorithm): Promise<Signer> {
  const certFile = join(dir, CA_STATE_FILES.rootCert);
  const keyFile = join(dir, CA_STATE_FILES.caKey);
  const haveCert = existsSync(certFile);
  const haveKey = existsSync(keyFile);
  if (haveCert !== haveKey) {
    const missing = haveCert ? keyFile : certFile;
    throw new CaConfigError(missing, `is missing while ${haveCert ? certFile : keyFile} exists; restore it, or remove both to create a new root (workloads must then get new certificates)`);
  }
  if (!haveCert) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const root = await generateSelfSignedRoot(trustDomain, alg);
    // Key first, certificate last: a root-cert.pem on disk means the pair is complete.
    writeAtomically(keyFile, root.keyPem, 0o600);
    writeAtomically(certFile, root.certPem, 0o644);
  }
  return selfSignedSigner({ name: certFile, pem: readFileSync(certFile, 'utf8') }, { name: keyFile, pem: readFileSync(keyFile, 'utf8') });
}

/** A new self-signed root (10 years) and its key, as PEM: Istio's self-signed CA. */
export async function generateSelfSignedRoot(trustDomain: string, alg: KeyAlgorithm = 'ECDSA'): Promise<{ certPem: string; keyPem: string }> {
  const keys = await generateKeyPair(alg);
  const now = Date.now();
  const root = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    // Istio's self-signed CA names itself by the trust domain, as O=.
    name: [{ O: [trustDomain] }],
    notBefore: new Date(now - 5 * 60_000),
    notAfter: new Date(now + ROOT_LIFETIME_SECONDS * 1000),
    keys: keys as CryptoKeyPair,
    signingAlgorithm: alg === 'RSA' ? { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' } : { name: 'ECDSA', hash: 'SHA-256' },
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey as CryptoKey),
    ],
  });
  return { certPem: root.toString('pem') + '\n', keyPem: await privateKeyPem(keys.privateKey) };
}

/** A PEM and what to call it in errors (a file path, or a Secret's key). */
interface NamedPem {
  name: string;
  pem: string;
}

/** A self-signed root that signs directly. */
async function selfSignedSigner(cert: NamedPem, keyPem: NamedPem): Promise<Signer> {
  const chain = readCerts(cert.name, cert.pem);
  const key = await readKey(keyPem.name, keyPem.pem);
  const node = chain[0]!;
  if (!keyMatchesCertificate(key.keyObject, node)) throw new CaConfigError(keyPem.name, `does not match the public key of ${cert.name}`);
  checkIsCa(cert.name, node);
  const pem = splitPemCertificates(cert.pem)[0]!;
  return { cert: new x509.X509Certificate(pem), node, key, intermediates: [], root: pem };
}

/** Istio's plug-in CA layout: sign with ca-cert/ca-key, serve cert-chain up to root-cert. */
async function loadPluginCa(dir: string): Promise<Signer> {
  const f = Object.fromEntries(Object.entries(PLUGIN_CA_FILES).map(([k, v]) => [k, join(dir, v)])) as Record<keyof typeof PLUGIN_CA_FILES, string>;
  for (const file of Object.values(f)) {
    if (!existsSync(file)) {
      throw new CaConfigError(file, `is missing (Istio's plug-in CA layout needs ${Object.values(PLUGIN_CA_FILES).join(', ')} in ${dir})`);
    }
  }
  const read = (name: string): NamedPem => ({ name, pem: readFileSync(name, 'utf8') });
  return pluginSigner({ caCert: read(f.caCert), caKey: read(f.caKey), certChain: read(f.certChain), rootCert: read(f.rootCert) });
}

async function pluginSigner(f: Record<keyof typeof PLUGIN_CA_FILES, NamedPem>): Promise<Signer> {
  const caCertPem = f.caCert.pem;
  const caCert = readCerts(f.caCert.name, caCertPem)[0]!;
  const key = await readKey(f.caKey.name, f.caKey.pem);
  if (!keyMatchesCertificate(key.keyObject, caCert)) throw new CaConfigError(f.caKey.name, `does not match the public key of ${f.caCert.name}`);
  checkIsCa(f.caCert.name, caCert);

  const chainPems = splitPemCertificates(f.certChain.pem);
  const chain = readCerts(f.certChain.name, chainPems.join(''));
  if (!chain[0]!.raw.equals(caCert.raw)) {
    throw new CaConfigError(f.certChain.name, `must begin with the certificate in ${f.caCert.name} (found ${dn(chain[0]!)})`);
  }
  const rootPems = splitPemCertificates(f.rootCert.pem);
  const roots = readCerts(f.rootCert.name, rootPems.join(''));

  for (let i = 0; i + 1 < chain.length; i++) {
    if (!signedBy(chain[i]!, chain[i + 1]!)) {
      throw new CaConfigError(f.certChain.name, `certificate #${i + 1} (${dn(chain[i]!)}) is not signed by certificate #${i + 2} (${dn(chain[i + 1]!)})`);
    }
  }
  // The chain may end with the root itself or with a certificate a root signed.
  const last = chain[chain.length - 1]!;
  const anchor = roots.findIndex((r) => r.raw.equals(last.raw)) >= 0 ? roots.findIndex((r) => r.raw.equals(last.raw)) : roots.findIndex((r) => signedBy(last, r));
  if (anchor < 0) {
    throw new CaConfigError(f.rootCert.name, `holds no root that ${f.certChain.name} leads to (its last certificate ${dn(last)} is issued by ${(last.issuer ?? '').replace(/\n/g, ', ')})`);
  }
  const intermediates = chainPems.filter((_, i) => !roots.some((r) => r.raw.equals(chain[i]!.raw)));
  return { cert: new x509.X509Certificate(caCertPem), node: caCert, key, intermediates, root: rootPems[anchor]! };
}

function readCerts(file: string, pem: string): X509Certificate[] {
  let certs: X509Certificate[];
  try {
    certs = parseCertificates(pem);
  } catch (err) {
    throw new CaConfigError(file, (err as Error).message);
  }
  if (certs.length === 0) throw new CaConfigError(file, 'holds no PEM certificate (-----BEGIN CERTIFICATE-----)');
  for (const c of certs) {
    if (new Date(c.validTo).getTime() < Date.now()) throw new CaConfigError(file, `certificate ${dn(c)} expired on ${c.validTo}`);
  }
  return certs;
}

async function readKey(file: string, pem: string): Promise<SigningKey> {
  try {
    return await importSigningKey(pem);
  } catch (err) {
    throw new CaConfigError(file, `is not a usable PEM private key: ${(err as Error).message}`);
  }
}

function checkIsCa(file: string, cert: X509Certificate): void {
  if (!cert.ca) throw new CaConfigError(file, `certificate ${dn(cert)} is not a CA certificate (basicConstraints CA:TRUE is missing)`);
}

function signedBy(child: X509Certificate, parent: X509Certificate): boolean {
  return child.checkIssued(parent) && child.verify(parent.publicKey);
}

function dn(c: X509Certificate): string {
  // node 20 gives undefined for an empty subject.
  return (c.subject ?? '').replace(/\n/g, ', ') || '(empty subject)';
}

function writeAtomically(file: string, data: string, mode: number): void {
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, data, { mode });
  renameSync(tmp, file);
}
