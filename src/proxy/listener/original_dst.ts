/**
 * Where a connection was originally headed (Envoy's original_dst listener filter and
 * use_original_dst). The function is pluggable: the traffic-capture work installs one reading
 * SO_ORIGINAL_DST; until then it is the socket's local address. For demos and tests without
 * iptables, a client may also use the proxy explicitly by starting the connection with a PROXY
 * protocol v1 line ("PROXY TCP4 <src> <dst> <sport> <dport>\r\n"), whose destination then counts
 * as the original one (enable with --explicit-proxy).
 */
import type { Socket } from 'node:net';
import { normalizeIp } from './cidr.ts';

export interface Destination {
  ip: string;
  port: number;
}

export type OriginalDestinationFn = (socket: Socket) => Destination | undefined;

const localAddress: OriginalDestinationFn = (s) => (s.localAddress && s.localPort ? { ip: normalizeIp(s.localAddress), port: s.localPort } : undefined);

let current: OriginalDestinationFn = localAddress;

export function setOriginalDestination(fn: OriginalDestinationFn | undefined): void {
  current = fn ?? localAddress;
}

export function originalDestination(socket: Socket): Destination | undefined {
  return current(socket);
}

const MAX_PROXY_LINE = 107;

/**
 * Reads a PROXY v1 line if the connection starts with one. Calls back with the destination it
 * names (or undefined) after consuming exactly the line; other bytes are put back.
 */
export function readProxyProtocol(socket: Socket, done: (dst: Destination | undefined, src?: Destination) => void): void {
  let buf: Buffer = Buffer.alloc(0);
  let finished = false;
  const finish = (dst: Destination | undefined, src?: Destination, rest?: Buffer) => {
    if (finished) return;
    finished = true;
    socket.removeListener('data', onData);
    socket.removeListener('end', onEnd);
    socket.pause();
    if (rest && rest.length && !socket.readableEnded) socket.unshift(rest);
    done(dst, src);
  };
  const onData = (chunk: Buffer) => {
    buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
    const prefix = 'PROXY ';
    const n = Math.min(buf.length, prefix.length);
    if (buf.toString('latin1', 0, n) !== prefix.slice(0, n)) return finish(undefined, undefined, buf);
    const nl = buf.indexOf('\r\n');
    if (nl < 0) {
      if (buf.length > MAX_PROXY_LINE) finish(undefined, undefined, buf);
      return;
    }
    const parts = buf.toString('latin1', 0, nl).split(' ');
    const rest = buf.subarray(nl + 2);
    if (parts.length === 6 && (parts[1] === 'TCP4' || parts[1] === 'TCP6')) {
      finish({ ip: parts[3], port: Number(parts[5]) }, { ip: parts[2], port: Number(parts[4]) }, rest);
    } else finish(undefined, undefined, rest);
  };
  const onEnd = () => finish(undefined, undefined, buf);
  socket.on('data', onData);
  socket.once('end', onEnd);
  socket.resume();
}
