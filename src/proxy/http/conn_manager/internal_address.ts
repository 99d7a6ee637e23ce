/**
 * Envoy's classic notion of an internal request source: loopback and RFC 1918 / unique-local
 * addresses. With use_remote_address, requests from elsewhere are external: their x-envoy-*
 * headers are not trusted and x-request-id is regenerated.
 */
import { isIPv4 } from 'node:net';

export function isInternalAddress(ip: string): boolean {
  let a = ip;
  if (a.startsWith('::ffff:')) a = a.slice(7);
  if (isIPv4(a)) {
    const [o1, o2] = a.split('.').map(Number);
    return o1 === 10 || o1 === 127 || (o1 === 172 && o2 >= 16 && o2 <= 31) || (o1 === 192 && o2 === 168);
  }
  const l = a.toLowerCase();
  return l === '::1' || l.startsWith('fc') || l.startsWith('fd');
}
