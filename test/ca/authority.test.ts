/** CertificateAuthority: self-signed and plug-in roots, workload certificates as Istio issues them. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createPublicKey, webcrypto, X509Certificate } from 'node:crypto';
import { CertificateAuthority } from '../../src/ca/authority.ts';
import { CaConfigError, CsrIdentityError, CsrMalformedError } from '../../src/ca/errors.ts';
import { x509 } from '../../src/ca/x509.ts';
import { hasOpenssl } from '../helpers/certs.ts';
import { makeCsr, makePluginCa, openssl, parseChain, tamperCsr } from './helpers.ts';

const FOO = { namespace: 'foo', serviceAccount: 'httpbin' };
const FOO_ID = 'spiffe://cluster.local/ns/foo/sa/httpbin';

function tempDir(t: { after(fn: () => void): void }): string {
  const d = mkdtempSync(join(tmpdir(), 'tsmesh-ca-'));
  t.after(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

/** openssl verify on leaf + intermediates against roots; skipped when openssl is absent. */
function opensslVerify(dir: string, chain: string[], rootsPem: string): void {
  if (!hasOpenssl()) return;
  writeFileSync(join(dir, 'v-roots.pem'), rootsPem);
  writeFileSync(join(dir, 'v-untrusted.pem'), chain.slice(1, -1).join('') || chain[chain.length - 1]!);
  writeFileSync(join(dir, 'v-leaf.pem'), chain[0]!);
  const out = openssl(['verify', '-x509_strict', '-purpose', 'sslclient', '-CAfile', 'v-roots.pem', '-untrusted', 'v-untrusted.pem', 'v-leaf.pem'], dir);
  assert.match(out, /v-leaf.pem: OK/);
}

test('self-signed root: created once with Istio’s shape, key file 0600, reused on restart', async (t) => {
  const stateDir = tempDir(t);
  const ca = await CertificateAuthority.load({ stateDir });
  const root = new X509Certificate(ca.rootPem());
  assert.equal(root.subject, 'O=cluster.local');
  assert.equal(root.ca, true);
  assert.ok(root.verify(root.publicKey), 'self-signed');
  const years = (Date.parse(root.validTo) - Date.now()) / (365 * 86400_000);
  assert.ok(years > 9.9 && years < 10.1, `10-year root, got ${years}`);
  const p = new x509.X509Certificate(ca.rootPem());
  const bc = p.getExtension(x509.BasicConstraintsExtension)!;
  assert.equal(bc.ca, true);
  assert.equal(bc.critical, true);
  const ku = p.getExtension(x509.KeyUsagesExtension)!;
  assert.equal(ku.usages, x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign);
  assert.equal(ku.critical, true);
  assert.ok(p.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId);

  assert.equal(readFileSync(join(stateDir, 'ca', 'root-cert.pem'), 'utf8'), ca.rootPem());
  assert.equal(statSync(join(stateDir, 'ca', 'ca-key.pem')).mode & 0o777, 0o600);

  const { csrPem } = await makeCsr([FOO_ID]);
  const before = await ca.sign(csrPem, FOO);
  const again = await CertificateAuthority.load({ stateDir });
  assert.equal(again.rootPem(), ca.rootPem(), 'same root after restart');
  const after = await again.sign(csrPem, FOO);
  for (const chain of [before, after]) assert.ok(new X509Certificate(chain[0]!).verify(root.publicKey));
});

test('workload certificate: SPIFFE URI SAN, lifetime, key usages, EKU, CA:false, AKI; openssl verify accepts it', async (t) => {
  const stateDir = tempDir(t);
  const ca = await CertificateAuthority.load({ stateDir });
  const { csrPem, keyPair } = await makeCsr([FOO_ID]);
  const chain = await ca.sign(csrPem, FOO);
  assert.equal(chain.length, 2, 'leaf then root');
  assert.equal(chain[1], ca.rootPem());
  for (const pem of chain) assert.ok(pem.endsWith('-----END CERTIFICATE-----\n'));
  const [leaf, root] = parseChain(chain) as [X509Certificate, X509Certificate];
  assert.ok(leaf.verify(root.publicKey));
  assert.ok(leaf.checkIssued(root));
  assert.equal(leaf.subjectAltName, `URI:${FOO_ID}`);
  assert.ok(!leaf.subject, 'empty subject');
  assert.equal(leaf.ca, false);
  const spki = Buffer.from(await webcrypto.subtle.exportKey('spki', keyPair.publicKey));
  assert.ok(leaf.publicKey.export({ type: 'spki', format: 'der' }).equals(spki), 'the CSR’s public key');
  const lifetime = (Date.parse(leaf.validTo) - Date.now()) / 1000;
  assert.ok(Math.abs(lifetime - 86400) < 120, `24 h by default, got ${lifetime} s`);
  assert.ok(Date.parse(leaf.validFrom) < Date.now() - 30_000, 'notBefore backdated for clock skew');
  assert.deepEqual([...(leaf.keyUsage ?? [])].sort(), ['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2']);

  const p = new x509.X509Certificate(chain[0]!);
  const ku = p.getExtension(x509.KeyUsagesExtension)!;
  assert.equal(ku.usages, x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment);
  assert.equal(ku.critical, true);
  const bc = p.getExtension(x509.BasicConstraintsExtension)!;
  assert.equal(bc.ca, false);
  assert.equal(p.getExtension(x509.SubjectAlternativeNameExtension)!.critical, true, 'SAN critical with an empty subject');
  const rootSki = new x509.X509Certificate(chain[1]!).getExtension(x509.SubjectKeyIdentifierExtension)!.keyId;
  assert.equal(p.getExtension(x509.AuthorityKeyIdentifierExtension)!.keyId, rootSki);
  const second = (await ca.sign(csrPem, FOO))[0]!;
  assert.notEqual(p.serialNumber, new x509.X509Certificate(second).serialNumber, 'random serials');
  opensslVerify(stateDir, chain, ca.rootsPem());
});

test('lifetime: the CSR’s validity when given, capped at the maximum; RSA 2048 workload keys sign too', async (t) => {
  const ca = await CertificateAuthority.load({ stateDir: tempDir(t), workloadCertTtlSeconds: 600, maxWorkloadCertTtlSeconds: 7200 });
  const { csrPem } = await makeCsr([FOO_ID], 'RSA');
  const life = async (ttl?: number) => {
    const leaf = new X509Certificate((await ca.sign(csrPem, FOO, ttl))[0]!);
    return Math.round((Date.parse(leaf.validTo) - Date.now()) / 1000);
  };
  assert.ok(Math.abs((await life()) - 600) < 5);
  assert.ok(Math.abs((await life(3600)) - 3600) < 5);
  assert.ok(Math.abs((await life(90 * 86400)) - 7200) < 5, 'capped at the maximum');
  // A few seconds' lifetime (rotation tests): notBefore is not backdated past half of it.
  const short = new X509Certificate((await ca.sign(csrPem, FOO, 4))[0]!);
  assert.ok(Date.parse(short.validFrom) >= Date.now() - 2000);
});

test('a CSR made by openssl signs (an independent PKCS#10 implementation)', { skip: !hasOpenssl() && 'openssl not installed' }, async (t) => {
  const dir = tempDir(t);
  const ca = await CertificateAuthority.load({ stateDir: dir });
  openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'w.key'], dir);
  const csr = openssl(['req', '-new', '-key', 'w.key', '-subj', '/', '-addext', `subjectAltName=critical,URI:${FOO_ID}`], dir);
  const chain = await ca.sign(csr, FOO);
  assert.equal(new X509Certificate(chain[0]!).subjectAltName, `URI:${FOO_ID}`);
  const key = createPublicKey(readFileSync(join(dir, 'w.key')));
  assert.ok(new X509Certificate(chain[0]!).publicKey.equals(key));
});

test('CSR checks: another identity, extra SANs, no SAN, bad signature, garbage — each a typed error naming the problem', async (t) => {
  const ca = await CertificateAuthority.load({ stateDir: tempDir(t) });
  const other = await makeCsr(['spiffe://cluster.local/ns/bar/sa/admin']);
  await assert.rejects(ca.sign(other.csrPem, FOO), (e: unknown) => {
    assert.ok(e instanceof CsrIdentityError);
    assert.match(e.message, /spiffe:\/\/cluster\.local\/ns\/bar\/sa\/admin/);
    assert.match(e.message, /only get a certificate for spiffe:\/\/cluster\.local\/ns\/foo\/sa\/httpbin/);
    return true;
  });
  const extra = await makeCsr([FOO_ID, { type: 'dns', value: 'evil.example.com' }]);
  await assert.rejects(ca.sign(extra.csrPem, FOO), (e: unknown) => e instanceof CsrIdentityError && /DNS:evil\.example\.com/.test(e.message));
  const none = await makeCsr([]);
  await assert.rejects(ca.sign(none.csrPem, FOO), (e: unknown) => e instanceof CsrIdentityError && /no URI SAN/.test(e.message));
  const otherTd = await makeCsr(['spiffe://evil.local/ns/foo/sa/httpbin']);
  await assert.rejects(ca.sign(otherTd.csrPem, FOO), CsrIdentityError);

  const good = await makeCsr([FOO_ID]);
  await assert.rejects(ca.sign(tamperCsr(good.csrPem), FOO), (e: unknown) => e instanceof CsrMalformedError && /signature/.test(e.message));
  await assert.rejects(ca.sign('hello', FOO), (e: unknown) => e instanceof CsrMalformedError && /BEGIN CERTIFICATE REQUEST/.test(e.message));
  await assert.rejects(
    ca.sign('-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n', FOO),
    (e: unknown) => e instanceof CsrMalformedError && /does not parse/.test(e.message),
  );
  assert.equal((await ca.sign(good.csrPem, FOO)).length, 2, 'the CA still signs after refusals');
});

test('serving certificate for :15012: DNS and IP SANs, serverAuth, verifies to the root', async (t) => {
  const ca = await CertificateAuthority.load({ stateDir: tempDir(t) });
  const { chainPem, keyPem } = await ca.serverCertificate({ dnsNames: ['istiod.istio-system.svc', 'localhost'], ips: ['127.0.0.1'] });
  const leaf = new X509Certificate(chainPem);
  assert.ok(leaf.verify(new X509Certificate(ca.rootPem()).publicKey));
  assert.equal(leaf.checkHost('istiod.istio-system.svc'), 'istiod.istio-system.svc');
  assert.equal(leaf.checkHost('localhost'), 'localhost');
  assert.equal(leaf.checkIP('127.0.0.1'), '127.0.0.1');
  assert.ok(leaf.checkPrivateKey((await import('node:crypto')).createPrivateKey(keyPem)));
  assert.ok(leaf.keyUsage?.includes('1.3.6.1.5.5.7.3.1'));
});

test('plug-in CA (Istio cacerts layout): chain is leaf, intermediate, root; verifies to root-cert.pem', { skip: !hasOpenssl() && 'openssl not installed' }, async (t) => {
  const plug = makePluginCa();
  t.after(() => plug.dispose());
  const stateDir = tempDir(t);
  const ca = await CertificateAuthority.load({ stateDir, cacertsDir: plug.dir });
  assert.equal(new X509Certificate(ca.rootPem()).fingerprint256, new X509Certificate(plug.rootPem).fingerprint256);
  const { csrPem } = await makeCsr([FOO_ID]);
  const chain = await ca.sign(csrPem, FOO);
  assert.equal(chain.length, 3);
  const [leaf, inter, root] = parseChain(chain) as [X509Certificate, X509Certificate, X509Certificate];
  assert.equal(inter.fingerprint256, new X509Certificate(plug.intermediatePem).fingerprint256);
  assert.equal(root.fingerprint256, new X509Certificate(plug.rootPem).fingerprint256);
  assert.ok(leaf.checkIssued(inter) && leaf.verify(inter.publicKey));
  assert.ok(inter.checkIssued(root) && inter.verify(root.publicKey));
  assert.match(leaf.issuer, /CN=Intermediate CA/);
  opensslVerify(stateDir, chain, plug.rootPem);
});

test('plug-in CA: missing, mismatched or unchained files are refused naming the file', { skip: !hasOpenssl() && 'openssl not installed' }, async (t) => {
  const plug = makePluginCa();
  t.after(() => plug.dispose());
  const stateDir = tempDir(t);
  const load = () => CertificateAuthority.load({ stateDir, cacertsDir: plug.dir });
  const expectError = async (file: string, problem: RegExp) =>
    assert.rejects(load(), (e: unknown) => {
      assert.ok(e instanceof CaConfigError, String(e));
      assert.ok(e.message.includes(join(plug.dir, file)), e.message);
      assert.match(e.message, problem);
      return true;
    });
  const keep = (f: string) => copyFileSync(join(plug.dir, f), join(plug.dir, f + '.bak'));
  const restore = (f: string) => copyFileSync(join(plug.dir, f + '.bak'), join(plug.dir, f));

  keep('cert-chain.pem');
  rmSync(join(plug.dir, 'cert-chain.pem'));
  await expectError('cert-chain.pem', /is missing/);
  restore('cert-chain.pem');

  keep('ca-key.pem');
  openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'ca-key.pem'], plug.dir);
  await expectError('ca-key.pem', /does not match the public key of .*ca-cert\.pem/);
  writeFileSync(join(plug.dir, 'ca-key.pem'), 'not a key');
  await expectError('ca-key.pem', /not a usable PEM private key/);
  restore('ca-key.pem');

  keep('root-cert.pem');
  openssl(['req', '-x509', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', 'other.key', '-out', 'root-cert.pem', '-days', '1', '-subj', '/CN=Other Root'], plug.dir);
  await expectError('root-cert.pem', /holds no root that .*cert-chain\.pem leads to/);
  restore('root-cert.pem');

  keep('cert-chain.pem');
  writeFileSync(join(plug.dir, 'cert-chain.pem'), plug.rootPem);
  await expectError('cert-chain.pem', /must begin with the certificate in .*ca-cert\.pem/);
  restore('cert-chain.pem');

  await load();
});

test('trusted roots: extra-roots.pem adds roots for a rotation’s overlap', async (t) => {
  const stateDir = tempDir(t);
  const old = await CertificateAuthority.load({ stateDir: tempDir(t), trustDomain: 'cluster.local' });
  const ca = await CertificateAuthority.load({ stateDir });
  writeFileSync(join(stateDir, 'ca', 'extra-roots.pem'), old.rootPem());
  const both = await CertificateAuthority.load({ stateDir });
  assert.equal(both.rootsPem(), ca.rootPem() + old.rootPem());
  assert.equal(both.rootPem(), ca.rootPem(), 'signing is unchanged');
  const { csrPem } = await makeCsr([FOO_ID]);
  const chain = await both.sign(csrPem, FOO);
  assert.deepEqual(chain.slice(1), [ca.rootPem(), old.rootPem()], 'the chain carries the anchoring root, then the other trusted roots');
  assert.ok(new X509Certificate(chain[0]!).verify(new X509Certificate(chain[1]!).publicKey));
  writeFileSync(join(stateDir, 'ca', 'extra-roots.pem'), 'junk');
  await assert.rejects(CertificateAuthority.load({ stateDir }), (e: unknown) => e instanceof CaConfigError && /extra-roots\.pem/.test(e.message));
});
