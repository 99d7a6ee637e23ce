/**
 * Throwaway X.509 material for TLS tests, made with the openssl CLI at test time into a temp
 * directory (never committed): one CA, and leaf certificates it signs for servers (DNS SANs,
 * serverAuth) and clients (clientAuth). EC P-256 keys keep generation fast.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';

export interface IssuedCert {
  /** PEM files on disk, for Gateway `serverCertificate` / `privateKey` fields. */
  certFile: string;
  keyFile: string;
  cert: string;
  key: string;
}

export interface Pki {
  dir: string;
  caFile: string;
  ca: string;
  /** A server certificate for `dns` names (the first is also the subject CN). */
  server(name: string, dns: string[]): IssuedCert;
  /** A client certificate with subject CN `cn`. */
  client(name: string, cn: string): IssuedCert;
  /** Removes the directory and every key in it. */
  dispose(): void;
}

/** True when the openssl CLI can run here; tests skip with a reason when it cannot. */
export function hasOpenssl(): boolean {
  return spawnSync('openssl', ['version'], { stdio: 'ignore' }).status === 0;
}

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

const CA_CONFIG = `[req]
distinguished_name = dn
x509_extensions = v3_ca
prompt = no
[dn]
CN = tsmesh test CA
[v3_ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
`;

/** Creates a CA in a fresh temp directory. */
export function createPki(prefix = 'tsmesh-pki-'): Pki {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  writeFileSync(join(dir, 'ca.cnf'), CA_CONFIG);
  openssl(['req', '-x509', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-config', 'ca.cnf'], dir);

  const issue = (name: string, cn: string, ext: string): IssuedCert => {
    writeFileSync(join(dir, `${name}.ext`), ext);
    openssl(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`], dir);
    openssl(
      ['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-set_serial', `0x${randomBytes(8).toString('hex')}`, '-days', '2', '-sha256', '-extfile', `${name}.ext`, '-out', `${name}.crt`],
      dir,
    );
    const certFile = join(dir, `${name}.crt`);
    const keyFile = join(dir, `${name}.key`);
    return { certFile, keyFile, cert: readFileSync(certFile, 'utf8'), key: readFileSync(keyFile, 'utf8') };
  };

  return {
    dir,
    caFile: join(dir, 'ca.crt'),
    ca: readFileSync(join(dir, 'ca.crt'), 'utf8'),
    server: (name, dns) =>
      issue(name, dns[0]!, `basicConstraints = CA:FALSE\nkeyUsage = critical, digitalSignature\nextendedKeyUsage = serverAuth\nsubjectAltName = ${dns.map((d) => `DNS:${d}`).join(', ')}\n`),
    client: (name, cn) => issue(name, cn, `basicConstraints = CA:FALSE\nkeyUsage = critical, digitalSignature\nextendedKeyUsage = clientAuth\n`),
    dispose: () => rmSync(dir, { recursive: true, force: true }),
  };
}
