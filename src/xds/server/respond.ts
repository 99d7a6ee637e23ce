/**
 * How a type's generated resources become (or do not become) a response on one connection.
 * Shared by SotW and delta, and by request handling and pushes, so the rules sit together:
 * - Nothing is sent when nothing the client would receive changed (hash per resource).
 * - SotW Listener/Cluster responses and wildcard responses carry the whole set (absence means
 *   removal for the client); named Route/Endpoint/Secret responses carry only what changed,
 *   since absence there means nothing ("xDS REST and gRPC protocol", state of the world).
 * - Delta responses carry changed resources and removed_resources.
 */
import { TYPE } from '../types.ts';
import type { Connection, WatchState } from './connection.ts';
import { versionOf, type Entry, type Generated } from './resources.ts';

/** SotW types whose responses must be complete. */
export const FULL_STATE_TYPES: ReadonlySet<string> = new Set([TYPE.LISTENER, TYPE.CLUSTER]);

export interface RespondOptions {
  /** Only these names changed (e.g. EDS for some services); others keep what was sent. */
  scope?: ReadonlySet<string>;
  /** Send even if nothing changed (first request of a wildcard type: the client awaits an answer). */
  force?: boolean;
}

/** Diffs `gen` against what `w` was sent and sends a response if needed. Returns whether it sent. */
export function respond(conn: Connection, typeUrl: string, w: WatchState, gen: Generated, nonce: () => string, opts: RespondOptions = {}): boolean {
  // Diff first, reading w.sent in place: a push visits every connection and type, and most of
  // those have nothing new. Copying w.sent and hashing a version (a sort of thousands of names)
  // before knowing that cost ~3 ms per connection and type at 1,000 services.
  const changed: Entry[] = [];
  const removed: string[] = [];
  for (const e of gen.values()) {
    if (!w.subscribes(e.name)) continue;
    if (w.sent.get(e.name) !== e.hash) changed.push(e);
  }
  for (const n of w.sent.keys()) {
    if (gen.has(n) && w.subscribes(n)) continue;
    if (opts.scope && !opts.scope.has(n)) continue;
    removed.push(n);
  }
  const nothing = changed.length === 0 && removed.length === 0;
  let resources: Entry[];
  let full = false;
  if (conn.mode === 'delta') {
    if (nothing && !opts.force) return false;
    resources = changed;
  } else if (FULL_STATE_TYPES.has(typeUrl) || w.wildcard) {
    if (nothing && !opts.force) return false;
    resources = [...gen.values()].filter((e) => w.subscribes(e.name));
    full = true;
  } else {
    // Named SotW types: a disappeared resource is simply no longer tracked.
    if (changed.length === 0 && !opts.force) {
      for (const n of removed) w.sent.delete(n);
      return false;
    }
    resources = changed;
  }
  const next = new Map(w.sent);
  for (const e of changed) next.set(e.name, e.hash);
  for (const n of removed) next.delete(n);
  const version = versionOf([...next].map(([name, hash]) => ({ name, hash })));
  w.sent = next;
  resources.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  conn.send(w, { typeUrl, version, nonce: nonce(), resources, removed: conn.mode === 'delta' ? removed.sort() : [], full });
  return true;
}

/** The version a complete, fresh response of `gen` would carry (to honour a reconnect's version_info). */
export function fullVersion(w: WatchState, gen: Generated): string {
  return versionOf([...gen.values()].filter((e) => w.subscribes(e.name)));
}
