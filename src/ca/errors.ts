/**
 * The CA's failures, one class per cause with a stable code, so the CSR server maps each to its
 * gRPC status (and metric) without parsing messages, and a user reads what went wrong and where.
 */

/** Stable codes for every CA failure. */
export type CaErrorCode =
  | 'TSMESH_ERR_CA_CONFIG'
  | 'TSMESH_ERR_CSR_MALFORMED'
  | 'TSMESH_ERR_CSR_IDENTITY'
  | 'TSMESH_ERR_TOKEN'
  | 'TSMESH_ERR_AUTHN_UNAVAILABLE';

export class CaError extends Error {
  constructor(
    readonly code: CaErrorCode,
    message: string,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

/** A CA file (state directory or plug-in cacerts) is missing, unreadable or inconsistent. */
export class CaConfigError extends CaError {
  constructor(
    readonly file: string,
    problem: string,
  ) {
    super('TSMESH_ERR_CA_CONFIG', `${file}: ${problem}`);
  }
}

/** The CSR does not parse, its signature does not verify, or its key is not one we sign. */
export class CsrMalformedError extends CaError {
  constructor(problem: string) {
    super('TSMESH_ERR_CSR_MALFORMED', `malformed CSR: ${problem}`);
  }
}

/** The CSR asks for an identity the caller does not own. */
export class CsrIdentityError extends CaError {
  constructor(
    readonly requested: string[],
    readonly allowed: string,
  ) {
    const asked = requested.length === 0 ? 'no URI SAN' : requested.join(', ');
    super('TSMESH_ERR_CSR_IDENTITY', `CSR asks for ${asked}, but the caller may only get a certificate for ${allowed}`);
  }
}

/** Why a workload token was refused. */
export type TokenProblem = 'missing' | 'malformed' | 'expired' | 'bad-signature' | 'wrong-audience' | 'missing-claims';

/** A workload token was absent or did not verify. */
export class TokenError extends CaError {
  constructor(
    readonly problem: TokenProblem,
    detail: string,
  ) {
    super('TSMESH_ERR_TOKEN', `workload token refused (${problem}): ${detail}`);
  }
}

/**
 * The token could not be checked at all (the authenticator's backend, e.g. the Kubernetes
 * TokenReview API, did not answer or refused istiod): not the caller's fault, so UNAVAILABLE and
 * worth retrying, never reported as a bad token.
 */
export class AuthenticatorUnavailableError extends CaError {
  constructor(detail: string) {
    super('TSMESH_ERR_AUTHN_UNAVAILABLE', `cannot check the workload token now: ${detail}`);
  }
}
