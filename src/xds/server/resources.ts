/**
 * What to send, encoded once: a Generator's output for one (type, proxy shape, names) becomes
 * Any-packed bytes with a content hash per resource, cached for the life of one PushContext.
 * Hashes are what make versions honest: a type's version_info changes only when the bytes of
 * what that proxy would receive change, and they are stable across control-plane restarts, so
 * a reconnecting client that already holds them is not sent them again.
 */
import { createHash } from 'node:crypto';
import { toAny, type AnyBytes } from '../codec.ts';
import { TYPE, type TypeUrl } from '../types.ts';
import type { Generator, Proxy, PushContext } from '../../pilot/types.ts';

/** One encoded resource. `hash` doubles as its delta version. */
export interface Entry {
  name: string;
  any: AnyBytes;
  hash: string;
}

/** A type's generated resources for one proxy, by name. */
export type Generated = ReadonlyMap<string, Entry>;

/** Content hash of some bytes: short, url-safe, stable across processes. */
export function hashBytes(b: Uint8Array): string {
  return createHash('sha256').update(b).digest('base64url').slice(0, 16);
}

/** The version of a set of entries: a hash over their sorted names and content hashes. */
export function versionOf(entries: Iterable<{ name: string; hash: string }>): string {
  const h = createHash('sha256');
  for (const e of [...entries].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) h.update(e.name).update('\0').update(e.hash).update('\n');
  return h.digest('base64url').slice(0, 12);
}

/**
 * Which proxies receive identical output for a type. The default follows what pilot's
 * generators read: Route and Endpoint output depends on namespace, labels and locality, so
 * sidecars of one namespace/labels share a single EDS and RDS generation. Listener and Cluster
 * output also has an inbound side, built from the workloads at the proxy's own IPs, and in
 * NONE interception mode listeners bind the pod IP itself. So a sidecar's IPs are part of its
 * LDS/CDS shape only where they matter: all of them in NONE mode, otherwise just those that are
 * endpoint addresses in the push. Keying on every IP made each sidecar its own shape, and a
 * thousand-service CDS+LDS (~0.3 s) was regenerated once per connected proxy on every push.
 * RDS `http_proxy` also depends on HTTP_PROXY_PORT and the interception mode (its catch-all).
 * Secrets are per proxy.
 */
export type ShapeKey = (proxy: Proxy, typeUrl: string, push?: PushContext) => string;

/** Every endpoint address of a push, computed once per PushContext. */
const endpointAddresses = new WeakMap<PushContext, Set<string>>();
function addressesOf(push: PushContext): Set<string> {
  let set = endpointAddresses.get(push);
  if (!set) {
    set = new Set();
    for (const eps of push.endpoints.values()) for (const e of eps) set.add(e.address);
    endpointAddresses.set(push, set);
  }
  return set;
}

export const defaultShapeKey: ShapeKey = (p, typeUrl, push) => {
  if (typeUrl === TYPE.SECRET) return p.id;
  const labels = Object.keys(p.labels).sort().map((k) => `${k}=${p.labels[k]}`).join(',');
  const loc = `${p.locality.region ?? ''}/${p.locality.zone ?? ''}/${p.locality.subzone ?? ''}`;
  const base = [p.type, p.generator ?? '', p.namespace, p.dnsDomain, labels, loc, p.serviceAccount ?? ''];
  if (typeUrl === TYPE.LISTENER || typeUrl === TYPE.CLUSTER) {
    const narrow = push && p.type === 'sidecar' && !p.generator && (p.interceptionMode ?? 'REDIRECT') !== 'NONE';
    const known = narrow ? addressesOf(push) : undefined;
    const ips = known ? p.ipAddresses.filter((ip) => known.has(ip)) : p.ipAddresses;
    base.push([...ips].sort().join(','), p.interceptionMode ?? '', p.appAddress ?? '', String(p.httpProxyPort ?? ''));
  } else if (typeUrl === TYPE.ROUTE && p.httpProxyPort !== undefined) {
    // The `http_proxy` route exists only with HTTP_PROXY_PORT, and its catch-all depends on the
    // interception mode (NONE forwards unknown hosts by name).
    base.push(p.interceptionMode ?? '', String(p.httpProxyPort));
  }
  return base.join('|');
};

/** Generation + encoding, cached per PushContext; a new PushContext starts a new cache. */
export class ResourceCache {
  readonly #cache = new Map<string, Generated | Error>();
  /** Generator calls made (not cache hits), for tests and debug. */
  generations = 0;

  constructor(
    readonly push: PushContext,
    private readonly generator: Generator,
    private readonly shapeKey: ShapeKey = defaultShapeKey,
  ) {}

  /**
   * The resources of `typeUrl` for `proxy`: all of them (wildcard) or those named. An Error
   * (a generator or encoding bug) is returned, not thrown, so one bad type does not stop a push.
   */
  get(proxy: Proxy, typeUrl: string, names?: readonly string[]): Generated | Error {
    const sorted = names ? [...new Set(names)].sort() : undefined;
    const key = `${typeUrl}\0${this.shapeKey(proxy, typeUrl, this.push)}\0${sorted ? sorted.join('\0') : '*'}`;
    let hit = this.#cache.get(key);
    if (!hit) {
      hit = this.#generate(proxy, typeUrl, sorted);
      this.#cache.set(key, hit);
    }
    return hit;
  }

  #generate(proxy: Proxy, typeUrl: string, names?: string[]): Generated | Error {
    this.generations++;
    try {
      const wanted = names ? new Set(names) : undefined;
      const out = new Map<string, Entry>();
      for (const r of this.generator(this.push, proxy, typeUrl as TypeUrl, names)) {
        if (wanted && !wanted.has(r.name)) continue; // a generator may ignore `names`
        const any = toAny(r.resource, typeUrl);
        out.set(r.name, { name: r.name, any, hash: hashBytes(any.value) });
      }
      return out;
    } catch (e) {
      return e instanceof Error ? e : new Error(String(e));
    }
  }
}
