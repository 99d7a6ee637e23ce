/**
 * Virtual IPs for services that have none (Istio's ServiceEntry address auto-allocation, which
 * uses 240.240.0.0/16): lets a DNS proxy answer with an address and the outbound listener match
 * on it. An allocator must be stable — the same hostname gets the same VIP for the life of the
 * process — because the registry calls it on every rebuild.
 */
import type { Service } from './model.ts';

/** Returns the VIP for a service with no addresses, or undefined to leave it without one. */
export type VipAllocator = (svc: Service) => string | undefined;

/** Sequential allocation from an IPv4 CIDR, remembered by hostname; skips wildcard hosts and headless Services. */
export function createVipAllocator(cidr = '240.240.0.0/16'): VipAllocator {
  const [base, bitsText] = cidr.split('/');
  const bits = Number(bitsText);
  const octets = (base ?? '').split('.').map(Number);
  if (octets.length !== 4 || octets.some((o) => !Number.isInteger(o) || o < 0 || o > 255) || !Number.isInteger(bits) || bits < 8 || bits > 30) {
    throw new Error(`createVipAllocator: bad IPv4 CIDR ${cidr}`);
  }
  const size = 2 ** (32 - bits);
  const start = ((octets[0]! << 24) | (octets[1]! << 16) | (octets[2]! << 8) | octets[3]!) >>> 0;
  const network = start - (start % size);
  const given = new Map<string, string>();
  let next = 1; // skip the network address
  return (svc) => {
    if (svc.hostname.startsWith('*')) return undefined;
    if (svc.resolution === 'NONE' && svc.registry === 'kubernetes') return undefined;
    const have = given.get(svc.hostname);
    if (have) return have;
    if (next >= size - 1) return undefined; // exhausted; never hand out the broadcast address
    const n = network + next++;
    const ip = [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
    given.set(svc.hostname, ip);
    return ip;
  };
}
