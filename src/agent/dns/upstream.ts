/**
 * Forwarding to the upstream resolvers (resolv.conf's nameservers): the query's own bytes, over
 * the protocol the client used (UDP answers that come back truncated reach the client as they
 * are, and it retries over TCP, as with any resolver). Each attempt is bounded in time; the
 * servers are tried in order until one answers.
 */
import { createSocket } from 'node:dgram';
import { connect, isIP } from 'node:net';

export interface Upstream {
  host: string;
  port: number;
}

/** "10.0.0.2", "10.0.0.2:5353", "[fd00::1]:53" or "fd00::1". */
export function parseUpstream(s: string): Upstream {
  const v6 = /^\[(.+)\](?::(\d+))?$/.exec(s);
  if (v6) return { host: v6[1]!, port: Number(v6[2] ?? 53) };
  if (isIP(s) === 6) return { host: s, port: 53 };
  const [host, port] = s.split(':');
  if (!host || isIP(host) === 0) throw new Error(`DNS upstream ${JSON.stringify(s)}: expected an IP address, optionally with :port`);
  const p = Number(port ?? 53);
  if (!Number.isInteger(p) || p <= 0 || p > 65535) throw new Error(`DNS upstream ${JSON.stringify(s)}: bad port`);
  return { host, port: p };
}

const MAX_TCP_MESSAGE = 65535;

/** One UDP exchange: resolves with the first datagram from the server carrying the query's id. */
export function exchangeUdp(query: Buffer, up: Upstream, timeoutMs: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const sock = createSocket(isIP(up.host) === 6 ? 'udp6' : 'udp4');
    const id = query.readUInt16BE(0);
    // Settles once: a late send error or 'error' after the answer must not close the socket
    // again (ERR_SOCKET_DGRAM_NOT_RUNNING thrown from an event callback would end the proxy).
    let settled = false;
    const done = (err: Error | undefined, msg?: Buffer) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      sock.close();
      if (err) reject(err);
      else resolve(msg!);
    };
    const timer = setTimeout(() => done(new Error(`no answer from ${up.host}:${up.port} in ${timeoutMs} ms`)), timeoutMs);
    sock.on('error', (e) => done(e));
    sock.on('message', (msg, rinfo) => {
      // Only the server we asked, and only this query's answer.
      if (rinfo.address !== up.host || rinfo.port !== up.port || msg.length < 12 || msg.readUInt16BE(0) !== id) return;
      done(undefined, msg);
    });
    sock.send(query, up.port, up.host, (e) => e && done(e));
  });
}

/** One TCP exchange (RFC 1035 4.2.2: two-byte length prefix). */
export function exchangeTcp(query: Buffer, up: Upstream, timeoutMs: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const sock = connect({ host: up.host, port: up.port });
    let buf = Buffer.alloc(0);
    let settled = false;
    const done = (err: Error | undefined, msg?: Buffer) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      sock.destroy();
      if (err) reject(err);
      else resolve(msg!);
    };
    const timer = setTimeout(() => done(new Error(`no answer from ${up.host}:${up.port} (tcp) in ${timeoutMs} ms`)), timeoutMs);
    sock.on('error', (e) => done(e));
    sock.on('close', () => done(new Error(`${up.host}:${up.port} closed the connection without an answer`)));
    sock.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      if (buf.length > MAX_TCP_MESSAGE + 2) return done(new Error('oversized answer'));
      if (buf.length < 2) return;
      const n = buf.readUInt16BE(0);
      if (buf.length >= 2 + n) done(undefined, buf.subarray(2, 2 + n));
    });
    const len = Buffer.alloc(2);
    len.writeUInt16BE(query.length);
    sock.write(Buffer.concat([len, query]));
  });
}

/** Tries each upstream in order; rejects with the last error when none answers. */
export async function forward(query: Buffer, upstreams: readonly Upstream[], protocol: 'udp' | 'tcp', timeoutMs: number): Promise<Buffer> {
  let last: Error = new Error('no upstream resolvers (resolv.conf has no usable nameserver)');
  for (const up of upstreams) {
    try {
      return await (protocol === 'udp' ? exchangeUdp : exchangeTcp)(query, up, timeoutMs);
    } catch (e) {
      last = e as Error;
    }
  }
  throw last;
}
