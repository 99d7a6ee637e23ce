/**
 * Incremental ADS (DeltaAggregatedResources): requests subscribe and unsubscribe names, the
 * server sends only changed resources and names removals; on reconnect the client declares
 * what it holds (initial_resource_versions) and is sent only what differs.
 */
import type * as grpc from '@grpc/grpc-js';
import type { DeltaDiscoveryRequest, DeltaDiscoveryResponse } from '../grpc.ts';
import { Connection, WatchState, type Outgoing } from './connection.ts';
import { serveStream, type ServerCore } from './core.ts';
import { respond } from './respond.ts';

function toWire(out: Outgoing): DeltaDiscoveryResponse {
  return {
    system_version_info: out.version,
    resources: out.resources.map((e) => ({ name: e.name, version: e.hash, resource: e.any })),
    type_url: out.typeUrl,
    removed_resources: out.removed,
    nonce: out.nonce,
  };
}

/** Handles one delta stream. */
export function serveDelta(core: ServerCore, call: grpc.ServerDuplexStream<DeltaDiscoveryRequest, DeltaDiscoveryResponse>): void {
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
    for (const n of req.resource_names_subscribe) if (n !== '*') w.names.add(n);
    for (const n of req.resource_names_unsubscribe) w.names.delete(n);
    // What the client already holds, by our own per-resource versions (content hashes).
    const initial = Object.entries(req.initial_resource_versions ?? {}).filter(([n]) => w!.subscribes(n));
    for (const [n, v] of initial) w.sent.set(n, v);
    const gen = core.generate(conn, t, w);
    // A wildcard client that holds nothing waits for a first answer, even an empty one.
    if (gen) respond(conn, t, w, gen, () => core.nonce(), { force: w.wildcard && initial.length === 0 });
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
      core.log.warn(`ads ${conn.id}: NACK ${t} nonce=${req.response_nonce}: ${req.error_detail.message}`);
    } else {
      w.ackedVersion = w.sentVersion;
      w.ackedNonce = req.response_nonce;
      w.lastNack = undefined;
    }
  }

  let added = false;
  for (const n of req.resource_names_subscribe) {
    if (n === '*') {
      added ||= !w.wildcard;
      w.wildcard = true;
    } else if (!w.names.has(n)) {
      w.names.add(n);
      added = true;
    }
  }
  for (const n of req.resource_names_unsubscribe) {
    if (n === '*') w.wildcard = false;
    else w.names.delete(n);
  }
  // Forget what the client dropped, so a later re-subscribe resends it.
  for (const n of [...w.sent.keys()]) if (!w.subscribes(n)) w.sent.delete(n);
  if (!added) return;
  const gen = core.generate(conn, t, w);
  if (gen) respond(conn, t, w, gen, () => core.nonce());
}
