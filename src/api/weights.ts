/**
 * Istio's rule for the `weight` of route destinations, the one place tsmesh interprets it, for
 * HTTP, TCP and TLS routes alike:
 * - a single destination takes all traffic, whatever its weight says;
 * - with several, weights are relative (they need not sum to 100); a destination weighted 0
 *   takes no traffic; an absent weight is 0;
 * - a negative weight, or several destinations whose weights total 0, is invalid (Istio:
 *   "total destination weight = 0").
 */

/** Each destination's share (0 = none) or the reasons the set is invalid. */
export type WeightsResult = { valid: true; weights: number[] } | { valid: false; errors: Array<{ index?: number; message: string }> };

/** Applies Istio's weight rule to destinations in order. */
export function destinationWeights(destinations: ReadonlyArray<{ weight?: number | null }>): WeightsResult {
  const errors: Array<{ index?: number; message: string }> = [];
  if (destinations.length === 1) {
    const w = destinations[0]!.weight;
    if (typeof w === 'number' && w < 0) errors.push({ index: 0, message: `weight ${w} < 0` });
    return errors.length ? { valid: false, errors } : { valid: true, weights: [100] };
  }
  let total = 0;
  const weights = destinations.map((d, index) => {
    const w = d.weight ?? 0;
    if (!Number.isInteger(w)) errors.push({ index, message: `weight ${w} must be an integer` });
    else if (w < 0) errors.push({ index, message: `weight ${w} < 0` });
    else total += w;
    return w > 0 ? w : 0;
  });
  if (destinations.length > 1 && total === 0 && errors.length === 0) {
    errors.push({ message: 'total destination weight = 0: give at least one destination a positive weight' });
  }
  return errors.length ? { valid: false, errors } : { valid: true, weights };
}

/** The destinations that carry traffic, each with its share; throws on an invalid set. */
export function weightedDestinations<T extends { weight?: number | null }>(destinations: readonly T[]): Array<{ destination: T; weight: number }> {
  const r = destinationWeights(destinations);
  if (!r.valid) throw new Error(r.errors.map((e) => e.message).join('; '));
  return destinations.map((destination, i) => ({ destination, weight: r.weights[i]! })).filter((d) => d.weight > 0);
}
