/**
 * When to renew a workload certificate, as Istio's agent decides it: once less than
 * SECRET_GRACE_PERIOD_RATIO of its lifetime remains (0.5: at half life), the ratio moved by a
 * random amount within SECRET_GRACE_PERIOD_RATIO_JITTER (0.01) so proxies started together do not
 * all ask the CA at once.
 */

/** Istio's SECRET_GRACE_PERIOD_RATIO default. */
export const SECRET_GRACE_PERIOD_RATIO = 0.5;
/** Istio's SECRET_GRACE_PERIOD_RATIO_JITTER default. */
export const SECRET_GRACE_PERIOD_RATIO_JITTER = 0.01;

export interface RotationPolicy {
  graceRatio?: number;
  graceRatioJitter?: number;
  /** Returns a number in [0, 1). Default Math.random. */
  random?: () => number;
}

/** The time (ms since epoch) at which a certificate valid over [notBefore, notAfter] is renewed. */
export function renewAt(notBefore: number, notAfter: number, p: RotationPolicy = {}): number {
  const ratio = p.graceRatio ?? SECRET_GRACE_PERIOD_RATIO;
  const jitter = p.graceRatioJitter ?? SECRET_GRACE_PERIOD_RATIO_JITTER;
  const r = Math.min(0.99, Math.max(0.01, ratio + (2 * (p.random ?? Math.random)() - 1) * jitter));
  return notAfter - r * (notAfter - notBefore);
}
