/**
 * Incremental ADS (DeltaAggregatedResources): requests subscribe and unsubscribe names, the
 * server sends only changed resources and names removals; on reconnect the client declares
 * what it holds (initial_resource_versions) and is sent only what differs.
 */
import type * as grpc from '@grpc/grpc-js';
import type { DeltaDiscoveryRequest, DeltaDiscoveryResponse } from '../grpc.ts';
import { Connection, internNames, WatchState, type Outgoing } from './connection.ts';
import { serveStream, type ServerCore } from './core.ts';
import { deltaFrame } from './resources.ts';
import { respond } from './respond.ts';
import { deltaDiscoveryResponseParts } from './wire.ts';

/** The response's bytes, from resources framed once and shared (./wire.ts). */
function toWire(out: Outgoing): Buffer[] {
  return deltaDiscoveryResponseParts(out.version, out.typeUrl, out.nonce, out.body ?? out.resources.map(deltaFrame), out.removed);
}

/** Handles one delta stream. */
export function serveDelta(core: ServerCore, call: grpc.ServerDuplexStream<DeltaDiscoveryRequest, DeltaDiscoveryResponse | Buffer>): void {
  serveStream(core, call, 'delta', toWire, (conn, req) => handleRequest(core, conn, req));
}

function handleRequest(core: ServerCore, conn: Connection, req: DeltaDiscoveryRequest): void {
  const t = req.type_url;
  let w = conn.watches.get(t);
  if (!w) {
    w = new WatchState();
    conn.watches.set(t, w);
    // An empty first subscribe list is the legacy wildcard; "*" is the explicit one.
    w.wildcard = req.resource_names_subscribe.length === 0 || req.resource_names_subscribe.includes('*');
    const unsub = new Set(req.resource_names_unsubscribe);
    w.names = internNames(req.resource_names_subscribe.filter((n) => n !== '*' && !unsub.has(n)));
    // What the client already holds, by our own per-resource versions (content hashes).
    const initial = Object.entries(req.initial_resource_versions ?? {}).filter(([n]) => w!.subscribes(n));
    for (const [n, v] of initial) w.sent.set(n, v);
    const gen = core.generate(conn, t, w);
    // A wildcard client that holds nothing waits for a first answer, even an empty one.
    if (gen) respond(conn, t, w, gen, () => core.nonce(), undefined, w.wildcard && initial.length === 0);
    return;
  }

  if (req.response_nonce !== '') {
    // Stale nonces are ignored for ACK/NACK purposes, as in SotW (spec: ACK and NACK
    // semantics). Subscription changes below are deltas and are applied regardless: the
    // client will not repeat them.
    if (req.response_nonce !== w.sentNonce) {
      w.staleNonces++;
      core.log.debug(`ads ${conn.id}: ${t} ignoring stale nonce ${req.response_nonce} (latest ${w.sentNonce})`);
    } else if (req.error_detail) {
      w.lastNack = { nonce: req.response_nonce, version: w.ackedVersion, code: req.error_detail.code, message: req.error_detail.message, at: new Date().toISOString() };
      core.metrics?.rejected(t);
      core.log.warn(`ads ${conn.id}: NACK ${t} nonce=${req.response_nonce}: ${req.error_detail.message}`);
    } else {
      w.ackedVersion = w.sentVersion;
      w.ackedNonce = req.response_nonce;
      w.lastNack = undefined;
    }
  }

  if (req.resource_names_subscribe.length === 0 && req.resource_names_unsubscribe.length === 0) return; // a plain ACK
  let added = false;
  // w.names is shared with other streams (internNames): changes make a new Set.
  let names: Set<string> | undefined;
  for (const n of req.resource_names_subscribe) {
    if (n === '*') {
      added ||= !w.wildcard;
      w.wildcard = true;
    } else if (!w.names.has(n) && !names?.has(n)) {
      (names ??= new Set(w.names)).add(n);
      added = true;
    }
  }
  let dropped = false;
  for (const n of req.resource_names_unsubscribe) {
    if (n === '*') {
      dropped ||= w.wildcard;
      w.wildcard = false;
    } else if (names?.has(n) ?? w.names.has(n)) {
      (names ??= new Set(w.names)).delete(n);
      dropped = true;
    }
  }
  if (names) w.names = internNames(names);
  // Forget what the client dropped, so a later re-subscribe resends it.
  if (dropped) for (const n of [...w.sent.keys()]) if (!w.subscribes(n)) w.sent.delete(n);
  if (!added) return;
  const gen = core.generate(conn, t, w);
  if (gen) respond(conn, t, w, gen, () => core.nonce());
}
