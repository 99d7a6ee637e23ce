/**
 * The CA's gRPC server (istiod's :15012): one TLS port serving IstioCertificateService and
 * whatever else the control plane mounts beside it (ADS, as istiod does). Clients verify the
 * server against the CA root; they need no certificate of their own, since a workload asking for
 * its first certificate has none: it authenticates with its token instead.
 *
 * CreateCertificate: the bearer token names the caller's identity, the CSR must ask for exactly
 * that identity. Every refusal gets its own gRPC code and a message saying what was wrong, and is
 * counted under Istio's citadel_server_* metric names.
 */
import * as grpc from '@grpc/grpc-js';
import { X509Certificate } from 'node:crypto';
import type { CertificateAuthority } from './authority.ts';
import { CERTIFICATE_SERVICE, type CertificateServiceHandlers, type IstioCertificateRequest, type IstioCertificateResponse } from './csr_service.ts';
import { AuthenticatorUnavailableError, CaError, CsrIdentityError, CsrMalformedError, TokenError } from './errors.ts';
import type { WorkloadIdentity } from './spiffe.ts';
import { verifyWorkloadToken } from './token.ts';
import type { Logger } from '../xds/server/core.ts';

/** A gRPC service to serve on the same port (the control plane's ADS). */
export interface ExtraService {
  definition: grpc.ServiceDefinition;
  handlers: grpc.UntypedServiceImplementation;
}

export interface CaServerOptions {
  ca: CertificateAuthority;
  /** Where the workload token key lives (src/ca/token.ts); used unless `authenticate` is given. */
  stateDir: string;
  /** Turns a bearer token into the caller's identity, or throws TokenError. Default: verifyWorkloadToken. */
  authenticate?: (token: string) => Promise<WorkloadIdentity>;
  /** Names on the serving certificate; Istio's istiod names by default. */
  serverNames?: { dnsNames: string[]; ips?: string[] };
  extraServices?: ExtraService[];
  grpcOptions?: grpc.ServerOptions;
  log?: Pick<Logger, 'info' | 'warn'>;
}

/** The serving certificate's default names: istiod's service, and loopback for the local mesh. */
export const DEFAULT_SERVER_NAMES = { dnsNames: ['istiod.istio-system.svc', 'localhost'], ips: ['127.0.0.1'] };

/** Counters under Istio's names (security/pkg/server/ca/monitoring.go). */
export const CITADEL_METRICS = {
  csr: 'citadel_server_csr_count',
  authnError: 'citadel_server_authentication_failure_count',
  csrParsingError: 'citadel_server_csr_parsing_err_count',
  idExtractionError: 'citadel_server_id_extraction_err_count',
  csrSignError: 'citadel_server_csr_sign_err_count',
  success: 'citadel_server_success_cert_issuance_count',
  rootExpiry: 'citadel_server_root_cert_expiry_timestamp',
} as const;

const SILENT = { info() {}, warn() {} };

export class CaServer {
  readonly #opts: CaServerOptions;
  readonly #server: grpc.Server;
  readonly #counts = {
    csr: 0,
    authnError: 0,
    csrParsingError: 0,
    idExtractionError: 0,
    success: 0,
  };
  readonly #signErrors = new Map<string, number>();
  #listening = false;

  constructor(opts: CaServerOptions) {
    this.#opts = opts;
    this.#server = new grpc.Server(opts.grpcOptions);
    const handlers: CertificateServiceHandlers = {
      CreateCertificate: (call, cb) => {
        this.#createCertificate(call, cb).catch((err) => cb({ code: grpc.status.INTERNAL, details: `CA: ${messageOf(err)}` } as grpc.ServiceError));
      },
    };
    this.#server.addService(CERTIFICATE_SERVICE, handlers);
    for (const s of opts.extraServices ?? []) this.#server.addService(s.definition, this.#authenticated(s.definition, s.handlers));
  }

  /** Binds `address` ("127.0.0.1:0", "0.0.0.0:15012") over TLS; resolves with the port. */
  async listen(address: string): Promise<number> {
    if (this.#listening) throw new Error('CaServer: already listening');
    const { chainPem, keyPem } = await this.#opts.ca.serverCertificate(this.#opts.serverNames ?? DEFAULT_SERVER_NAMES);
    const creds = meshServerCredentials(this.#opts.ca.rootPem(), chainPem, keyPem);
    const port = await new Promise<number>((resolve, reject) =>
      this.#server.bindAsync(address, creds, (err, p) => (err ? reject(new Error(`CA server: cannot listen on ${address}: ${err.message}`)) : resolve(p))),
    );
    this.#listening = true;
    return port;
  }

  /** Stops accepting calls; in-flight calls get a second to finish. */
  close(): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => this.#server.forceShutdown(), 1000);
      this.#server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  /** The counters as a plain record of Prometheus series names (labelled ones spelled out). */
  stats(): Record<string, number> {
    const c = this.#counts;
    const out: Record<string, number> = {
      [CITADEL_METRICS.csr]: c.csr,
      [CITADEL_METRICS.authnError]: c.authnError,
      [CITADEL_METRICS.csrParsingError]: c.csrParsingError,
      [CITADEL_METRICS.idExtractionError]: c.idExtractionError,
      [CITADEL_METRICS.success]: c.success,
      [CITADEL_METRICS.rootExpiry]: Math.floor(Date.parse(new X509Certificate(this.#opts.ca.rootPem()).validTo) / 1000),
    };
    for (const [error, n] of this.#signErrors) out[`${CITADEL_METRICS.csrSignError}{error="${error}"}`] = n;
    return out;
  }

  async #createCertificate(
    call: grpc.ServerUnaryCall<IstioCertificateRequest, IstioCertificateResponse>,
    cb: grpc.sendUnaryData<IstioCertificateResponse>,
  ): Promise<void> {
    this.#counts.csr++;
    const log = this.#opts.log ?? SILENT;
    const peer = call.getPeer();
    const refuse = (code: grpc.status, message: string) => {
      log.warn(`CA: refused CreateCertificate from ${peer}: ${message}`);
      cb({ code, details: message, message } as grpc.ServiceError);
    };

    let identity: WorkloadIdentity;
    try {
      identity = await this.#authenticate(call.metadata);
    } catch (err) {
      this.#counts.authnError++;
      // The token could not be checked (not that it is bad): UNAVAILABLE, so the caller retries.
      return refuse(err instanceof AuthenticatorUnavailableError ? grpc.status.UNAVAILABLE : grpc.status.UNAUTHENTICATED, messageOf(err));
    }
    try {
      const chain = await this.#opts.ca.sign(call.request.csr, identity, Number(call.request.validity_duration) || undefined);
      this.#counts.success++;
      log.info(`CA: issued a certificate for ${identity.namespace}/${identity.serviceAccount} to ${peer}`);
      cb(null, { cert_chain: chain });
    } catch (err) {
      if (err instanceof CsrMalformedError) {
        this.#counts.csrParsingError++;
        return refuse(grpc.status.INVALID_ARGUMENT, err.message);
      }
      if (err instanceof CsrIdentityError) {
        this.#counts.idExtractionError++;
        return refuse(grpc.status.PERMISSION_DENIED, err.message);
      }
      const kind = err instanceof CaError ? err.code : 'internal';
      this.#signErrors.set(kind, (this.#signErrors.get(kind) ?? 0) + 1);
      refuse(grpc.status.INTERNAL, `CSR signing error: ${messageOf(err)}`);
    }
  }

  /**
   * istiod's xDS authentication on :15012: a (bidirectional) stream is served when its client certificate chains
   * to the mesh CA or it carries a valid workload token; any other is refused (UNAUTHENTICATED).
   */
  #authenticated(definition: grpc.ServiceDefinition, handlers: grpc.UntypedServiceImplementation): grpc.UntypedServiceImplementation {
    const log = this.#opts.log ?? SILENT;
    const out: grpc.UntypedServiceImplementation = { ...handlers };
    for (const [name, h] of Object.entries(handlers)) {
      // The xDS streams (bidirectional); other extra services are served as they are.
      if (!definition[name]?.requestStream || !definition[name]?.responseStream) continue;
      out[name] = ((call: grpc.ServerDuplexStream<unknown, unknown>) => {
        const serve = h as (c: typeof call) => void;
        if (call.getAuthContext().sslPeerCertificate) return serve(call);
        this.#authenticate(call.metadata).then(
          () => serve(call),
          (err: unknown) => {
            log.warn(`CA port: refused ${name} from ${call.getPeer()}: no client certificate from the mesh CA and ${messageOf(err)}`);
            call.emit('error', { code: err instanceof AuthenticatorUnavailableError ? grpc.status.UNAVAILABLE : grpc.status.UNAUTHENTICATED, details: `authentication failure: present a certificate from the mesh CA or a workload token (${messageOf(err)})` });
          },
        );
      }) as grpc.UntypedHandleCall;
    }
    return out;
  }

  async #authenticate(md: grpc.Metadata): Promise<WorkloadIdentity> {
    const values = md.get('authorization');
    if (values.length === 0) throw new TokenError('missing', 'no workload token: send "authorization: Bearer <token>" metadata');
    const m = /^Bearer\s+(\S+)\s*$/i.exec(String(values[0]));
    if (!m) throw new TokenError('malformed', 'the authorization metadata must be "Bearer <token>"');
    const token = m[1]!;
    return this.#opts.authenticate ? this.#opts.authenticate(token) : verifyWorkloadToken(this.#opts.stateDir, token);
  }
}

/**
 * TLS for :15012 as istiod's (client auth "verify if given"): the server asks for a client
 * certificate trusted by the mesh root but also takes clients without one (a workload asking for
 * its first certificate has none); grpc-js then reports a peer certificate only when it verified.
 */
function meshServerCredentials(rootPem: string, chainPem: string, keyPem: string): grpc.ServerCredentials {
  const update = { caCertificate: Buffer.from(rootPem), certificate: Buffer.from(chainPem), privateKey: Buffer.from(keyPem) };
  const provider: grpc.experimental.CertificateProvider = {
    // Later, not now: grpc-js registers the server's watcher only after adding these listeners.
    addCaCertificateListener: (l) => queueMicrotask(() => l(update)),
    removeCaCertificateListener: () => {},
    addIdentityCertificateListener: (l) => queueMicrotask(() => l(update)),
    removeIdentityCertificateListener: () => {},
  };
  // One provider serves both roles (identity and CA); not required: clients without one are taken.
  return grpc.experimental.createCertificateProviderServerCredentials(provider, provider, false);
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
