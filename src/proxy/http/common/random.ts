/**
 * Random sources and Envoy's FractionalPercent / RuntimeFractionalPercent evaluation. The random
 * source is injectable (FactoryContext.random) so tests of weights, faults and mirroring are
 * deterministic; the default is Math.random.
 */
import type { EnvoyJson } from '../../../xds/types.ts';

export type Random = () => number;

const DENOMINATORS: Record<string, number> = { HUNDRED: 100, TEN_THOUSAND: 10_000, MILLION: 1_000_000 };

/** A FractionalPercent reduced to a probability in [0, 1]; undefined config means `dflt`. */
export function fractionToProbability(fp: EnvoyJson | undefined, dflt: number): number {
  if (!fp) return dflt;
  const den = DENOMINATORS[fp.denominator ?? 'HUNDRED'] ?? 100;
  const num = Number(fp.numerator ?? 0);
  return Math.min(1, Math.max(0, num / den));
}

/** RuntimeFractionalPercent (runtime_key is ignored: tsmesh has no runtime layer yet). */
export function runtimeFractionToProbability(rf: EnvoyJson | undefined, dflt: number): number {
  if (!rf) return dflt;
  return fractionToProbability(rf.default_value, dflt);
}

/** True with probability p; p of 0 or 1 never consumes randomness. */
export function chance(p: number, random: Random): boolean {
  if (p >= 1) return true;
  if (p <= 0) return false;
  return random() < p;
}

/** Small seeded PRNG (mulberry32) for tests and reproducible benchmarks. */
export function seededRandom(seed: number): Random {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

