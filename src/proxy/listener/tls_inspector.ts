/**
 * envoy.filters.listener.tls_inspector: reads the TLS ClientHello (without terminating TLS) to
 * learn SNI and ALPN for filter chain matching. The parser works on the bytes peeked so far and
 * says whether it needs more; bytes are replayed to the chain afterwards, never consumed.
 */

export type ClientHelloResult =
  | { kind: 'need_more' }
  | { kind: 'not_tls' }
  | { kind: 'tls'; serverName?: string; alpn: string[] };

/** Envoy's default cap on how much of a ClientHello it reads. */
export const MAX_CLIENT_HELLO = 64 * 1024;

/** Parses a ClientHello from the start of a connection (first record; enough for real clients). */
export function parseClientHello(buf: Buffer): ClientHelloResult {
  if (buf.length < 1) return { kind: 'need_more' };
  if (buf[0] !== 0x16) return { kind: 'not_tls' };
  if (buf.length < 5) return { kind: 'need_more' };
  if (buf[1] !== 0x03) return { kind: 'not_tls' };
  const recordLen = buf.readUInt16BE(3);
  if (buf.length < 5 + recordLen) return buf.length >= MAX_CLIENT_HELLO ? { kind: 'not_tls' } : { kind: 'need_more' };
  const end = 5 + recordLen;
  let p = 5;
  if (buf[p] !== 0x01) return { kind: 'not_tls' }; // handshake type client_hello
  const hsLen = buf.readUIntBE(p + 1, 3);
  p += 4;
  const hsEnd = Math.min(end, p + hsLen);
  try {
    p += 2 + 32; // client_version, random
    p += 1 + buf[p]; // session_id
    p += 2 + buf.readUInt16BE(p); // cipher_suites
    p += 1 + buf[p]; // compression_methods
    if (p + 2 > hsEnd) return { kind: 'tls', alpn: [] };
    const extEnd = Math.min(hsEnd, p + 2 + buf.readUInt16BE(p));
    p += 2;
    let serverName: string | undefined;
    const alpn: string[] = [];
    while (p + 4 <= extEnd) {
      const type = buf.readUInt16BE(p);
      const len = buf.readUInt16BE(p + 2);
      const body = p + 4;
      if (type === 0 && len >= 5) {
        // server_name list: u16 list length, u8 name type (0 = host_name), u16 length, name
        if (buf[body + 2] === 0) serverName = buf.toString('ascii', body + 5, body + 5 + buf.readUInt16BE(body + 3));
      } else if (type === 16 && len >= 2) {
        let q = body + 2;
        const listEnd = body + 2 + buf.readUInt16BE(body);
        while (q < listEnd) {
          const l = buf[q];
          alpn.push(buf.toString('ascii', q + 1, q + 1 + l));
          q += 1 + l;
        }
      }
      p = body + len;
    }
    return { kind: 'tls', serverName: serverName || undefined, alpn };
  } catch {
    // Truncated or malformed hello: treat as TLS without metadata; the handshake will fail on its own.
    return { kind: 'tls', alpn: [] };
  }
}
