/**
 * What to send, encoded once: a Generator's output for one (type, proxy shape, names) becomes
 * Any-packed bytes with a content hash per resource, cached for the life of one snapshot.
 * Hashes are what make versions honest: a type's version_info changes only when the bytes of
 * what that proxy would receive change, and they are stable across control-plane restarts, so
 * a reconnecting client that already holds them is not sent them again.
 */
import { createHash } from 'node:crypto';
import { toAny, type AnyBytes } from '../codec.ts';
import type { EnvoyJson, Generator, TypeUrl, XdsProxy, XdsSnapshot } from '../types.ts';
import { frameDeltaResource, frameSotwResource, unpooled } from './wire.ts';

/** One encoded resource. `hash` doubles as its delta version. Shared by every proxy sent it. */
export interface Entry {
  name: string;
  any: AnyBytes;
  hash: string;
  /** The resource as a DiscoveryResponse `resources` field (`any.value` is a view into it). */
  framed: Buffer;
}

/** A type's generated resources for one proxy, by name. */
export type Generated = ReadonlyMap<string, Entry>;

/** Content hash of some bytes: short, url-safe, stable across processes. */
export function hashBytes(b: Uint8Array): string {
  return createHash('sha256').update(b).digest('base64url').slice(0, 16);
}

export { versionOf } from './sent.ts';

const deltaFrames = new WeakMap<Entry, Buffer>();
/** The entry as a DeltaDiscoveryResponse `resources` field, framed on first use. */
export function deltaFrame(e: Entry): Buffer {
  let f = deltaFrames.get(e);
  if (!f) {
    f = frameDeltaResource(e.name, e.hash, e.any);
    deltaFrames.set(e, f);
  }
  return f;
}

const sortedEntries = new WeakMap<Generated, Entry[]>();
/** A Generated map's entries sorted by name, once per map. */
export function entriesOf(gen: Generated): Entry[] {
  let list = sortedEntries.get(gen);
  if (!list) {
    list = [...gen.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    sortedEntries.set(gen, list);
  }
  return list;
}

/** A whole sorted entry list's frames, joined once per list and framing, shared by every stream sent it. */
function joinedBody(bodies: WeakMap<readonly Entry[], Buffer>, list: readonly Entry[], frame: (e: Entry) => Buffer): Buffer {
  let b = bodies.get(list);
  if (!b) {
    b = unpooled(list.map(frame));
    bodies.set(list, b);
  }
  return b;
}

const sotwBodies = new WeakMap<readonly Entry[], Buffer>();
const deltaBodies = new WeakMap<readonly Entry[], Buffer>();

/** The SotW-framed resources of a whole sorted entry list. */
export function sotwBody(list: readonly Entry[]): Buffer {
  return joinedBody(sotwBodies, list, (e) => e.framed);
}

/** The delta-framed resources of a whole sorted entry list (a first response, mostly). */
export function deltaBody(list: readonly Entry[]): Buffer {
  return joinedBody(deltaBodies, list, deltaFrame);
}

/**
 * Encoded resources by content, across proxy shapes and pushes: proxies of different shapes
 * mostly receive identical clusters and endpoints (EDS per cluster is the same for every
 * namespace without its own DestinationRule), and a push re-generates resources most of which
 * did not change. A resource is encoded (and hashed) once per distinct JSON. What the current
 * and the previous push used is kept; older entries are dropped.
 */
export class EncodedResources {
  #current = new Map<string, Entry>();
  #previous = new Map<string, Entry>();
  /** Encodings done (cache misses), for tests and debug. */
  encodings = 0;

  entry(typeUrl: string, name: string, resource: EnvoyJson): Entry {
    // A digest of the JSON, not the JSON: the keys of two pushes' worth of a thousand-service
    // mesh would otherwise hold tens of megabytes of strings.
    const key = `${typeUrl}\0${name}\0${createHash('sha256').update(JSON.stringify(resource)).digest('base64')}`;
    let e = this.#current.get(key);
    if (e) return e;
    e = this.#previous.get(key);
    if (!e) {
      this.encodings++;
      const any = toAny(resource, typeUrl);
      const { framed, value } = frameSotwResource(any.type_url, any.value);
      e = { name, any: { type_url: any.type_url, value }, hash: hashBytes(value), framed };
    }
    this.#current.set(key, e);
    return e;
  }

  /** A new push begins: entries not used since the one before are forgotten. */
  rotate(): void {
    this.#previous = this.#current;
    this.#current = new Map();
  }
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
    private readonly encoded: EncodedResources = new EncodedResources(),
  ) {}

  /**
   * The resources of `typeUrl` for `proxy`: all of them (wildcard) or those named. An Error
   * (a generator or encoding bug) is returned, not thrown, so one bad type does not stop a push.
   * A names Set is keyed once per Set (streams of one shape share their subscription's Set).
   */
  get(proxy: P, typeUrl: string, names?: readonly string[] | ReadonlySet<string>): Generated | Error {
    const key = `${typeUrl}\0${this.shapeKey(proxy, typeUrl, this.push)}\0${names ? namesKey(names) : '*'}`;
    let hit = this.#cache.get(key);
    if (!hit) {
      hit = this.#generate(proxy, typeUrl, names ? sortedNames(names) : undefined);
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
        out.set(r.name, this.encoded.entry(typeUrl, r.name, r.resource));
      }
      return out;
    } catch (e) {
      return e instanceof Error ? e : new Error(String(e));
    }
  }
}

const setKeys = new WeakMap<ReadonlySet<string>, { sorted: string[]; key: string }>();

function sortedKeyed(names: readonly string[] | ReadonlySet<string>): { sorted: string[]; key: string } {
  if (!Array.isArray(names)) {
    const set = names as ReadonlySet<string>;
    let k = setKeys.get(set);
    if (!k) {
      const sorted = [...set].sort();
      k = { sorted, key: sorted.join('\0') };
      setKeys.set(set, k);
    }
    return k;
  }
  const sorted = [...new Set(names as readonly string[])].sort();
  return { sorted, key: sorted.join('\0') };
}

/** The cache key of a name list (sorted, deduplicated); for a Set, computed once per Set. */
function namesKey(names: readonly string[] | ReadonlySet<string>): string {
  return sortedKeyed(names).key;
}

function sortedNames(names: readonly string[] | ReadonlySet<string>): string[] {
  return sortedKeyed(names).sorted;
}
