/**
 * Istio's ServiceEntry address auto-allocation (ISTIO_META_DNS_AUTO_ALLOCATE): a ServiceEntry
 * host with no address gets a VIP from 240.240.0.0/16 (and 2001:2::/48 for IPv6), so the DNS
 * proxy can answer for it and captured TCP to it finds an outbound listener of its own.
 *
 * The slot is a hash of `namespace/hostname` (FNV-1a, as Istio), so a host keeps its VIP across
 * pushes and control-plane restarts; collisions probe forward, in ServiceEntry creation order,
 * so an older entry keeps its address when a newer one lands on the same slot. Pure: computed
 * once per PushContext. A proxy sees the allocated VIPs only when its metadata asks for both
 * DNS_CAPTURE and DNS_AUTO_ALLOCATE (Istio's GetAddressForProxy).
 */
import { isIP } from 'node:net';
import type { Service } from '../../registry/model.ts';
import type { Proxy, PushContext } from '../types.ts';
import { pushIndex } from '../push_context.ts';
import { cmp } from '../util.ts';

/** The allocated pair of one host. */
export interface AutoAllocated {
  v4: string;
  v6: string;
}

/** 240.240.<a>.<b> with b in 1..254: no address ends in .0 or .255. */
const THIRD = 256;
const FOURTH = 254;
export const AUTO_ALLOCATE_SLOTS = THIRD * FOURTH;

/** 32-bit FNV-1a of a string's UTF-8 bytes. */
export function fnv1a32(s: string): number {
  let h = 0x811c9dc5;
  for (const b of Buffer.from(s, 'utf8')) {
    h ^= b;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/** The addresses of slot `n` (0-based). */
export function slotAddresses(n: number): AutoAllocated {
  const a = Math.floor(n / FOURTH);
  const b = (n % FOURTH) + 1;
  return { v4: `240.240.${a}.${b}`, v6: `2001:2::f0f0:${((a << 8) | b).toString(16)}` };
}

/** True for a Service Istio would allocate for: a non-wildcard ServiceEntry host without an IP, not resolution NONE. */
export function needsAutoAllocation(svc: Service): boolean {
  return svc.registry !== 'kubernetes' && !svc.hostname.startsWith('*') && svc.resolution !== 'NONE' && !svc.addresses.some((a) => isIP(a) !== 0);
}

const cache = new WeakMap<PushContext, Map<string, AutoAllocated>>();

/** Every allocated VIP of a push, by hostname (computed once per push). */
export function autoAllocatedAddresses(push: PushContext): ReadonlyMap<string, AutoAllocated> {
  let out = cache.get(push);
  if (out) return out;
  out = allocate(push);
  cache.set(push, out);
  return out;
}

function allocate(push: PushContext): Map<string, AutoAllocated> {
  // Creation time of the oldest ServiceEntry naming each namespace/host: older entries claim
  // contested slots first (byKind is in Istio's config order, oldest first).
  const created = new Map<string, string>();
  for (const c of pushIndex(push).byKind.get('ServiceEntry') ?? []) {
    for (const h of (c.spec?.hosts ?? []) as unknown[]) {
      const key = `${c.metadata.namespace}/${String(h)}`;
      if (!created.has(key)) created.set(key, c.metadata.creationTimestamp ?? '');
    }
  }
  const candidates = push.services
    .filter(needsAutoAllocation)
    .map((svc) => ({ svc, created: created.get(`${svc.namespace}/${svc.hostname}`) ?? '' }))
    .sort((x, y) => cmp(x.created, y.created) || cmp(x.svc.namespace, y.svc.namespace) || cmp(x.svc.hostname, y.svc.hostname));
  const taken = new Set<number>();
  const out = new Map<string, AutoAllocated>();
  for (const { svc } of candidates) {
    if (out.has(svc.hostname)) continue;
    if (taken.size >= AUTO_ALLOCATE_SLOTS) break; // the range is full: the rest keep no VIP
    let slot = fnv1a32(`${svc.namespace}/${svc.hostname}`) % AUTO_ALLOCATE_SLOTS;
    while (taken.has(slot)) slot = (slot + 1) % AUTO_ALLOCATE_SLOTS;
    taken.add(slot);
    out.set(svc.hostname, slotAddresses(slot));
  }
  return out;
}

function flag(v: unknown): boolean {
  return v === true || v === 'true';
}

/** ISTIO_META_DNS_CAPTURE: the proxy's agent answers DNS. */
export function dnsCapture(proxy: Proxy): boolean {
  return flag(proxy.metadata.DNS_CAPTURE);
}

/** DNS_CAPTURE and DNS_AUTO_ALLOCATE both on: the proxy uses auto-allocated VIPs. */
export function dnsAutoAllocate(proxy: Proxy): boolean {
  return dnsCapture(proxy) && flag(proxy.metadata.DNS_AUTO_ALLOCATE);
}

/**
 * The addresses a proxy knows a service by (Istio's GetAllAddressesForProxy): its own, else the
 * auto-allocated pair when the proxy asks for auto-allocation.
 */
export function serviceAddressesForProxy(push: PushContext, proxy: Proxy, svc: Service): string[] {
  if (svc.addresses.length > 0 || !dnsAutoAllocate(proxy)) return svc.addresses;
  const a = autoAllocatedAddresses(push).get(svc.hostname);
  return a ? [a.v4, a.v6] : svc.addresses;
}
