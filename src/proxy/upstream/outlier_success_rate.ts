/**
 * Success-rate bookkeeping for outlier detection (Envoy's SuccessRateAccumulator): each host counts
 * requests and successes in the current interval; at the interval tick the bucket is swapped and
 * the last full interval's rate is what ejection decisions read. The statistics (mean, standard
 * deviation, threshold) are Envoy's success-rate ejection as documented in its outlier overview.
 */

/** Requests and successes of one origin (external or local) of one host. */
export class SuccessRateMonitor {
  private total = 0;
  private success = 0;
  /** The last complete interval, read by the detector and /clusters. */
  private lastTotal = 0;
  private lastSuccess = 0;

  incTotal(): void {
    this.total++;
  }

  incSuccess(): void {
    this.success++;
  }

  /** Interval tick: the current bucket becomes the readable one. */
  swap(): void {
    this.lastTotal = this.total;
    this.lastSuccess = this.success;
    this.total = 0;
    this.success = 0;
  }

  /** Success rate in percent over the last interval, or undefined below `requestVolume` requests. */
  rate(requestVolume: number): number | undefined {
    if (this.lastTotal === 0 || this.lastTotal < requestVolume) return undefined;
    return (100 * this.lastSuccess) / this.lastTotal;
  }
}

/**
 * Envoy's success-rate ejection threshold: mean − stdevFactor × population standard deviation of
 * the hosts' success rates. `stdevFactor` is success_rate_stdev_factor divided by 1000.
 */
export function successRateThreshold(rates: readonly number[], stdevFactor: number): { average: number; threshold: number } {
  let sum = 0;
  for (const r of rates) sum += r;
  const average = sum / rates.length;
  let variance = 0;
  for (const r of rates) variance += (r - average) ** 2;
  variance /= rates.length;
  return { average, threshold: average - stdevFactor * Math.sqrt(variance) };
}
