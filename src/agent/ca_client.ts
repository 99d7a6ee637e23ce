/**
 * The agent's side of istio.v1.auth.IstioCertificateService (Istio's citadel client): TLS to the
 * CA, verifying the server against the root file mounted for the workload (Istio's
 * ./var/run/secrets/istio/root-cert.pem) under the name istiod.istio-system.svc, and the
 * workload token read fresh from its file for every call (projected tokens are rotated by the
 * kubelet; a cached one would expire).
 */
import * as grpc from '@grpc/grpc-js';
import { readFileSync } from 'node:fs';
import { createCertificate, newCertificateClient, type CertificateServiceClient } from '../ca/csr_service.ts';

/** The name the CA's serving certificate carries (Istio's default PILOT_SAN / CA host). */
export const CA_SERVER_NAME = 'istiod.istio-system.svc';

export interface CaClientOptions {
  /** "host:port" of the CA (Istio's CA_ADDR; istiod's 15012). */
  address: string;
  /** PEM file with the root(s) the CA's serving certificate chains to. */
  rootCertFile: string;
  /** File holding the workload's bearer token. */
  tokenFile: string;
  /** The name checked against the CA's certificate. Default istiod.istio-system.svc. */
  serverName?: string;
  timeoutMs?: number;
}

export class CaClient {
  readonly #opts: CaClientOptions;
  #client: CertificateServiceClient | undefined;

  constructor(opts: CaClientOptions) {
    this.#opts = opts;
  }

  /** The PEM roots the CA server is verified against (also trusted for peers: Istio's ROOTCA adds them). */
  rootsPem(): string {
    return readFileSync(this.#opts.rootCertFile, 'utf8');
  }

  /** Sends the CSR; resolves with the PEM chain, leaf first and root last. */
  async sign(csrPem: string, validitySeconds: number | undefined): Promise<string[]> {
    const token = readFileSync(this.#opts.tokenFile, 'utf8').trim();
    if (!token) throw new Error(`token file ${this.#opts.tokenFile} is empty`);
    const client = (this.#client ??= this.#connect());
    try {
      return await createCertificate(client, { csr: csrPem, validitySeconds, token, timeoutMs: this.#opts.timeoutMs });
    } catch (e) {
      // A fresh channel next time: grpc's own reconnect backoff would outlast the CA's outage.
      if (this.#client === client) this.close();
      throw e;
    }
  }

  #connect(): CertificateServiceClient {
    const serverName = this.#opts.serverName ?? CA_SERVER_NAME;
    const creds = grpc.credentials.createSsl(Buffer.from(this.rootsPem()));
    // Dial the address, but verify (and send SNI for) the CA's name, as Istio's agent does.
    return newCertificateClient(this.#opts.address, creds, { 'grpc.ssl_target_name_override': serverName, 'grpc.default_authority': serverName });
  }

  close(): void {
    this.#client?.close();
    this.#client = undefined;
  }
}
