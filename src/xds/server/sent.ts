/**
 * What one stream was sent of one type (name -> content hash), and the version of that set.
 *
 * Two costs made this matter at a thousand proxies:
 * - Memory: a sidecar of a 1,000-service mesh holds ~6,000 resources; a Map per stream and type
 *   was most of the control plane's heap at 2,000 streams. Proxies of one shape are sent the
 *   same Generated map, so a SentSet refers to that shared map and keeps only its differences.
 * - Versions: hashing the sorted names and hashes of the whole set on every response sorted
 *   thousands of names per connection per push. A version here is an order-independent sum
 *   (XOR) of per-resource digests, kept up to date as resources are added, changed and removed,
 *   and cached per Generated map, so it costs what changed. It still depends only on content:
 *   the same set gives the same version in any process (a reconnecting SotW client is not sent
 *   what it holds).
 */
import { createHash } from 'node:crypto';
import type { Entry, Generated } from './resources.ts';

/** 64 bits of sha256(name NUL hash), as two uint32 halves. */
function mixOf(name: string, hash: string): [number, number] {
  const d = createHash('sha256').update(name).update('\0').update(hash).digest();
  return [d.readUInt32BE(0), d.readUInt32BE(4)];
}

const entryMix = new WeakMap<Entry, [number, number]>();
/** An Entry's digest, computed once per Entry (entries are shared across proxies). */
function mixOfEntry(e: Entry): [number, number] {
  let m = entryMix.get(e);
  if (!m) {
    m = mixOf(e.name, e.hash);
    entryMix.set(e, m);
  }
  return m;
}

interface Sum {
  hi: number;
  lo: number;
  size: number;
}

const genSums = new WeakMap<Generated, Sum>();
/** The sum over a whole Generated map, once per map. */
function sumOf(gen: Generated): Sum {
  let s = genSums.get(gen);
  if (!s) {
    s = { hi: 0, lo: 0, size: gen.size };
    for (const e of gen.values()) {
      const [a, b] = mixOfEntry(e);
      s.hi ^= a;
      s.lo ^= b;
    }
    genSums.set(gen, s);
  }
  return s;
}

function format(hi: number, lo: number, size: number): string {
  return `${size.toString(36)}-${(hi >>> 0).toString(16).padStart(8, '0')}${(lo >>> 0).toString(16).padStart(8, '0')}`;
}

/** The version of a set of entries (what SentSet.version reports for that same set). */
export function versionOf(entries: Iterable<{ name: string; hash: string }>): string {
  let hi = 0;
  let lo = 0;
  let size = 0;
  for (const e of entries) {
    const [a, b] = 'any' in e ? mixOfEntry(e as Entry) : mixOf(e.name, e.hash);
    hi ^= a;
    lo ^= b;
    size++;
  }
  return format(hi, lo, size);
}

/** The version of a whole Generated map, cached per map. */
export function versionOfGenerated(gen: Generated): string {
  const s = sumOf(gen);
  return format(s.hi, s.lo, s.size);
}

/** The hash of what a SentSet holds under a name (an Entry or a bare hash). */
const hashOf = (held: Entry | string | undefined): string | undefined => (typeof held === 'string' ? held : held?.hash);

/** name -> hash, as a shared base map plus this stream's own differences. */
export class SentSet {
  #base: Generated | undefined;
  /**
   * Differences from the base: what is held (an Entry when one was sent, so its cached digest is
   * used again when it is replaced: an endpoint change replaces one per stream, a thousand
   * streams a push), or null for a base name not held.
   */
  #over = new Map<string, Entry | string | null>();
  #hi = 0;
  #lo = 0;
  #size = 0;

  get size(): number {
    return this.#size;
  }

  /** The set's version (see versionOf). */
  get version(): string {
    return format(this.#hi, this.#lo, this.#size);
  }

  get(name: string): string | undefined {
    return hashOf(this.#held(name));
  }

  has(name: string): boolean {
    return this.get(name) !== undefined;
  }

  /** Whether this set is exactly `gen` (same map, no differences): nothing to diff. */
  is(gen: Generated): boolean {
    return this.#base === gen && this.#over.size === 0;
  }

  set(name: string, hash: string): void {
    const old = this.#held(name);
    if (hashOf(old) === hash) return;
    if (old !== undefined) this.#unmix(name, old);
    else this.#size++;
    const [a, b] = mixOf(name, hash);
    this.#hi ^= a;
    this.#lo ^= b;
    if (this.#base?.get(name)?.hash === hash) this.#over.delete(name);
    else this.#over.set(name, hash);
  }

  /** set() for an Entry: its digest is cached on the entry. */
  setEntry(e: Entry): void {
    const old = this.#held(e.name);
    if (hashOf(old) === e.hash) return;
    if (old !== undefined) this.#unmix(e.name, old);
    else this.#size++;
    const [a, b] = mixOfEntry(e);
    this.#hi ^= a;
    this.#lo ^= b;
    if (this.#base?.get(e.name) === e || this.#base?.get(e.name)?.hash === e.hash) this.#over.delete(e.name);
    else this.#over.set(e.name, e);
  }

  delete(name: string): boolean {
    const old = this.#held(name);
    if (old === undefined) return false;
    this.#unmix(name, old);
    this.#size--;
    if (this.#base?.has(name)) this.#over.set(name, null);
    else this.#over.delete(name);
    return true;
  }

  /** Becomes exactly `gen`, sharing the map. */
  reset(gen: Generated): void {
    this.#base = gen;
    this.#over.clear();
    const s = sumOf(gen);
    this.#hi = s.hi;
    this.#lo = s.lo;
    this.#size = s.size;
  }

  clear(): void {
    this.#base = undefined;
    this.#over.clear();
    this.#hi = this.#lo = this.#size = 0;
  }

  *keys(): IterableIterator<string> {
    const base = this.#base;
    if (base) {
      for (const k of base.keys()) {
        const o = this.#over.get(k);
        if (o !== null) yield k;
      }
    }
    for (const [k, v] of this.#over) if (v !== null && !base?.has(k)) yield k;
  }

  /** What is held under `name`: an Entry (from the base or sent), a bare hash, or undefined. */
  #held(name: string): Entry | string | undefined {
    const o = this.#over.get(name);
    if (o !== undefined) return o ?? undefined;
    return this.#base?.get(name);
  }

  #unmix(name: string, held: Entry | string): void {
    const [a, b] = typeof held === 'string' ? mixOf(name, held) : mixOfEntry(held);
    this.#hi ^= a;
    this.#lo ^= b;
  }
}
