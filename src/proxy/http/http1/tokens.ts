/**
 * Byte classes of HTTP/1.1 (RFC 9110 5.6, RFC 9112), as 256-entry tables so a parser checks a byte
 * with one indexed load. Shared by request and response parsing and by the response writer; no
 * server- or client-side assumptions here.
 */

function table(pred: (c: number) => boolean): Uint8Array {
  const t = new Uint8Array(256);
  for (let c = 0; c < 256; c++) t[c] = pred(c) ? 1 : 0;
  return t;
}

const TCHAR_EXTRA = "!#$%&'*+-.^_`|~";

/** tchar (RFC 9110 5.6.2): what method names, header names and chunk-extension names are made of. */
export const TCHAR = table((c) => (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || TCHAR_EXTRA.includes(String.fromCharCode(c)));

/** A field value byte (RFC 9110 5.5): VCHAR, obs-text, SP and HTAB; every other control byte is invalid. */
export const FIELD_VALUE = table((c) => c === 0x09 || (c >= 0x20 && c !== 0x7f));

/** A request-target byte: visible ASCII only (no SP, no controls, no bytes above 0x7e). */
export const TARGET = table((c) => c >= 0x21 && c <= 0x7e);

/** qdtext (RFC 9110 5.6.4): what a quoted-string holds besides quoted-pairs. */
export const QDTEXT = table((c) => c === 0x09 || c === 0x20 || c === 0x21 || (c >= 0x23 && c <= 0x5b) || (c >= 0x5d && c <= 0x7e) || c >= 0x80);

/** Hex digit values, -1 for anything else (chunk sizes). */
export const HEX = new Int8Array(256).fill(-1);
for (let c = 0; c < 10; c++) HEX[0x30 + c] = c;
for (let c = 0; c < 6; c++) HEX[0x41 + c] = HEX[0x61 + c] = 10 + c;

export const CR = 0x0d;
export const LF = 0x0a;
export const SP = 0x20;
export const HTAB = 0x09;
export const COLON = 0x3a;

/** True when `s` is a non-empty token (header names we write, from filters or upstream). */
export function isToken(s: string): boolean {
  const n = s.length;
  if (n === 0) return false;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c > 0xff || TCHAR[c] === 0) return false;
  }
  return true;
}

/** True when `s` can be written as a field value: no CR, LF, NUL or other controls, nothing above latin1. */
export function isFieldValue(s: string): boolean {
  for (let i = 0, n = s.length; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c > 0xff || FIELD_VALUE[c] === 0) return false;
  }
  return true;
}

/*
 * The values a proxy itself writes on every request and response of a mesh hop
 * (x-envoy-peer-metadata is ~360 characters, the same string each time) are scanned once: the
 * last valid value of each such header is remembered, and the same string again is one
 * comparison (a pointer compare for the identical string) instead of a ~1.5 µs scan. Only these
 * names, one value each: nothing a client sent is kept beyond its request.
 */
const OWN_HEADERS = new Set(['x-envoy-peer-metadata', 'x-envoy-peer-metadata-id']);
const lastOwnValue = new Map<string, string>();

/** isFieldValue for header `name`'s value, remembering the proxy's own constant headers. */
export function isHeaderValue(name: string, value: string): boolean {
  if (!OWN_HEADERS.has(name)) return isFieldValue(value);
  if (lastOwnValue.get(name) === value) return true;
  if (!isFieldValue(value)) return false;
  lastOwnValue.set(name, value);
  return true;
}

/** node's own latin1 fast paths on Buffer (no argument handling), not in its type declarations. */
type Latin1 = { latin1Slice(start: number, end: number): string; latin1Write(s: string, offset: number): number };

/** Latin-1 decoding of a byte range. */
export function latin1(buf: Buffer, start: number, end: number): string {
  return (buf as unknown as Latin1).latin1Slice(start, end);
}

/**
 * Copies `s` (checked: all chars <= 0xff) into `b` at `o`; returns the offset after it. A plain
 * loop: for the short pieces of a message head it costs what a call into node's latin1Write does.
 */
export function copyLatin1(b: Buffer, s: string, o: number): number {
  const n = s.length;
  for (let i = 0; i < n; i++) b[o + i] = s.charCodeAt(i);
  return o + n;
}

/** Writes `s` (all chars <= 0xff) into `buf` at `offset` as latin1. */
export function writeLatin1(buf: Buffer, s: string, offset: number): void {
  (buf as unknown as Latin1).latin1Write(s, offset);
}

/** ASCII case-insensitive equality of a (possibly mixed-case) string with a lower-case literal. */
export function equalsLower(s: string, lower: string): boolean {
  return s.length === lower.length && (s === lower || s.toLowerCase() === lower);
}
