/**
 * The tap token: how a proxy knows the control plane authorized a tap. The control plane signs a
 * short-lived JWT (RFC 7519) with the key of a certificate its CA issued to itself (DNS SAN
 * istiod.istio-system.svc, the name Istio's istiod serves under) and puts that certificate chain
 * in the JWS x5c header (RFC 7515 4.1.6). The proxy accepts the token only if
 *   - the chain leads to a root of its mesh trust bundle (the ROOTCA secret it got over SDS),
 *   - the leaf certificate names the control plane and is valid now,
 *   - the signature verifies with the leaf's key,
 *   - every certificate above the leaf is a CA certificate valid now (a workload certificate
 *     cannot stand in as an intermediate, whatever key usage OpenSSL would infer),
 *   - iss is the control plane, aud is this proxy's node id, exp is in the future (tokens live
 *     TAP_TOKEN_TTL_S seconds), and its jti was not used before (a token starts one tap),
 *   - tap.admin, the admin address the control plane dialled, is the address the request came
 *     in on: node ids and metadata are not authenticated over xDS, so a client that claims this
 *     proxy's node id and its own admin address gets a token it cannot replay here.
 * The tap's filter and rate come from the token's `tap` claim, not from the request, so a relay
 * cannot widen what the control plane allowed. Anyone who can read a workload certificate's key
 * still cannot tap: only the CA signs certificates with the control plane's name.
 */
import { X509Certificate } from 'node:crypto';
import { jose } from '../../common/lazy_module.ts';
import { splitPemCertificates } from '../../ca/keys.ts';
import type { TapMatch } from './tap_session.ts';

export const TAP_TOKEN_ISSUER = 'tsmesh/controlplane';
/** The control plane's name in its certificates (Istio's istiod Service). */
export const TAP_SIGNER_DNS = 'istiod.istio-system.svc';
export const TAP_TOKEN_TTL_S = 30;

export interface TapClaims extends TapMatch {
  maxRps: number;
  /** The admin host:port the token is for (adminKey form). */
  admin: string;
}

/** host:port as tokens carry it: IPv6 in brackets, IPv4-mapped addresses as plain IPv4, lower case. */
export function adminKey(host: string, port: number): string {
  const h = host.replace(/^\[|\]$/g, '').replace(/^::ffff:(\d+\.\d+\.\d+\.\d+)$/i, '$1').toLowerCase();
  return h.includes(':') ? `[${h}]:${port}` : `${h}:${port}`;
}

export type TapTokenResult = { ok: true; claims: TapClaims; subject: string } | { ok: false; reason: string };

/** jtis seen, until their token expires. */
const used = new Map<string, number>();

/**
 * `ownAdmin`: the addresses (adminKey form) this proxy's admin API was reached on; the token's
 * tap.admin must be one of them.
 */
export async function verifyTapToken(token: string, trustedRootsPem: string | undefined, nodeId: string, ownAdmin: readonly string[], now = Date.now()): Promise<TapTokenResult> {
  if (!trustedRootsPem) return { ok: false, reason: 'this proxy has no mesh trust bundle (no ROOTCA secret from SDS), so it cannot check a tap token' };
  const { decodeProtectedHeader, jwtVerify } = jose();
  let chain: X509Certificate[];
  try {
    const x5c = decodeProtectedHeader(token).x5c;
    if (!Array.isArray(x5c) || x5c.length === 0) return { ok: false, reason: 'the tap token has no x5c certificate chain' };
    chain = x5c.map((b) => new X509Certificate(Buffer.from(String(b), 'base64')));
  } catch (e) {
    return { ok: false, reason: `malformed tap token (${(e as Error).message})` };
  }
  const leaf = chain[0]!;
  if (!(leaf.subjectAltName ?? '').split(', ').includes(`DNS:${TAP_SIGNER_DNS}`)) return { ok: false, reason: `the tap token is not signed by the control plane (its certificate does not name ${TAP_SIGNER_DNS})` };
  if (Date.parse(leaf.validFrom) > now || Date.parse(leaf.validTo) < now) return { ok: false, reason: 'the tap token signer certificate is not valid now' };
  for (let i = 0; i + 1 < chain.length; i++) {
    const issuer = chain[i + 1]!;
    if (!issuer.ca) return { ok: false, reason: `the tap token certificate chain is broken at #${i + 2}: it is not a CA certificate` };
    if (Date.parse(issuer.validFrom) > now || Date.parse(issuer.validTo) < now) return { ok: false, reason: `the tap token certificate chain is broken at #${i + 2}: it is not valid now` };
    if (!chain[i]!.checkIssued(issuer) || !chain[i]!.verify(issuer.publicKey)) return { ok: false, reason: `the tap token certificate chain is broken at #${i + 1}` };
  }
  const roots = splitPemCertificates(trustedRootsPem).map((p) => new X509Certificate(p));
  const last = chain[chain.length - 1]!;
  const anchored = roots.some((r) => r.fingerprint256 === last.fingerprint256 || (last.checkIssued(r) && last.verify(r.publicKey)));
  if (!anchored) return { ok: false, reason: 'the tap token certificate does not chain to this proxy\'s mesh trust root' };
  let payload: Record<string, unknown>;
  try {
    ({ payload } = await jwtVerify(token, leaf.publicKey, { issuer: TAP_TOKEN_ISSUER, audience: nodeId, currentDate: new Date(now), requiredClaims: ['exp', 'jti'] }));
  } catch (e) {
    return { ok: false, reason: `tap token rejected: ${(e as Error).message}` };
  }
  const exp = Number(payload.exp) * 1000;
  if (exp - now > (TAP_TOKEN_TTL_S + 60) * 1000) return { ok: false, reason: 'tap token lives too long' };
  for (const [k, until] of used) if (until < now) used.delete(k);
  const jti = String(payload.jti);
  if (used.has(jti)) return { ok: false, reason: 'tap token already used: ask the control plane for a new tap' };
  used.set(jti, exp);
  const t = (payload.tap ?? {}) as Record<string, unknown>;
  const maxRps = Number(t.maxRps);
  if (!(maxRps > 0)) return { ok: false, reason: 'tap token has no tap.maxRps' };
  const admin = typeof t.admin === 'string' ? t.admin : '';
  if (!ownAdmin.includes(admin)) return { ok: false, reason: `the tap token is for the admin API at ${admin || '(none)'}, not this one (${ownAdmin.join(', ')}): two proxies claim one node id, or the token was replayed` };
  return {
    ok: true,
    subject: String(payload.sub ?? ''),
    claims: {
      maxRps,
      admin,
      ...(typeof t.pathPrefix === 'string' ? { pathPrefix: t.pathPrefix } : {}),
      ...(typeof t.method === 'string' ? { method: t.method } : {}),
      ...(t.showQuery === true ? { showQuery: true } : {}),
    },
  };
}
