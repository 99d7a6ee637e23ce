/**
 * Stable error codes for what users and tests match on. Messages may be reworded; codes never
 * change meaning. Each error tsmesh reports to a user carries one of these in `code`.
 */
export const ERR = {
  /** A duration that is not a number with a unit. */
  INVALID_DURATION: 'TSMESH_ERR_INVALID_DURATION',
  /** YAML that does not parse (carries file, line and column). */
  YAML_SYNTAX: 'TSMESH_ERR_YAML_SYNTAX',
  /** A field no schema knows (carries the path and a suggestion). */
  UNKNOWN_FIELD: 'TSMESH_ERR_UNKNOWN_FIELD',
  /** A resource that fails schema or semantic validation. */
  INVALID_RESOURCE: 'TSMESH_ERR_INVALID_RESOURCE',
  /** Route destinations whose weights cannot be applied. */
  INVALID_WEIGHTS: 'TSMESH_ERR_INVALID_WEIGHTS',
  /** A regex Envoy's engine (RE2) would not accept. */
  INVALID_REGEX: 'TSMESH_ERR_INVALID_REGEX',
  /** An xDS resource the proxy cannot apply (it NACKs and keeps the previous version). */
  XDS_REJECTED: 'TSMESH_ERR_XDS_REJECTED',
  /** A field tsmesh does not implement: an Envoy field the proxy NACKs, or an Istio field accepted but not enforced yet (a warning). */
  UNSUPPORTED_FIELD: 'TSMESH_ERR_UNSUPPORTED_FIELD',
  /** A listen address already taken. */
  ADDRESS_IN_USE: 'TSMESH_ERR_ADDRESS_IN_USE',
  /** A bootstrap that cannot start a proxy. */
  INVALID_BOOTSTRAP: 'TSMESH_ERR_INVALID_BOOTSTRAP',
} as const;
export type ErrorCode = (typeof ERR)[keyof typeof ERR];

/** An error with a stable code. */
export class TsmeshError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'TsmeshError';
  }
}
