/**
 * The client address the HCM trusts (Envoy's ConnectionManagerUtility, "original IP detection"):
 * with use_remote_address the connection's peer, or, when xff_num_trusted_hops is N > 0, the Nth
 * x-forwarded-for entry from the right as it arrived; without use_remote_address, the entry after
 * skipping N from the right. No usable entry means the connection's peer.
 */
import { isIP } from 'node:net';
import type { HeaderMap } from '../../interfaces.ts';
import { getHeader } from '../common/header_utils.ts';

export function trustedClientAddress(h: HeaderMap, peer: string, useRemoteAddress: boolean, trustedHops: number): string {
  if (useRemoteAddress && trustedHops === 0) return peer;
  const skip = useRemoteAddress ? trustedHops - 1 : trustedHops;
  const xff = getHeader(h, 'x-forwarded-for');
  if (!xff) return peer;
  const parts = xff.split(',');
  const i = parts.length - 1 - skip;
  if (i < 0) return peer;
  const ip = parts[i]!.trim();
  return isIP(ip) ? ip : peer;
}
