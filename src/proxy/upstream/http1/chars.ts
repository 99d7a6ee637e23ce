/**
 * Byte classes of RFC 9110 / 9112 as lookup tables, for the strict HTTP/1.1 parsers: a header
 * name is a token; a field value is HTAB, SP, VCHAR or obs-text (no CR, LF, NUL or other
 * controls: what llhttp in strict mode rejects).
 */

/** tchar: "!#$%&'*+-.^_`|~", DIGIT, ALPHA. */
export const TOKEN = new Uint8Array(256);
for (let c = 0x30; c <= 0x39; c++) TOKEN[c] = 1;
for (let c = 0x41; c <= 0x5a; c++) TOKEN[c] = 1;
for (let c = 0x61; c <= 0x7a; c++) TOKEN[c] = 1;
for (const ch of "!#$%&'*+-.^_`|~") TOKEN[ch.charCodeAt(0)] = 1;

/** field-vchar / SP / HTAB. */
export const FIELD_VALUE = new Uint8Array(256);
FIELD_VALUE[0x09] = 1;
for (let c = 0x20; c <= 0x7e; c++) FIELD_VALUE[c] = 1;
for (let c = 0x80; c <= 0xff; c++) FIELD_VALUE[c] = 1;

/** Hex digit value + 1 (0: not a hex digit), for chunk sizes. */
export const HEX = new Uint8Array(256);
for (let c = 0; c < 10; c++) HEX[0x30 + c] = c + 1;
for (let c = 0; c < 6; c++) {
  HEX[0x41 + c] = c + 11;
  HEX[0x61 + c] = c + 11;
}

/** Is `s` a valid field value as a string (request headers we write)? One definition with the downstream writer's. */
export { isFieldValue, isHeaderValue } from '../../http/http1/tokens.ts';

/** Is `s` a non-empty token (header names and methods we write)? */
export function isToken(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 0x7f || TOKEN[c] === 0) return false;
  }
  return true;
}
