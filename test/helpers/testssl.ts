/**
 * testssl.sh (Debian package `testssl.sh`, command `testssl`) as an outside judge of a TLS port:
 * runs the protocol, cipher-category, forward-secrecy and vulnerability checks, reads its flat
 * JSON findings, and says which of them break the mesh's promise (TLS 1.2 minimum, no weak
 * cipher, no known vulnerability). Nobody on this team wrote it, which is the point.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** One entry of testssl's `--jsonfile` output. */
export interface Finding {
  id: string;
  severity: string;
  finding: string;
}

/** The command: Debian installs `testssl`; an upstream checkout calls it `testssl.sh`. */
export function testsslCommand(): string | undefined {
  for (const c of ['testssl', 'testssl.sh']) if (spawnSync(c, ['--version'], { stdio: 'ignore' }).status === 0) return c;
  return undefined;
}

/** True when this testssl can present a client certificate (`--mtls`, testssl 3.1+). */
export function testsslHasMtls(): boolean {
  const cmd = testsslCommand();
  return !!cmd && /--mtls\b/.test(spawnSync(cmd, ['--help'], { encoding: 'utf8' }).stdout ?? '');
}

/** Why the scan tests cannot run here, or false when they can. */
export function testsslMissing(): string | false {
  if (testsslCommand()) return false;
  return 'testssl.sh is not installed (apt-get install -y testssl.sh; `npm test` installs it when run as root)';
}

export interface ScanOptions {
  /** Host name for SNI (and the name testssl reports); the TCP connection goes to `ip`. */
  host: string;
  ip: string;
  port: number;
  /** PEM file of a CA testssl should trust besides the system's. */
  caFile?: string;
  /**
   * Certificate + key PEM file to present where a client certificate is required (testssl 3.1+
   * `--mtls`). testssl 3.0 (Debian 12) has no such flag: it scans such a port without one, noting
   * "certificate-based authentication" (its protocol and cipher checks only need the ServerHello).
   */
  clientCertFile?: string;
  /** Whole-scan bound; the machine is small and shared (one scan takes ~30 s when idle). */
  timeoutMs?: number;
}

export interface Scan {
  findings: Finding[];
  /** Whether testssl presented `clientCertFile`. */
  presentedClientCert: boolean;
  /** testssl's screen output, for assertion messages. */
  output: string;
}

/**
 * Runs testssl with -p (protocols), -s (cipher categories), -f (forward secrecy), -U
 * (vulnerabilities): the checks that decide "no SSLv3 / TLS 1.0 / 1.1, no weak cipher", without
 * the slow client simulations. Throws with testssl's output when it wrote no findings.
 */
export async function runTestssl(o: ScanOptions): Promise<Scan> {
  const cmd = testsslCommand();
  if (!cmd) throw new Error(testsslMissing() as string);
  const dir = mkdtempSync(join(tmpdir(), 'tsmesh-testssl-'));
  const jsonFile = join(dir, 'scan.json');
  const presentedClientCert = !!o.clientCertFile && testsslHasMtls();
  const args = [
    '--quiet',
    '--color', '0',
    '--warnings', 'off',
    '--nodns', 'none',
    '--connect-timeout', '10',
    '--openssl-timeout', '10',
    '--ip', o.ip,
    ...(o.caFile ? ['--add-ca', o.caFile] : []),
    ...(presentedClientCert ? ['--mtls', o.clientCertFile!] : []),
    '--jsonfile', jsonFile,
    '-p', '-s', '-f', '-U',
    `${o.host}:${o.port}`,
  ];
  try {
    const { code, output } = await run(cmd, args, o.timeoutMs ?? 240_000);
    if (!existsSync(jsonFile)) throw new Error(`testssl (exit ${code}) wrote no JSON:\n${output}`);
    const findings = JSON.parse(readFileSync(jsonFile, 'utf8')) as Finding[];
    if (!findings.some((f) => f.id === 'scanTime')) throw new Error(`testssl (exit ${code}) did not finish its scan:\n${output}`);
    return { findings, output, presentedClientCert };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function run(cmd: string, args: string[], timeoutMs: number): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    // Its own process group, so a timeout also ends the openssl children it forks.
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const timer = setTimeout(() => {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        /* already gone */
      }
      reject(new Error(`testssl did not finish in ${timeoutMs} ms:\n${output}`));
    }, timeoutMs);
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

/** Protocols that must not be offered, and those of which at least one must be. */
export const FORBIDDEN_PROTOCOLS = ['SSLv2', 'SSLv3', 'TLS1', 'TLS1_1'];
export const MODERN_PROTOCOLS = ['TLS1_2', 'TLS1_3'];

/**
 * testssl 3.x's weak cipher categories (`-s`): NULL, anonymous, export, LOW (64-bit, DES, RC2,
 * RC4), 3DES/IDEA. The remaining ones are cipherlist_AVERAGE (CBC; testssl 3.1 calls it
 * OBSOLETED) and cipherlist_STRONG (AEAD).
 */
export const WEAK_CIPHER_CATEGORIES = ['cipherlist_NULL', 'cipherlist_aNULL', 'cipherlist_EXPORT', 'cipherlist_LOW', 'cipherlist_3DES_IDEA'];

const isOffered = (f: Finding | undefined) => !!f && /^offered/.test(f.finding);
const notOffered = (f: Finding | undefined) => !!f && /^not offered/.test(f.finding);

/** Every finding that breaks the promise, as readable lines; empty when the port is sound. */
export function tlsProblems(findings: Finding[]): string[] {
  const byId = new Map(findings.map((f) => [f.id, f]));
  const problems: string[] = [];
  const show = (id: string) => `${id}: ${byId.get(id)?.finding ?? '(no finding)'}`;
  for (const id of [...FORBIDDEN_PROTOCOLS, ...WEAK_CIPHER_CATEGORIES]) if (!notOffered(byId.get(id))) problems.push(show(id));
  if (!MODERN_PROTOCOLS.some((id) => isOffered(byId.get(id)))) problems.push(`neither TLS 1.2 nor 1.3 offered (${MODERN_PROTOCOLS.map(show).join('; ')})`);
  for (const f of findings) if (f.severity === 'HIGH' || f.severity === 'CRITICAL') problems.push(`${f.severity} ${f.id}: ${f.finding}`);
  return problems;
}
