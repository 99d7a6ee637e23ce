/**
 * jwt_verify_lib's Status as Envoy's jwt_authn reports it: the text is the local reply's body and
 * part of %RESPONSE_CODE_DETAILS% (`jwt_authn_access_denied{Jwt_is_expired}`). Only the statuses
 * this proxy can produce are listed.
 */
export const Status = {
  Ok: 'OK',
  JwtMissed: 'Jwt is missing',
  JwtNotYetValid: 'Jwt not yet valid',
  JwtExpired: 'Jwt is expired',
  JwtBadFormat: 'Jwt is not in the form of Header.Payload.Signature with two dots and 3 sections',
  JwtHeaderParseError: 'Jwt header is an invalid Base64url input or an invalid JSON',
  JwtHeaderBadAlg: 'Jwt header [alg] field is not a string',
  JwtHeaderNotImplementedAlg: 'Jwt header [alg] field value is invalid',
  JwtHeaderBadKid: 'Jwt header [kid] field is not a string',
  JwtPayloadParseError: 'Jwt payload is an invalid Base64 or an invalid JSON',
  JwtSignatureParseError: 'Jwt signature is an invalid Base64',
  JwtUnknownIssuer: 'Jwt issuer is not configured',
  JwtAudienceNotAllowed: 'Audiences in Jwt are not allowed',
  JwtVerificationFail: 'Jwt verification fails',
  JwksNoValidKeys: "Jwks doesn't have any valid public key",
  JwksKidAlgMismatch: "Jwks doesn't have key to match kid or alg from Jwt",
  JwksFetchFail: 'Jwks remote fetch is failed',
} as const;

export type Status = (typeof Status)[keyof typeof Status];

/** Envoy answers 403 only when the audience is wrong (the token is genuine), 401 otherwise. */
export function statusCode(s: Status): number {
  return s === Status.JwtAudienceNotAllowed ? 403 : 401;
}

/** %RESPONSE_CODE_DETAILS% for a rejection, as Envoy's generateRcDetails spells it. */
export function rcDetails(s: Status): string {
  return `jwt_authn_access_denied{${s.split(' ').join('_')}}`;
}

/**
 * RFC 6750's challenge as Envoy sends it: the realm is the request's original URI; a token that
 * was there but is not acceptable adds error="invalid_token".
 */
export function wwwAuthenticate(s: Status, originalUri: string): string {
  const v = `Bearer realm="${originalUri}"`;
  return s === Status.JwtMissed ? v : `${v}, error="invalid_token"`;
}
