/**
 * Per-stream server state (Istio's Connection + WatchedResource): who is connected, and per
 * type what it subscribed to, what it was last sent, what it last ACKed, and its last NACK.
 * The debug endpoints read it; the SotW and delta handlers and the pusher write it.
 */
import { createHash } from 'node:crypto';
import type { NodeJson } from '../types.ts';
import type { Entry } from './resources.ts';
import { SentSet } from './sent.ts';
import type { SendThrottle } from './throttle.ts';
import type { XdsProxy } from '../types.ts';

/** A NACK as received, kept for /debug/syncz until the next ACK of that type. */
export interface NackRecord {
  nonce: string;
  /** The version the client says it still runs. */
  version: string;
  code: number;
  message: string;
  at: string;
}

const NO_NAMES: ReadonlySet<string> = new Set();
/** Subscriptions seen lately, so streams that ask for the same names share one Set. */
const interned = new Map<string, ReadonlySet<string>>();
const INTERNED_MAX = 512;

/**
 * The one shared Set for these names. A thousand-service sidecar subscribes EDS to ~2,400 names;
 * a Set per stream was a large share of the heap at a thousand streams, and a shared Set also
 * lets the resource cache key a subscription once (src/xds/server/resources.ts).
 */
export function internNames(names: Iterable<string>): ReadonlySet<string> {
  const sorted = [...new Set(names)].sort();
  if (sorted.length === 0) return NO_NAMES;
  // A digest, not the joined names: a thousand-service key is ~100 KB.
  const key = createHash('sha256').update(sorted.join('\0')).digest('base64');
  let set = interned.get(key);
  if (set) {
    // Most recently used last, so the oldest goes first when full.
    interned.delete(key);
  } else {
    set = new Set(sorted);
    if (interned.size >= INTERNED_MAX) interned.delete(interned.keys().next().value!);
  }
  interned.set(key, set);
  return set;
}

/** One type's subscription and sync state on one stream. */
export class WatchState {
  wildcard = false;
  /** Never mutated in place: replaced (shared through internNames). */
  names: ReadonlySet<string> = NO_NAMES;
  /** name -> content hash the client was sent (or declared it holds, on a delta reconnect). */
  readonly sent = new SentSet();
  sentVersion = '';
  sentNonce = '';
  ackedVersion = '';
  ackedNonce = '';
  lastNack?: NackRecord;
  /** Last generation error for this type (generator bug): nothing was sent for it. */
  lastError?: string;
  responses = 0;
  staleNonces = 0;

  subscribes(name: string): boolean {
    return this.wildcard || this.names.has(name);
  }

  /** The names to generate: undefined for wildcard (everything the proxy should see). */
  generationNames(): ReadonlySet<string> | undefined {
    return this.wildcard ? undefined : this.names;
  }
}

/** What a stream handler turns into a DiscoveryResponse or DeltaDiscoveryResponse. */
export interface Outgoing {
  typeUrl: string;
  version: string;
  nonce: string;
  /** SotW: every resource of the response. Delta: the added or changed ones. */
  resources: Entry[];
  /** Delta only: names the client must drop. */
  removed: string[];
  /** SotW: `resources` is the type's complete set (a newer response replaces it outright). */
  full?: boolean;
  /** `resources` already framed for the stream's mode and concatenated (shared by every stream sent that list). */
  body?: Buffer;
}

/** Responses up to this size are written without a throttle slot (see Connection.#pump). */
export const LIGHT_BYTES = 16 * 1024;

const sizes = new WeakMap<Outgoing, number>();
/** About what a response holds once serialized: its framed resources (plus names for delta). Counted once per response. */
export function outgoingBytes(o: Outgoing): number {
  if (o.body) return o.body.length;
  let n = sizes.get(o);
  if (n === undefined) {
    n = 0;
    for (const e of o.resources) n += e.framed.length + e.name.length + e.hash.length + 8;
    for (const r of o.removed) n += r.length + 3;
    sizes.set(o, n);
  }
  return n;
}

const byName = (a: { name: string }, b: { name: string }) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

/**
 * Two responses of one type that the client has not been sent yet, as the one response that
 * brings it to the same state: the later one's version and nonce (the only nonce the server
 * will accept an ACK for), its resources over the earlier one's, removals that were not
 * re-added. A complete SotW set simply replaces what came before.
 */
export function mergeOutgoing(a: Outgoing, b: Outgoing): Outgoing {
  if (b.full) return b;
  const resources = new Map<string, Entry>();
  const dropped = new Set(b.removed);
  for (const e of a.resources) if (!dropped.has(e.name)) resources.set(e.name, e);
  for (const e of b.resources) resources.set(e.name, e);
  const removed = new Set<string>();
  for (const n of a.removed) if (!resources.has(n)) removed.add(n);
  for (const n of b.removed) removed.add(n);
  return {
    typeUrl: b.typeUrl,
    version: b.version,
    nonce: b.nonce,
    resources: [...resources.values()].sort(byName),
    removed: [...removed].sort(),
    // The fields respond() gives every response, in its order (one object shape on the write path).
    full: a.full === true,
    body: undefined,
  };
}

/** How a connection hands responses to its stream: `done` runs once the write is flushed. */
export type WriteFn = (out: Outgoing, done: () => void) => void;

/** Flow control for one connection's writes (see ./throttle.ts). */
export interface SendControl {
  throttle: SendThrottle;
  /**
   * A write not flushed after this long gives its throttle slot back, so a client that stopped
   * reading cannot stall everyone else's pushes; its own queue stays bounded by merging.
   */
  sendTimeoutMs: number;
  onSendTimeout?: (conn: Connection) => void;
  /** Responses up to this many bytes skip the throttle (default LIGHT_BYTES). */
  lightBytes?: number;
}

/** The debug view of one type on one connection. */
export interface WatchStatus {
  wildcard: boolean;
  names: string[];
  resources: number;
  sentVersion: string;
  sentNonce: string;
  ackedVersion: string;
  ackedNonce: string;
  synced: boolean;
  lastNack?: NackRecord;
  lastError?: string;
  responses: number;
  staleNonces: number;
}

/** The debug view of one connection (what /debug/syncz and /debug/connections serve). */
export interface ConnectionStatus {
  id: string;
  proxyId: string;
  mode: 'sotw' | 'delta';
  peer: string;
  /** The SPIFFE ID of the peer's client certificate, when the mesh CA signed it (TLS port only). */
  verifiedIdentity?: string;
  connectedAt: string;
  types: Record<string, WatchStatus>;
}

/** One ADS stream from one proxy. */
export class Connection<P extends XdsProxy = XdsProxy> {
  readonly watches = new Map<string, WatchState>();
  readonly connectedAt = new Date();
  /**
   * The SPIFFE ID in the client certificate the stream's TLS handshake verified against the mesh
   * CA (istiod's :15012); undefined on plaintext or without a certificate. Set before onConnect
   * hooks run, so auto-registration can compare it with what the node claims.
   */
  verifiedIdentity?: string;

  /**
   * Responses not yet handed to the stream, in order, at most one per type: a newer response of
   * a queued type is merged into it (mergeOutgoing), which bounds what a slow connection holds.
   */
  readonly #queue: Outgoing[] = [];
  /** A write handed to the stream and not yet flushed (one at a time, so later ones can merge). */
  #writing = false;
  #slot = false;
  /** Bytes this connection's slot is charged in the throttle's budget. */
  #charged = 0;
  #cancelWait: (() => void) | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #closed = false;

  constructor(
    readonly id: string,
    readonly proxy: P,
    readonly node: NodeJson,
    readonly mode: 'sotw' | 'delta',
    readonly peer: string,
    private readonly write: WriteFn,
    private readonly control?: SendControl,
  ) {}

  /**
   * Sends one response and records it as the type's latest (its nonce is the only non-stale
   * one). It reaches the stream once this connection holds a throttle slot and its previous
   * write has flushed.
   */
  send(w: WatchState, out: Outgoing): void {
    w.sentNonce = out.nonce;
    w.sentVersion = out.version;
    w.responses++;
    if (this.#closed) return;
    const i = this.#queue.findIndex((o) => o.typeUrl === out.typeUrl);
    if (i < 0) this.#queue.push(out);
    else this.#queue[i] = mergeOutgoing(this.#queue[i]!, out);
    this.#pump();
  }

  /** Responses waiting for a throttle slot or for the previous write to flush. */
  get queued(): number {
    return this.#queue.length;
  }

  /** Whether a write is on the wire or responses are waiting. */
  get busy(): boolean {
    return this.#writing || this.#queue.length > 0;
  }

  /** Drops what is queued and gives back the throttle slot; the stream is gone. */
  close(): void {
    this.#closed = true;
    this.#queue.length = 0;
    this.#cancelWait?.();
    this.#cancelWait = undefined;
    this.#releaseSlot();
  }

  #pump(): void {
    if (this.#closed || this.#writing) return;
    if (this.#queue.length === 0) return this.#releaseSlot();
    const control = this.control;
    // A small response (an endpoint change for a few clusters) fits the socket's buffer at once:
    // it neither holds memory nor waits on the client, so it does not queue for a slot. Only the
    // large ones the throttle is for (whole CDS/EDS answers) do.
    if (control && !this.#slot && outgoingBytes(this.#queue[0]!) > (control.lightBytes ?? LIGHT_BYTES)) {
      if (this.#cancelWait) return; // already waiting for a slot
      let granted = false;
      // Charged for the largest queued response: only one is on the wire at a time.
      const bytes = Math.max(...this.#queue.map(outgoingBytes));
      const cancel = control.throttle.acquire(() => {
        granted = true;
        this.#cancelWait = undefined;
        this.#slot = true;
        this.#charged = bytes;
        this.#pump();
      }, bytes);
      if (!granted) this.#cancelWait = cancel;
      return;
    }
    const out = this.#queue.shift()!;
    this.#writing = true;
    if (control && this.#slot) {
      const bytes = outgoingBytes(out);
      if (bytes > this.#charged) {
        control.throttle.grow(bytes - this.#charged);
        this.#charged = bytes;
      }
      this.#timer = setTimeout(() => {
        this.#timer = undefined;
        control.onSendTimeout?.(this);
        this.#releaseSlot();
      }, control.sendTimeoutMs);
      this.#timer.unref?.();
    }
    let once = false;
    this.write(out, () => {
      if (once) return;
      once = true;
      if (this.#timer !== undefined) clearTimeout(this.#timer);
      this.#timer = undefined;
      this.#writing = false;
      this.#pump();
    });
  }

  #releaseSlot(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    if (!this.#slot) return;
    this.#slot = false;
    this.control!.throttle.release(this.#charged);
    this.#charged = 0;
  }

  status(): ConnectionStatus {
    const types: Record<string, WatchStatus> = {};
    for (const [t, w] of this.watches) {
      types[t] = {
        wildcard: w.wildcard,
        names: [...w.names].sort(),
        resources: w.sent.size,
        sentVersion: w.sentVersion,
        sentNonce: w.sentNonce,
        ackedVersion: w.ackedVersion,
        ackedNonce: w.ackedNonce,
        synced: w.sentNonce === '' || w.ackedNonce === w.sentNonce,
        ...(w.lastNack ? { lastNack: w.lastNack } : {}),
        ...(w.lastError ? { lastError: w.lastError } : {}),
        responses: w.responses,
        staleNonces: w.staleNonces,
      };
    }
    return { id: this.id, proxyId: this.proxy.id, mode: this.mode, peer: this.peer, ...(this.verifiedIdentity ? { verifiedIdentity: this.verifiedIdentity } : {}), connectedAt: this.connectedAt.toISOString(), types };
  }
}
