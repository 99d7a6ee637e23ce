/**
 * The workload agent (the security half of Istio's pilot-agent): makes the workload's key,
 * gets it certified by the CA for the workload's SPIFFE identity, serves the certificate and the
 * roots to the proxy over SDS (`default`, `ROOTCA`), and renews before expiry.
 *
 * - Renewal at half the lifetime with jitter (./rotation.ts); every renewal uses a new key.
 * - The CA down: exponential backoff (capped) and retries, while the current certificate keeps
 *   being served until it expires (and after, until a new one arrives: there is nothing better).
 * - One log line per issuance and per failure; `state()` for admin/debug.
 *
 * @example
 * const agent = new WorkloadAgent({ caAddress: 'istiod:15012', caRootCertFile, tokenFile, namespace: 'foo', serviceAccount: 'httpbin' });
 * await agent.serveSds('/tmp/x/socket');
 * agent.start();
 * await agent.ready();
 */
import { EventEmitter } from 'node:events';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { Backoff, REAL_TIMERS, type BackoffOptions, type Timers } from '../xds/client/backoff.ts';
import { keyMatchesCertificate, splitPemCertificates } from '../ca/keys.ts';
import { spiffeId } from '../ca/spiffe.ts';
import { log } from '../proxy/logger.ts';
import { CaClient } from './ca_client.ts';
import { createWorkloadCsr, type KeyAlgorithm } from './csr.ts';
import { renewAt, type RotationPolicy } from './rotation.ts';
import { SecretCache } from './secret_cache.ts';
import { SdsServer, type SdsServerStats } from './sds_server.ts';
import { rootSecret, workloadSecret } from './secrets.ts';

export interface WorkloadAgentOptions {
  /** "host:port" of the CA (Istio's CA_ADDR). */
  caAddress: string;
  /** PEM root(s) the CA's serving certificate chains to (Istio's root-cert.pem). */
  caRootCertFile: string;
  /** The workload's bearer token, re-read for every request. */
  tokenFile: string;
  namespace: string;
  serviceAccount: string;
  /** Default cluster.local. */
  trustDomain?: string;
  /** Requested lifetime (Istio's SECRET_TTL, default 24 h); the CA may shorten it. */
  certTtlSeconds?: number;
  /** ECDSA (P-256, default) or RSA (2048). */
  keyAlgorithm?: KeyAlgorithm;
  /** Name the CA's certificate is checked against (default istiod.istio-system.svc). */
  caServerName?: string;
  rotation?: RotationPolicy;
  /** Retry backoff while the CA fails (default 1 s doubling to 60 s, full jitter). */
  backoff?: BackoffOptions;
  timers?: Timers;
}

/** The certificate the agent serves now. */
export interface IssuedCertificate {
  /** PEM chain as the CA returned it: leaf first, root last. */
  chain: string[];
  /** What the workload presents: the leaf and any intermediates, PEM (the roots left out). */
  chainPem: string;
  /** PKCS#8 PEM of its private key (in memory; `tsmesh agent` writes it for proxyless gRPC). */
  keyPem: string;
  /** Every root trusted for peers: the chain's root plus the root file's certificates. */
  rootsPem: string;
  serial: string;
  notBefore: Date;
  notAfter: Date;
}

/** What admin/debug shows about the agent. */
export interface AgentState {
  identity: string;
  caAddress: string;
  certificate?: { serial: string; notBefore: string; notAfter: string; expired: boolean };
  /** Certificates issued (the first one and each rotation). */
  issued: number;
  /** Renewals after the first certificate. */
  rotations: number;
  failures: number;
  lastError?: string;
  /** When the next request to the CA is due. */
  nextAttempt?: string;
  sds?: SdsServerStats;
}

export interface WorkloadAgentEvents {
  issued: [cert: IssuedCertificate];
  failed: [error: Error, retryInMs: number];
}

/** setTimeout's ceiling (about 24.8 days); longer waits are re-armed. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export class WorkloadAgent extends EventEmitter<WorkloadAgentEvents> {
  readonly identity: string;
  readonly secrets = new SecretCache();
  readonly #opts: WorkloadAgentOptions;
  readonly #ca: CaClient;
  readonly #backoff: Backoff;
  readonly #timers: Timers;
  #sds: SdsServer | undefined;
  #current: IssuedCertificate | undefined;
  #timer: unknown;
  #nextAttempt: number | undefined;
  #issued = 0;
  #failures = 0;
  #lastError: string | undefined;
  #started = false;
  #closed = false;
  readonly #readyWaiters: { resolve: () => void; reject: (e: Error) => void }[] = [];

  constructor(opts: WorkloadAgentOptions) {
    super();
    this.#opts = opts;
    this.identity = spiffeId(opts.trustDomain ?? 'cluster.local', { namespace: opts.namespace, serviceAccount: opts.serviceAccount });
    this.#ca = new CaClient({ address: opts.caAddress, rootCertFile: opts.caRootCertFile, tokenFile: opts.tokenFile, serverName: opts.caServerName });
    this.#backoff = new Backoff({ initialMs: 1000, maxMs: 60_000, ...opts.backoff });
    this.#timers = opts.timers ?? REAL_TIMERS;
  }

  /** The certificate served now, if any. */
  get current(): IssuedCertificate | undefined {
    return this.#current;
  }

  /** Serves SDS on the Unix socket `path` (call before or after start). */
  async serveSds(path: string): Promise<void> {
    this.#sds ??= new SdsServer(this.secrets);
    await this.#sds.listen(path);
  }

  /** Requests the first certificate now, then keeps renewing. Idempotent. */
  start(): void {
    if (this.#started || this.#closed) return;
    this.#started = true;
    this.#schedule(0);
  }

  /** Resolves once a certificate is served; rejects if the agent is closed first. */
  ready(): Promise<void> {
    if (this.#current) return Promise.resolve();
    return new Promise((resolve, reject) => this.#readyWaiters.push({ resolve, reject }));
  }

  /** Requests a new certificate now (admin, tests), whatever the schedule says. */
  rotateNow(): Promise<void> {
    return this.#attempt();
  }

  state(): AgentState {
    const c = this.#current;
    return {
      identity: this.identity,
      caAddress: this.#opts.caAddress,
      ...(c ? { certificate: { serial: c.serial, notBefore: c.notBefore.toISOString(), notAfter: c.notAfter.toISOString(), expired: c.notAfter.getTime() <= Date.now() } } : {}),
      issued: this.#issued,
      rotations: Math.max(0, this.#issued - 1),
      failures: this.#failures,
      ...(this.#lastError ? { lastError: this.#lastError } : {}),
      ...(this.#nextAttempt !== undefined ? { nextAttempt: new Date(this.#nextAttempt).toISOString() } : {}),
      ...(this.#sds ? { sds: { ...this.#sds.stats } } : {}),
    };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#timer !== undefined) this.#timers.clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#ca.close();
    await this.#sds?.close();
    for (const w of this.#readyWaiters.splice(0)) w.reject(new Error('workload agent closed before a certificate was issued'));
  }

  #schedule(delayMs: number): void {
    if (this.#closed) return;
    if (this.#timer !== undefined) this.#timers.clearTimeout(this.#timer);
    const at = Date.now() + Math.max(0, delayMs);
    this.#nextAttempt = at;
    const arm = () => {
      const left = at - Date.now();
      this.#timer = this.#timers.setTimeout(
        () => {
          this.#timer = undefined;
          if (at - Date.now() > 0) return arm();
          void this.#attempt();
        },
        Math.min(Math.max(0, left), MAX_TIMER_MS),
      );
    };
    arm();
  }

  async #attempt(): Promise<void> {
    if (this.#closed) return;
    try {
      const { csrPem, keyPem } = await createWorkloadCsr(this.identity, this.#opts.keyAlgorithm ?? 'ECDSA');
      // No lifetime asked for: the CA's (the control plane's --workload-cert-ttl, 24 h by default).
      const chain = await this.#ca.sign(csrPem, this.#opts.certTtlSeconds);
      if (this.#closed) return;
      const cert = this.#accept(chain, keyPem);
      this.#backoff.reset();
      this.#lastError = undefined;
      const next = renewAt(cert.notBefore.getTime(), cert.notAfter.getTime(), this.#opts.rotation);
      const rotation = this.#issued > 1 ? ` (rotation ${this.#issued - 1})` : '';
      log.info(`agent: certificate issued for ${this.identity}${rotation}: serial ${cert.serial}, valid until ${cert.notAfter.toISOString()}; renewing at ${new Date(next).toISOString()}`);
      this.emit('issued', cert);
      this.#schedule(next - Date.now());
    } catch (e) {
      if (this.#closed) return;
      const err = e as Error;
      this.#failures++;
      this.#lastError = err.message;
      const c = this.#current;
      // Backoff grows toward a minute, but a retry is never put off past the point where the
      // certificate in use would expire unnoticed: at most a quarter of what is left of it, and
      // every 2 s once it has expired.
      const left = c ? c.notAfter.getTime() - Date.now() : Infinity;
      const retry = Math.round(Math.max(100, Math.min(this.#backoff.next(), left > 0 ? left / 4 : 2000)));
      const serving = !c
        ? 'no certificate yet'
        : c.notAfter.getTime() > Date.now()
          ? `still serving serial ${c.serial} (valid until ${c.notAfter.toISOString()})`
          : `serial ${c.serial} EXPIRED at ${c.notAfter.toISOString()}, still served until a new one arrives`;
      log.warn(`agent: certificate request for ${this.identity} to CA ${this.#opts.caAddress} failed: ${err.message}; ${serving}; retrying in ${retry} ms`);
      this.emit('failed', err, retry);
      this.#schedule(retry);
    }
  }

  /** Checks what the CA returned, then serves it. Throws (a failed attempt) when it is unusable. */
  #accept(chain: string[], keyPem: string): IssuedCertificate {
    const leaf = new X509Certificate(chain[0]!);
    if (!keyMatchesCertificate(createPrivateKey(keyPem), leaf)) throw new Error('the CA returned a certificate for another key');
    const sans = (leaf.subjectAltName ?? '').split(/,\s*/);
    if (!sans.includes(`URI:${this.identity}`)) throw new Error(`the CA returned a certificate for ${leaf.subjectAltName ?? 'no SAN'}, not ${this.identity}`);
    // The chain ends with the trusted roots (several during a root rotation's overlap): every
    // self-signed element. Peers are verified against those plus the mounted root file; the
    // proxy presents the rest (leaf and intermediates).
    const nl = (p: string) => (p.endsWith('\n') ? p : `${p}\n`);
    const parsed = chain.map((pem) => ({ pem: nl(pem), cert: new X509Certificate(pem) }));
    const isRoot = (c: X509Certificate) => c.subject === c.issuer && c.verify(c.publicKey);
    const roots = new Map<string, string>();
    for (const { pem, cert } of parsed.slice(1)) if (isRoot(cert)) roots.set(cert.fingerprint256, pem);
    for (const pem of splitPemCertificates(this.#ca.rootsPem())) roots.set(new X509Certificate(pem).fingerprint256, nl(pem));
    const rootsPem = [...roots.values()].join('');
    const presented = [parsed[0]!, ...parsed.slice(1).filter((p) => !isRoot(p.cert))].map((p) => p.pem).join('');
    const cert: IssuedCertificate = { chain, chainPem: presented, keyPem, rootsPem, serial: leaf.serialNumber, notBefore: new Date(leaf.validFrom), notAfter: new Date(leaf.validTo) };
    this.secrets.set(rootSecret(rootsPem));
    this.secrets.set(workloadSecret(presented, keyPem));
    this.#current = cert;
    this.#issued++;
    for (const w of this.#readyWaiters.splice(0)) w.resolve();
    return cert;
  }
}
