/**
 * Buffer bytes as a latin1 string without Buffer#toString's argument handling: node's (and
 * Bun's) Buffer has latin1Slice; anything else falls back to toString.
 */
type WithSlice = Buffer & { latin1Slice?: (start: number, end: number) => string };

const fast = typeof (Buffer.prototype as WithSlice).latin1Slice === 'function';

export function latin1(buf: Buffer, start: number, end: number): string {
  return fast ? (buf as WithSlice).latin1Slice!(start, end) : buf.toString('latin1', start, end);
}
