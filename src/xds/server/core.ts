/**
 * The seam between the stream handlers (how to send: ./sotw.ts, ./delta.ts) and the
 * DiscoveryServer (what to send: push contexts, generation, hooks). Keeping it an interface
 * lets each handler stay small and be read on its own.
 */
import type * as grpc from '@grpc/grpc-js';
import type { NodeJson } from '../types.ts';
import type { Connection, Outgoing, WatchState, WriteFn } from './connection.ts';
import type { Generated } from './resources.ts';
import type { XdsMetrics } from './types.ts';
import { ISTIO_XDS } from '../type_urls.ts';
import { joinParts, partsWriter, type PartsWriter } from './grpc_parts.ts';
import { installRequestReader } from './grpc_reader.ts';

/** Where the server writes what it does. Default: warnings to stderr, nothing else. */
export interface Logger {
  debug(msg: string): void;
  info(msg: string): void;
  warn(msg: string): void;
}

export const SILENT_LOGGER: Logger = { debug() {}, info() {}, warn() {} };
export const CONSOLE_LOGGER: Logger = { debug() {}, info: (m) => console.log(m), warn: (m) => console.warn(m) };

/** What a stream handler needs from the server. */
export interface ServerCore {
  readonly log: Logger;
  /** Counters for /metrics (NACKs are counted by the stream handlers). */
  readonly metrics?: XdsMetrics;
  /** Resolves once a PushContext exists; requests wait for it. */
  ready(): Promise<void>;
  /** Registers a new connection from the first request's node; throws for a node it cannot serve. */
  openConnection(node: NodeJson | undefined, mode: 'sotw' | 'delta', peer: string, write: WriteFn, verifiedIdentity?: string): Connection;
  closeConnection(conn: Connection): void;
  /** A workload health report (Istio's HealthInformation request) arrived on `conn`'s stream. */
  health?(conn: Connection, healthy: boolean, message: string): void;
  /** The current generation of `typeUrl` for `w`'s subscription, or undefined after logging an error. */
  generate(conn: Connection, typeUrl: string, w: WatchState, names?: readonly string[] | ReadonlySet<string>): Generated | undefined;
  nonce(): string;
  /** Ends every stream when the server closes. */
  trackCall(call: grpc.ServerDuplexStream<any, any>): () => void;
}

/**
 * The common life of an ADS stream: requests are handled one at a time in arrival order
 * (each may wait for the first PushContext), the first request's node opens the Connection,
 * and the Connection is closed however the stream ends.
 */
export function serveStream<Req extends { node?: NodeJson; type_url: string; error_detail?: { message?: string } | null }>(
  core: ServerCore,
  call: grpc.ServerDuplexStream<Req, any>,
  mode: 'sotw' | 'delta',
  toWire: (out: Outgoing) => Buffer[],
  handle: (conn: Connection, req: Req) => void,
): void {
  let conn: Connection | undefined;
  let done = false;
  let chain: Promise<void> = core.ready();
  const untrack = core.trackCall(call);
  // Requests are parsed as their frames arrive, not joined into a new Buffer each first.
  installRequestReader(call);
  // Shared response bodies go out without a copy per proxy; otherwise one joined Buffer.
  const writeParts: PartsWriter = partsWriter(call) ?? ((parts, done) => call.write(joinParts(parts), () => done()));
  const finish = () => {
    if (done) return;
    done = true;
    untrack();
    if (conn) core.closeConnection(conn);
  };
  const fail = (code: number, details: string) => {
    core.log.warn(`ads ${conn?.id ?? call.getPeer()}: closing stream: ${details}`);
    finish();
    call.emit('error', { code, details });
  };
  call.on('data', (req: Req) => {
    chain = chain.then(() => {
      if (done) return;
      if (!req.type_url) return fail(3 /* INVALID_ARGUMENT */, 'ADS requests must carry type_url');
      if (!conn) {
        try {
          conn = core.openConnection(req.node, mode, call.getPeer(), (out, flushed) => {
            if (done) return;
            // The callback runs once grpc-js has handed the frame to the HTTP/2 stream and it
            // was written out (it waits for the client's flow-control window), or not at all if
            // the call is cancelled: closing the Connection then gives back its throttle slot.
            writeParts(toWire(out), flushed);
          }, verifiedPeerIdentity(call));
        } catch (e) {
          return fail(3 /* INVALID_ARGUMENT */, (e as Error).message);
        }
      }
      // Not a subscription: the agent's health report for this proxy's workload (Istio's
      // HealthInformation), taken by the server and never answered.
      if (req.type_url === ISTIO_XDS.HEALTH_INFO) return core.health?.(conn, !req.error_detail, req.error_detail?.message ?? '');
      handle(conn, req);
    });
    chain = chain.catch((e: Error) => fail(13 /* INTERNAL */, `internal error: ${e.message}`));
  });
  call.on('end', () => {
    finish();
    call.end();
  });
  call.on('cancelled', finish);
  call.on('error', finish);
  call.on('close', finish);
}

/**
 * The SPIFFE ID (URI SAN) of the client certificate the stream's TLS handshake verified, if any.
 * grpc-js reports a peer certificate only when the socket is authorized, i.e. the chain verified
 * against the server's trusted roots (the mesh CA on :15012).
 */
export function verifiedPeerIdentity(call: Pick<grpc.ServerDuplexStream<any, any>, 'getAuthContext'>): string | undefined {
  const cert = call.getAuthContext?.()?.sslPeerCertificate;
  const san = cert?.subjectaltname;
  if (!san) return undefined;
  for (const part of san.split(/,\s*/)) if (part.startsWith('URI:spiffe://')) return part.slice(4);
  return undefined;
}
