/**
 * An HTTP/2 frame built by hand for wire tests (RFC 9113 4.1), independent of the proxy's own
 * frame writer so the tests do not check the codec against itself.
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
