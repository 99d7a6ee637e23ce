/**
 * CIDR ranges (Envoy's CidrRange: address_prefix + prefix_len) for filter chain matching and
 * source_type LOCAL checks. IPv4-mapped IPv6 addresses (::ffff:a.b.c.d, what a dual-stack socket
 * reports) are treated as IPv4.
 */
import { isIPv4, isIPv6 } from 'node:net';
import type { EnvoyJson } from '../../xds/types.ts';

export interface Cidr {
  v6: boolean;
  bits: bigint;
  len: number;
}

export function normalizeIp(ip: string): string {
  return ip.startsWith('::ffff:') && isIPv4(ip.slice(7)) ? ip.slice(7) : ip;
}

/** The address as a 32- or 128-bit integer, or undefined when it is not an IP. */
export function ipBits(ip: string): { v6: boolean; bits: bigint } | undefined {
  const a = normalizeIp(ip);
  if (isIPv4(a)) return { v6: false, bits: a.split('.').reduce((acc, o) => (acc << 8n) | BigInt(Number(o)), 0n) };
  if (!isIPv6(a)) return undefined;
  let [head, tail] = a.split('::');
  const parse = (s: string | undefined): number[] => {
    if (!s) return [];
    const out: number[] = [];
    for (const part of s.split(':')) {
      if (isIPv4(part)) {
        const o = part.split('.').map(Number);
        out.push((o[0] << 8) | o[1], (o[2] << 8) | o[3]);
      } else out.push(parseInt(part, 16));
    }
    return out;
  };
  const h = parse(head);
  const t = tail === undefined ? [] : parse(tail);
  const groups = tail === undefined ? h : [...h, ...new Array(8 - h.length - t.length).fill(0), ...t];
  return { v6: true, bits: groups.reduce((acc, g) => (acc << 16n) | BigInt(g), 0n) };
}

/** Parses a CidrRange; throws with the field path when malformed (config validation). */
export function parseCidr(r: EnvoyJson, path: string): Cidr {
  const b = ipBits(String(r.address_prefix ?? ''));
  if (!b) throw new Error(`${path}.address_prefix: not an IP address: ${JSON.stringify(r.address_prefix)}`);
  const max = b.v6 ? 128 : 32;
  const len = r.prefix_len === undefined ? 0 : Number(r.prefix_len);
  if (!Number.isInteger(len) || len < 0 || len > max) throw new Error(`${path}.prefix_len: ${len} out of range 0..${max}`);
  return { v6: b.v6, bits: b.bits, len };
}

export function cidrContains(c: Cidr, ip: { v6: boolean; bits: bigint } | undefined): boolean {
  if (!ip || ip.v6 !== c.v6) return false;
  const width = c.v6 ? 128n : 32n;
  const shift = width - BigInt(c.len);
  return ip.bits >> shift === c.bits >> shift;
}

/** Loopback or the connection's own address: Envoy's source_type LOCAL. */
export function isLocalSource(src: string, dst: string): boolean {
  const s = normalizeIp(src);
  return s === normalizeIp(dst) || s.startsWith('127.') || s === '::1';
}
