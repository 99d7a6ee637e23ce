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
import type { Connection, Outgoing, WatchState } from './connection.ts';
import { deltaBody, entriesOf, sotwBody, type Entry, type Generated } from './resources.ts';
import { versionOf, versionOfGenerated } from './sent.ts';

/** SotW types whose responses must be complete. */
export const FULL_STATE_TYPES: ReadonlySet<string> = new Set([TYPE.LISTENER, TYPE.CLUSTER]);

/**
 * Diffs `gen` against what `w` was sent and sends a response if needed. Returns whether it sent.
 * - `scope`: only these names changed (e.g. EDS for some services); others keep what was sent.
 * - `force`: send even if nothing changed (first request of a wildcard type: the client awaits
 *   an answer).
 * Arguments rather than an options object: the sync optimizes this path and endpoint pushes
 * must not meet it with an object of another shape (a deoptimization per first push).
 */
export function respond(conn: Connection, typeUrl: string, w: WatchState, gen: Generated, nonce: () => string, scope?: ReadonlySet<string>, force = false): boolean {
  const sent = w.sent;
  // This stream holds exactly this map already (a push that changed nothing for its shape).
  if (!force && sent.is(gen)) return false;
  // Diff first, reading w.sent in place: a push visits every connection and type, and most of
  // those have nothing new.
  const changed: Entry[] = [];
  const removed: string[] = [];
  let subscribed = 0;
  for (const e of gen.values()) {
    if (!w.subscribes(e.name)) continue;
    subscribed++;
    if (sent.get(e.name) !== e.hash) changed.push(e);
  }
  const gone = (n: string) => !(gen.has(n) && w.subscribes(n));
  if (scope) {
    // Only these names were regenerated: others keep what was sent (and need no visit).
    for (const n of scope) if (sent.has(n) && gone(n)) removed.push(n);
  } else {
    for (const n of sent.keys()) if (gone(n)) removed.push(n);
  }
  const nothing = changed.length === 0 && removed.length === 0;
  const whole = subscribed === gen.size;
  let resources: Entry[];
  let body: Buffer | undefined;
  let full = false;
  if (conn.mode === 'delta') {
    if (nothing && !force) return false;
    resources = whole && changed.length === gen.size ? entriesOf(gen) : changed.sort(byName);
  } else if (FULL_STATE_TYPES.has(typeUrl) || w.wildcard) {
    if (nothing && !force) return false;
    resources = whole ? entriesOf(gen) : entriesOf(gen).filter((e) => w.subscribes(e.name));
    full = true;
  } else {
    // Named SotW types: a disappeared resource is simply no longer tracked.
    if (changed.length === 0 && !force) {
      for (const n of removed) sent.delete(n);
      return false;
    }
    resources = whole && changed.length === gen.size ? entriesOf(gen) : changed.sort(byName);
  }
  // A whole map's framed resources are concatenated once and shared by every stream sent it.
  if (resources === entriesOf(gen)) body = conn.mode === 'sotw' ? sotwBody(resources) : deltaBody(resources);
  for (const e of changed) sent.setEntry(e);
  for (const n of removed) sent.delete(n);
  // Holding exactly this map: refer to it rather than keep a copy per stream.
  if (whole && sent.size === gen.size) sent.reset(gen);
  // One object shape for every response (body present, maybe undefined): see above.
  const out: Outgoing = { typeUrl, version: sent.version, nonce: nonce(), resources, removed: conn.mode === 'delta' ? removed.sort() : [], full, body };
  conn.send(w, out);
  return true;
}

const byName = (a: Entry, b: Entry) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

/** The version a complete, fresh response of `gen` would carry (to honour a reconnect's version_info). */
export function fullVersion(w: WatchState, gen: Generated): string {
  let all = true;
  for (const n of gen.keys()) if (!w.subscribes(n)) all = false;
  return all ? versionOfGenerated(gen) : versionOf([...gen.values()].filter((e) => w.subscribes(e.name)));
}
