/**
 * The control plane's side of the tap token (the proxy's side and the rules are in
 * src/proxy/tap/tap_token.ts): a signing certificate the CA issues to the control plane itself
 * (DNS SAN istiod.istio-system.svc, renewed well before it expires) and short-lived, single-use
 * JWTs bound to one proxy's node id, carrying the tap's match and rate.
 */
import { createPrivateKey, randomUUID, X509Certificate, type KeyObject } from 'node:crypto';
import { SignJWT } from 'jose';
import type { CertificateAuthority } from '../ca/authority.ts';
import { splitPemCertificates } from '../ca/keys.ts';
import { TAP_SIGNER_DNS, TAP_TOKEN_ISSUER, TAP_TOKEN_TTL_S, type TapClaims } from '../proxy/tap/tap_token.ts';

const SIGNER_TTL_S = 3600;

interface Signer {
  key: KeyObject;
  alg: string;
  x5c: string[];
  renewAt: number;
}

export class TapTokenSigner {
  private signer?: Promise<Signer>;

  constructor(private readonly ca: CertificateAuthority) {}

  async sign(nodeId: string, claims: TapClaims, subject: string): Promise<string> {
    const s = await this.current();
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({ tap: claims })
      .setProtectedHeader({ alg: s.alg, typ: 'JWT', x5c: s.x5c })
      .setIssuer(TAP_TOKEN_ISSUER)
      .setAudience(nodeId)
      .setSubject(subject)
      .setJti(randomUUID())
      .setIssuedAt(now)
      .setExpirationTime(now + TAP_TOKEN_TTL_S)
      .sign(s.key);
  }

  private current(): Promise<Signer> {
    const cached = this.signer;
    if (cached) {
      return cached.then((s) => (s.renewAt > Date.now() ? s : ((this.signer = undefined), this.current())));
    }
    const next = this.issue();
    this.signer = next;
    next.catch(() => (this.signer = undefined));
    return next;
  }

  private async issue(): Promise<Signer> {
    const { chainPem, keyPem } = await this.ca.serverCertificate({ dnsNames: [TAP_SIGNER_DNS], ttlSeconds: SIGNER_TTL_S });
    const key = createPrivateKey(keyPem);
    const curve = key.asymmetricKeyDetails?.namedCurve;
    const alg = key.asymmetricKeyType === 'rsa' ? 'RS256' : curve === 'secp384r1' ? 'ES384' : 'ES256';
    const x5c = splitPemCertificates(chainPem).map((p) => new X509Certificate(p).raw.toString('base64'));
    // Renewed at half its life, so a token never carries a certificate about to expire.
    return { key, alg, x5c, renewAt: Date.now() + (SIGNER_TTL_S / 2) * 1000 };
  }
}
