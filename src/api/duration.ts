/**
 * The one duration reader of tsmesh. Istio's YAML writes durations as Go does ("1m30s", ".5s",
 * "250ms", "1h"), Envoy's proto3 JSON as seconds ("1.5s") or {seconds, nanos}; both grammars are
 * read here so validation, translation, the xDS codec and the proxy can never disagree on what a
 * duration means. Arithmetic is done in integer nanoseconds (BigInt) so "0.1s" stays exact.
 */
import { ERR } from './errors.ts';

/** A protobuf Duration. `seconds` and `nanos` have the same sign, |nanos| < 1e9. */
export interface Duration {
  seconds: number;
  nanos: number;
}

const NANOS_PER_UNIT: Record<string, bigint> = {
  ns: 1n,
  us: 1_000n,
  'µs': 1_000n,
  'μs': 1_000n,
  ms: 1_000_000n,
  s: 1_000_000_000n,
  m: 60_000_000_000n,
  h: 3_600_000_000_000n,
};
const TERM = /^(\d+)?(?:\.(\d*))?(ns|us|µs|μs|ms|s|m|h)/;

/** Integer nanoseconds of `text` ("1m30s", ".5s", "-1.5s", "0"), or undefined if malformed. */
export function durationNanos(text: string): bigint | undefined {
  let rest = text;
  let sign = 1n;
  if (rest.startsWith('-') || rest.startsWith('+')) {
    if (rest[0] === '-') sign = -1n;
    rest = rest.slice(1);
  }
  if (rest === '0') return 0n; // Go accepts a bare 0
  if (rest === '') return undefined;
  let total = 0n;
  while (rest.length > 0) {
    const m = TERM.exec(rest);
    if (!m || (m[1] === undefined && !m[2])) return undefined;
    const unit = NANOS_PER_UNIT[m[3]!]!;
    const whole = BigInt(m[1] ?? '0');
    const frac = m[2] ?? '';
    // Fractions finer than the unit's nanosecond resolution are truncated, as Go does.
    const fracNanos = frac === '' ? 0n : (BigInt(frac.slice(0, 18).padEnd(18, '0')) * unit) / 10n ** 18n;
    total += whole * unit + fracNanos;
    rest = rest.slice(m[0].length);
  }
  return sign * total;
}

/** A Duration from either JSON form; throws DurationError naming `path` when malformed. */
export function parseDuration(v: unknown, path = 'duration'): Duration {
  if (typeof v === 'object' && v !== null && !Array.isArray(v)) {
    const o = v as { seconds?: number | string; nanos?: number };
    const seconds = Number(o.seconds ?? 0);
    const nanos = Number(o.nanos ?? 0);
    if (!Number.isFinite(seconds) || !Number.isInteger(nanos) || Math.abs(nanos) >= 1e9) {
      throw new DurationError(path, v);
    }
    return { seconds, nanos };
  }
  const n = typeof v === 'string' ? durationNanos(v) : undefined;
  if (n === undefined) throw new DurationError(path, v);
  return fromNanos(n);
}

/** Milliseconds (fractional below 1 ms) of a duration string, or undefined if malformed. */
export function durationMsOf(text: string): number | undefined {
  const n = durationNanos(text);
  return n === undefined ? undefined : Number(n) / 1e6;
}

/** Milliseconds of a Duration in either JSON form; throws when malformed. */
export function toMs(v: unknown, path?: string): number {
  const d = parseDuration(v, path);
  return d.seconds * 1000 + d.nanos / 1e6;
}

/** Envoy's proto3 JSON form ("90s", "0.5s", "0.000001s") of any accepted duration. */
export function envoyDuration(v: unknown, path?: string): string {
  return formatDuration(parseDuration(v, path));
}

/** proto3 JSON text of a Duration: seconds with up to 9 fractional digits. */
export function formatDuration(d: { seconds?: number | string; nanos?: number }): string {
  const seconds = Number(d.seconds ?? 0);
  const nanos = Number(d.nanos ?? 0);
  const neg = seconds < 0 || nanos < 0;
  const abs = Math.abs(seconds);
  const n = Math.abs(nanos);
  if (n === 0) return `${neg ? '-' : ''}${abs}s`;
  const frac = String(n).padStart(9, '0').replace(/0+$/, '');
  return `${neg ? '-' : ''}${abs}.${frac}s`;
}

/** Duration from milliseconds (for values computed in code, e.g. defaults). */
export function msToDuration(ms: number): Duration {
  return fromNanos(BigInt(Math.round(ms * 1e6)));
}

function fromNanos(n: bigint): Duration {
  const seconds = n / 1_000_000_000n;
  const nanos = n - seconds * 1_000_000_000n;
  return { seconds: Number(seconds), nanos: Number(nanos) };
}

/** A malformed duration; `path` names the field. */
export class DurationError extends Error {
  readonly code = ERR.INVALID_DURATION;
  constructor(
    readonly path: string,
    readonly value: unknown,
  ) {
    super(`${path}: invalid duration ${JSON.stringify(value)}: use a number with a unit, e.g. "10s", "0.5s", "250ms", "1m30s"`);
    this.name = 'DurationError';
  }
}
