/**
 * One header or trailer field line (RFC 9112 5), validated the way llhttp's strict mode and Envoy
 * do: no obs-fold, no whitespace between name and colon, token characters only in the name, no
 * control characters in the value. The caller has already found the line's CRLF.
 */
import { COLON, FIELD_VALUE, HTAB, SP, TCHAR } from './tokens.ts';

/** Offsets of the last line parsed; reused so a parse allocates nothing. */
export interface FieldLine {
  nameEnd: number;
  valueStart: number;
  valueEnd: number;
  /** Why the last line was rejected. */
  error: string;
}

export function newFieldLine(): FieldLine {
  return { nameEnd: 0, valueStart: 0, valueEnd: 0, error: '' };
}

/**
 * Parses buf[start, end) (the line without its CRLF) into `out`: name is [start, nameEnd), value
 * [valueStart, valueEnd) with surrounding whitespace trimmed. False (and out.error) when invalid.
 */
export function parseFieldLine(buf: Buffer, start: number, end: number, out: FieldLine): boolean {
  let i = start;
  const c0 = buf[i];
  if (c0 === SP || c0 === HTAB) return fail(out, 'obs-fold or whitespace before a field name');
  while (i < end && TCHAR[buf[i]] === 1) i++;
  if (i === start) return fail(out, 'invalid header name');
  if (i === end) return fail(out, 'header line without colon');
  const c = buf[i];
  if (c !== COLON) return fail(out, c === SP || c === HTAB ? 'whitespace before colon' : 'invalid header name');
  out.nameEnd = i;
  i++;
  while (i < end && (buf[i] === SP || buf[i] === HTAB)) i++;
  out.valueStart = i;
  let last = i;
  for (; i < end; i++) {
    const v = buf[i];
    if (FIELD_VALUE[v] === 0) return fail(out, 'invalid header value character');
    if (v !== SP && v !== HTAB) last = i + 1;
  }
  out.valueEnd = last;
  return true;
}

function fail(out: FieldLine, why: string): false {
  out.error = why;
  return false;
}
