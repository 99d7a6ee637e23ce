/**
 * State-of-the-world ADS (StreamAggregatedResources): each request carries the full list of
 * names for its type, plus the ACK/NACK of the previous response.
 */
import type * as grpc from '@grpc/grpc-js';
import type { DiscoveryRequest, DiscoveryResponse } from '../grpc.ts';
import { Connection, internNames, WatchState, type Outgoing } from './connection.ts';
import { serveStream, type ServerCore } from './core.ts';
import { FULL_STATE_TYPES, fullVersion, respond } from './respond.ts';
import { discoveryResponseParts } from './wire.ts';

/** The response's bytes, from resources framed once and shared (./wire.ts). */
function toWire(out: Outgoing): Buffer[] {
  return discoveryResponseParts(out.version, out.typeUrl, out.nonce, out.body ?? out.resources.map((e) => e.framed));
}

/** Handles one SotW stream. */
export function serveSotw(core: ServerCore, call: grpc.ServerDuplexStream<DiscoveryRequest, DiscoveryResponse | Buffer>): void {
  serveStream(core, call, 'sotw', toWire, (conn, req) => handleRequest(core, conn, req));
}

/**
 * Applies a request's subscription to `w`. An empty list on the first request is the legacy
 * wildcard; later, a legacy-wildcard stream keeps sending empty lists (its ACKs) and stays
 * wildcard. "*" among names subscribes to everything plus those names.
 */
function subscribe(w: WatchState, names: readonly string[], first: boolean): boolean {
  // The same array as the request that set this subscription: the request decoder shares one
  // array per distinct list (./request_names.ts), so an unchanged ACK costs nothing here.
  if (!first && lastList.get(w) === names) return false;
  lastList.set(w, names);
  if (names.length === 0) {
    if (first) {
      w.wildcard = true;
      return true;
    }
    if (w.wildcard || w.names.size === 0) return false;
    w.names = internNames([]);
    return true;
  }
  const wildcard = names.includes('*');
  // Every ACK repeats the whole list (thousands of EDS names): compare before building anything.
  if (!first && wildcard === w.wildcard && sameNames(w.names, names)) return false;
  w.wildcard = wildcard;
  w.names = internNames(names.filter((n) => n !== '*'));
  return true;
}

/** The names list each watch's subscription was last set from (compared by identity). */
const lastList = new WeakMap<WatchState, readonly string[]>();

/** Whether `list` (may hold "*" and duplicates) names exactly the set `set`, "*" aside. */
function sameNames(set: ReadonlySet<string>, list: readonly string[]): boolean {
  let n = 0;
  let ascending = true;
  let prev: string | undefined;
  for (const name of list) {
    if (name === '*') continue;
    if (!set.has(name)) return false;
    if (prev !== undefined && name <= prev) ascending = false;
    prev = name;
    n++;
  }
  // A strictly ascending list has no duplicates, so a count settles it; otherwise count distinct.
  if (ascending) return n === set.size;
  return new Set(list.filter((x) => x !== '*')).size === set.size;
}

function handleRequest(core: ServerCore, conn: Connection, req: DiscoveryRequest): void {
  const t = req.type_url;
  let w = conn.watches.get(t);
  if (!w) {
    w = new WatchState();
    conn.watches.set(t, w);
    subscribe(w, req.resource_names, true);
    const gen = core.generate(conn, t, w);
    if (!gen) return;
    // A reconnecting client names the version it runs; if that is what we would send, it is
    // in sync already and gets nothing until something changes.
    if (req.version_info !== '' && req.version_info === fullVersion(w, gen)) {
      for (const e of gen.values()) if (w.subscribes(e.name)) w.sent.setEntry(e);
      w.sentVersion = w.ackedVersion = req.version_info;
      core.log.debug(`ads ${conn.id}: ${t} resumed at version ${req.version_info}`);
      return;
    }
    respond(conn, t, w, gen, () => core.nonce(), undefined, FULL_STATE_TYPES.has(t) || w.wildcard);
    return;
  }

  // The spec ("xDS REST and gRPC protocol", ACK and NACK semantics / resource updates): the
  // server should ignore a request whose response_nonce is not the latest nonce it sent for
  // the type on this stream. The client will answer that newer response, carrying its current
  // names, so nothing is lost by ignoring this one.
  if (req.response_nonce !== w.sentNonce) {
    w.staleNonces++;
    core.log.debug(`ads ${conn.id}: ${t} ignoring stale nonce ${req.response_nonce} (latest ${w.sentNonce})`);
    return;
  }
  if (req.response_nonce !== '') {
    if (req.error_detail) {
      w.lastNack = { nonce: req.response_nonce, version: req.version_info, code: req.error_detail.code, message: req.error_detail.message, at: new Date().toISOString() };
      core.metrics?.rejected(t);
      core.log.warn(`ads ${conn.id}: NACK ${t} nonce=${req.response_nonce} (still at version "${req.version_info}"): ${req.error_detail.message}`);
    } else {
      w.ackedVersion = req.version_info;
      w.ackedNonce = req.response_nonce;
      w.lastNack = undefined;
    }
  }
  const before = w.wildcard ? new Set<string>() : w.names;
  if (!subscribe(w, req.resource_names, false)) return;
  // Names dropped and added again later must be resent.
  for (const n of before) if (!w.subscribes(n)) w.sent.delete(n);
  const gen = core.generate(conn, t, w);
  if (gen) respond(conn, t, w, gen, () => core.nonce(), undefined, FULL_STATE_TYPES.has(t));
}
