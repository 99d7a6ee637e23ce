/**
 * What to send, encoded once: a Generator's output for one (type, proxy shape, names) becomes
 * Any-packed bytes with a content hash per resource, cached for the life of one snapshot.
 * Hashes are what make versions honest: a type's version_info changes only when the bytes of
 * what that proxy would receive change, and they are stable across control-plane restarts, so
 * a reconnecting client that already holds them is not sent them again.
 */
import { createHash } from 'node:crypto';
import { toAny, type AnyBytes } from '../codec.ts';
import type { Generator, TypeUrl, XdsProxy, XdsSnapshot } from '../types.ts';

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
 * Which proxies receive identical output for a type: proxies with the same key share one
 * generation. Only the generator knows what its output depends on, so it supplies the key (pilot's
 * is proxyShapeKey in src/pilot/shape_key.ts); the default shares nothing.
 */
export type ShapeKey<C extends XdsSnapshot = XdsSnapshot, P extends XdsProxy = XdsProxy> = (proxy: P, typeUrl: string, push?: C) => string;

/** Every proxy is its own shape. */
export const defaultShapeKey: ShapeKey = (p) => p.id;

/** Generation + encoding, cached per snapshot; a new snapshot starts a new cache. */
export class ResourceCache<C extends XdsSnapshot = XdsSnapshot, P extends XdsProxy = XdsProxy> {
  readonly #cache = new Map<string, Generated | Error>();
  /** Generator calls made (not cache hits), for tests and debug. */
  generations = 0;

  constructor(
    readonly push: C,
    private readonly generator: Generator<C, P>,
    private readonly shapeKey: ShapeKey<C, P> = defaultShapeKey,
  ) {}

  /**
   * The resources of `typeUrl` for `proxy`: all of them (wildcard) or those named. An Error
   * (a generator or encoding bug) is returned, not thrown, so one bad type does not stop a push.
   */
  get(proxy: P, typeUrl: string, names?: readonly string[]): Generated | Error {
    const sorted = names ? [...new Set(names)].sort() : undefined;
    const key = `${typeUrl}\0${this.shapeKey(proxy, typeUrl, this.push)}\0${sorted ? sorted.join('\0') : '*'}`;
    let hit = this.#cache.get(key);
    if (!hit) {
      hit = this.#generate(proxy, typeUrl, sorted);
      this.#cache.set(key, hit);
    }
    return hit;
  }

  #generate(proxy: P, typeUrl: string, names?: string[]): Generated | Error {
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
