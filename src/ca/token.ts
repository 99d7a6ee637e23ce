/**
 * Per-workload tokens: what a sidecar presents to the CA to prove who it is, until Kubernetes
 * service-account tokens take their place. They are ES256 JWTs shaped like a Kubernetes
 * service-account token (sub system:serviceaccount:<ns>:<sa>, a `kubernetes.io` claim), so the
 * CA reads both the same way. The signing key lives in the control plane's state directory: any
 * process with that directory (the demo, `tsmesh token create`) can mint; the CA verifies.
 */
import { existsSync, linkSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { errors as joseErrors, jwtVerify, SignJWT, calculateJwkThumbprint, exportJWK } from 'jose';
import { TokenError } from './errors.ts';
import { isKubernetesName, type WorkloadIdentity } from './spiffe.ts';

/** `iss` of every token the control plane mints. */
export const TOKEN_ISSUER = 'tsmesh/controlplane';
/** `aud` the CA requires (Istio's default token audience for its CA). */
export const TOKEN_AUDIENCE = 'istio-ca';
/** The key file, relative to the state directory. */
export const TOKEN_KEY_FILE = join('token', 'signing-key.pem');

const ALG = 'ES256';
/** Clock skew accepted between the minting process and the CA. */
const CLOCK_TOLERANCE_SECONDS = 5;

/** The token signing key pair (node KeyObjects). */
export interface TokenKey {
  privateKey: KeyObject;
  publicKey: KeyObject;
  /** RFC 7638 thumbprint, sent as `kid`. */
  kid: string;
}

const keys = new Map<string, Promise<TokenKey>>();

/**
 * The state directory's token signing key, created on first use (mode 0600). Two processes
 * starting at once agree on one key: the file is published with link(2), which fails if it exists.
 */
export function loadTokenKey(stateDir: string): Promise<TokenKey> {
  const file = join(stateDir, TOKEN_KEY_FILE);
  let p = keys.get(file);
  if (!p) {
    p = readOrCreateKey(file);
    keys.set(file, p);
    p.catch(() => keys.delete(file));
  }
  return p;
}

async function readOrCreateKey(file: string): Promise<TokenKey> {
  if (!existsSync(file)) {
    mkdirSync(join(file, '..'), { recursive: true, mode: 0o700 });
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600 });
    try {
      linkSync(tmp, file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    } finally {
      rmSync(tmp, { force: true });
    }
  }
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new Error(`${file}: not a PEM private key (${(err as Error).message}); remove it to create a new token key (tokens minted with the old one stop working)`);
  }
  if (privateKey.asymmetricKeyType !== 'ec' || privateKey.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    throw new Error(`${file}: the token signing key must be EC P-256 (ES256)`);
  }
  const publicKey = createPublicKey(privateKey);
  const kid = await calculateJwkThumbprint(await exportJWK(publicKey));
  return { privateKey, publicKey, kid };
}

export interface IssueTokenOptions extends WorkloadIdentity {
  podName?: string;
  ttlSeconds?: number;
  /** Issue time in Unix seconds (tests); defaults to now. */
  nowSeconds?: number;
}

/** Mints a workload token for `namespace`/`serviceAccount` with the state directory's key. */
export async function issueWorkloadToken(stateDir: string, opts: IssueTokenOptions): Promise<string> {
  for (const [what, v] of [
    ['namespace', opts.namespace],
    ['service account', opts.serviceAccount],
  ] as const) {
    if (!isKubernetesName(v)) throw new Error(`invalid ${what} ${JSON.stringify(v)}: must be a Kubernetes name (lower-case letters, digits, '-', '.')`);
  }
  const ttl = opts.ttlSeconds ?? 3600;
  if (!(ttl > 0)) throw new Error(`token lifetime must be positive, got ${ttl} s`);
  const key = await loadTokenKey(stateDir);
  const iat = Math.floor(opts.nowSeconds ?? Date.now() / 1000);
  const k8s: Record<string, unknown> = { namespace: opts.namespace, serviceaccount: { name: opts.serviceAccount } };
  if (opts.podName) k8s.pod = { name: opts.podName };
  return new SignJWT({ 'kubernetes.io': k8s })
    .setProtectedHeader({ alg: ALG, typ: 'JWT', kid: key.kid })
    .setIssuer(TOKEN_ISSUER)
    .setSubject(`system:serviceaccount:${opts.namespace}:${opts.serviceAccount}`)
    .setAudience([TOKEN_AUDIENCE])
    .setIssuedAt(iat)
    .setExpirationTime(iat + Math.round(ttl))
    .sign(key.privateKey);
}

/** What a verified token says about its holder. */
export interface VerifiedToken extends WorkloadIdentity {
  podName?: string;
}

/**
 * Verifies a workload token against the state directory's key (or a given public key) and
 * returns the identity it carries. Throws TokenError saying why it was refused.
 */
export async function verifyWorkloadToken(stateDirOrKey: string | KeyObject, token: string): Promise<VerifiedToken> {
  if (!token) throw new TokenError('missing', 'no token was presented');
  if (token.split('.').length !== 3) throw new TokenError('malformed', 'not a JWT (expected three dot-separated parts)');
  const key = typeof stateDirOrKey === 'string' ? (await loadTokenKey(stateDirOrKey)).publicKey : stateDirOrKey;
  let payload: Record<string, any>;
  try {
    ({ payload } = await jwtVerify(token, key, {
      algorithms: [ALG],
      issuer: TOKEN_ISSUER,
      audience: TOKEN_AUDIENCE,
      clockTolerance: CLOCK_TOLERANCE_SECONDS,
      requiredClaims: ['exp', 'sub'],
    }));
  } catch (err) {
    throw tokenError(err);
  }
  const k8s = payload['kubernetes.io'];
  const namespace = k8s?.namespace;
  const serviceAccount = k8s?.serviceaccount?.name;
  if (typeof namespace !== 'string' || typeof serviceAccount !== 'string') {
    throw new TokenError('missing-claims', 'the kubernetes.io claim must carry namespace and serviceaccount.name');
  }
  if (!isKubernetesName(namespace) || !isKubernetesName(serviceAccount)) {
    throw new TokenError('missing-claims', `namespace ${JSON.stringify(namespace)} or service account ${JSON.stringify(serviceAccount)} is not a Kubernetes name`);
  }
  if (payload.sub !== `system:serviceaccount:${namespace}:${serviceAccount}`) {
    throw new TokenError('missing-claims', `sub ${JSON.stringify(payload.sub)} does not match the kubernetes.io claim (${namespace}/${serviceAccount})`);
  }
  const out: VerifiedToken = { namespace, serviceAccount };
  if (typeof k8s.pod?.name === 'string') out.podName = k8s.pod.name;
  return out;
}

function tokenError(err: unknown): TokenError {
  if (err instanceof joseErrors.JWTExpired) return new TokenError('expired', `expired at ${new Date(Number(err.payload.exp) * 1000).toISOString()}; ask for a new token`);
  if (err instanceof joseErrors.JWSSignatureVerificationFailed) {
    return new TokenError('bad-signature', 'signature does not verify with this control plane’s token key (forged, or minted with another state directory)');
  }
  if (err instanceof joseErrors.JOSEAlgNotAllowed) return new TokenError('bad-signature', `algorithm not accepted (only ${ALG})`);
  if (err instanceof joseErrors.JWTClaimValidationFailed) {
    if (err.claim === 'aud') return new TokenError('wrong-audience', `audience must include ${TOKEN_AUDIENCE}`);
    if (err.claim === 'iss') return new TokenError('bad-signature', `issuer must be ${TOKEN_ISSUER}`);
    return new TokenError('missing-claims', `claim ${err.claim}: ${err.message}`);
  }
  if (err instanceof joseErrors.JOSEError) return new TokenError('malformed', err.message);
  return new TokenError('malformed', err instanceof Error ? err.message : String(err));
}
