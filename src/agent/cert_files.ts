/**
 * The agent's certificate as files, for proxyless gRPC (Istio's agent writes them into
 * /var/lib/istio/data for the `file_watcher` certificate provider): cert-chain.pem, key.pem
 * (mode 0600) and root-cert.pem, each replaced by an atomic rename so a reader never sees half a
 * file; rewritten on every rotation.
 */
import { chmodSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { IssuedCertificate } from './workload_agent.ts';

/** Istio's file names in the certificate directory. */
export const CERT_FILES = { certificateChain: 'cert-chain.pem', privateKey: 'key.pem', rootCert: 'root-cert.pem' } as const;

function replace(file: string, text: string, mode: number): void {
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, text, { mode });
  chmodSync(tmp, mode);
  renameSync(tmp, file);
}

/** Writes the three files into `dir` (created 0700 when missing). The key goes first, so a new chain is never paired with the previous key for long. */
export function writeCertFiles(dir: string, cert: IssuedCertificate): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  replace(join(dir, CERT_FILES.rootCert), cert.rootsPem, 0o644);
  replace(join(dir, CERT_FILES.privateKey), cert.keyPem, 0o600);
  replace(join(dir, CERT_FILES.certificateChain), cert.chainPem, 0o644);
}
