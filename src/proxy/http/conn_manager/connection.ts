/**
 * Per-connection context the codecs find on the socket: ConnectionInfo from the listener and the
 * mutable ConnectionState shared by the connection's streams. Kept under a symbol on the socket so
 * a lookup costs one property read (node's servers hand us the socket, not our wrapper).
 */
import type { ConnectionInfo } from '../../interfaces.ts';
import type { ConnectionState } from './codec.ts';

export interface ConnContext {
  info: ConnectionInfo;
  state: ConnectionState;
}

const kConn = Symbol('tsmesh.http.conn');

export function attachConn(socket: object, ctx: ConnContext): void {
  (socket as Record<symbol, ConnContext>)[kConn] = ctx;
}

export function connOf(socket: object | null | undefined): ConnContext | undefined {
  return socket ? (socket as Record<symbol, ConnContext | undefined>)[kConn] : undefined;
}
