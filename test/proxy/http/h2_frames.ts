/**
 * HTTP/2 frames and HPACK fields built by hand for wire tests (RFC 9113 4.1, RFC 7541),
 * independent of the proxy's own frame writer and encoder, so the tests do not check the codecs
 * against themselves.
 */
export function frame(type: number, flags: number, stream: number, payload: Buffer | string = Buffer.alloc(0)): Buffer {
  const p = typeof payload === 'string' ? Buffer.from(payload) : payload;
  const h = Buffer.alloc(9);
  h.writeUIntBE(p.length, 0, 3);
  h[3] = type;
  h[4] = flags;
  h.writeUInt32BE(stream, 5);
  return Buffer.concat([h, p]);
}

export const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');

/** A frame as read off the wire. */
export interface Frame {
  type: number;
  flags: number;
  stream: number;
  payload: Buffer;
}

export const u32 = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
};

/** RFC 7541 5.1 integer with an n-bit prefix; `first` carries the representation's high bits. */
export function hpackInt(first: number, bits: number, n: number): number[] {
  const max = (1 << bits) - 1;
  if (n < max) return [first | n];
  const out = [first | max];
  for (n -= max; n >= 128; n >>= 7) out.push((n & 0x7f) | 0x80);
  return [...out, n];
}

/** Literal header field without indexing, new name, no Huffman (RFC 7541 6.2.2). */
export function lit(name: string, value: string): Buffer {
  const n = Buffer.from(name);
  const v = Buffer.from(value);
  return Buffer.concat([Buffer.from([0x00, ...hpackInt(0, 7, n.length)]), n, Buffer.from(hpackInt(0, 7, v.length)), v]);
}

/** A header block from raw bytes (static-table indexes) and literal fields. */
export const block = (...parts: (number[] | Buffer)[]): Buffer => Buffer.concat(parts.map((p) => (Array.isArray(p) ? Buffer.from(p) : p)));
