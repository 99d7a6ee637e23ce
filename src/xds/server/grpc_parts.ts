/**
 * Writes a gRPC message made of several Buffers onto a grpc-js server stream without joining
 * them. A SotW CDS or EDS answer of a thousand-service mesh is ~2–4 MB whose body is shared by
 * every proxy of one shape (./wire.ts); `call.write()` would copy it twice per proxy (once to
 * join it with its version and nonce, once more in grpc-js to put the 5-byte gRPC prefix in
 * front). Those per-proxy copies were most of the control plane's memcpy during a sync and
 * left glibc's heap fragmented with freed multi-megabyte blocks.
 *
 * grpc-js has no public API for this, so the writer reaches its server call (1.14's
 * BaseServerInterceptingCall: the stream, cancel check, headers, size limit, channelz counter)
 * and does what its sendMessage does, minus the copy. When that shape is not found (another
 * grpc-js version, an interceptor in between) `partsWriter` returns undefined and the caller
 * writes one joined Buffer through the public API. test/xds/grpc_parts.test.ts fails if the
 * installed grpc-js stops matching, so an upgrade cannot silently bring the copies back.
 */
import type * as grpc from '@grpc/grpc-js';
import type { ServerHttp2Stream } from 'node:http2';

/** gRPC's message prefix: compressed flag (0) and the message length, big-endian. */
export const GRPC_PREFIX = 5;

/** What the writer uses of grpc-js's server call. */
interface BaseCall {
  stream: ServerHttp2Stream;
  maxSendMessageSize: number;
  callEventTracker?: { addMessageSent(): void } | null;
  checkCancelled(): boolean;
  maybeSendMetadata(): void;
  sendStatus(status: { code: number; details: string; metadata: null }): void;
}

function baseCall(call: grpc.ServerDuplexStream<any, any>): BaseCall | undefined {
  const c = (call as unknown as { call?: Partial<BaseCall> }).call;
  if (!c || typeof c.checkCancelled !== 'function' || typeof c.maybeSendMetadata !== 'function' || typeof c.sendStatus !== 'function') return undefined;
  if (typeof c.maxSendMessageSize !== 'number' || typeof c.stream?.write !== 'function' || typeof c.stream.cork !== 'function') return undefined;
  return c as BaseCall;
}

/** Writes `parts` (the first starts with GRPC_PREFIX bytes of room) as one message; `done` once flushed. */
export type PartsWriter = (parts: readonly Buffer[], done: () => void) => void;

/** A zero-copy writer for `call`, or undefined when grpc-js's internals are not the expected ones. */
export function partsWriter(call: grpc.ServerDuplexStream<any, any>): PartsWriter | undefined {
  const base = baseCall(call);
  if (!base) return undefined;
  return (parts, done) => {
    if (base.checkCancelled()) return; // as grpc-js: a cancelled call never calls back
    const length = messageLength(parts);
    if (base.maxSendMessageSize !== -1 && length > base.maxSendMessageSize) {
      base.sendStatus({ code: 8 /* RESOURCE_EXHAUSTED */, details: `Sent message larger than max (${length} vs. ${base.maxSendMessageSize})`, metadata: null });
      return;
    }
    writePrefix(parts[0]!, length);
    base.maybeSendMetadata();
    const stream = base.stream;
    // One writev for the parts instead of a native write each.
    stream.cork();
    for (let i = 0; i < parts.length - 1; i++) stream.write(parts[i]);
    stream.write(parts[parts.length - 1], (err?: Error | null) => {
      if (err) {
        base.sendStatus({ code: 13 /* INTERNAL */, details: 'Internal server error', metadata: null });
        return;
      }
      base.callEventTracker?.addMessageSent();
      done();
    });
    stream.uncork();
  };
}

/** The message's length: the parts without the prefix room at the front of the first. */
function messageLength(parts: readonly Buffer[]): number {
  let n = -GRPC_PREFIX;
  for (const p of parts) n += p.length;
  return n;
}

function writePrefix(first: Buffer, length: number): void {
  first[0] = 0;
  first.writeUInt32BE(length, 1);
}

/** The message alone (no prefix), for grpc-js's public write path: one copy. */
export function joinParts(parts: readonly Buffer[]): Buffer {
  return parts.length === 1 ? parts[0]!.subarray(GRPC_PREFIX) : Buffer.concat(parts).subarray(GRPC_PREFIX);
}
