/**
 * Where the agent's DNS proxy may serve. It forwards every name it does not know, so bound to an
 * address other hosts reach it would be an open recursive resolver (amplification); Istio's
 * agent serves on localhost only, and so do we.
 */
import { BlockList, isIP } from 'node:net';
import { parseUpstream } from './upstream.ts';

const LOOPBACK6 = new BlockList();
LOOPBACK6.addAddress('::1', 'ipv6');

/** 127.0.0.0/8, ::1 and ::ffff:127.x.y.z: the addresses only this host can reach. */
export function isLoopbackAddress(ip: string): boolean {
  if (isIP(ip) === 4) return ip.startsWith('127.');
  if (isIP(ip) !== 6) return false;
  const low = ip.toLowerCase();
  if (low.startsWith('::ffff:') && isIP(low.slice(7)) === 4) return isLoopbackAddress(low.slice(7));
  return LOOPBACK6.check(low, 'ipv6');
}

/** Throws, naming the flag, unless `s` is "ip[:port]" with a loopback ip. */
export function checkDnsAddress(s: string, flag = '--dns-address'): void {
  let host: string;
  try {
    host = parseUpstream(s).host;
  } catch (e) {
    throw new Error(`${flag}: ${(e as Error).message.replace(/^DNS upstream /, '')}`);
  }
  if (!isLoopbackAddress(host)) throw new Error(`${flag} ${s}: not a loopback address (127.0.0.0/8 or ::1); the agent's DNS proxy forwards any name, so it serves this host only`);
}
