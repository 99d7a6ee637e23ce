/**
 * Istio's TCP metadata exchange wire format (envoy.tcp.metadataexchange, ALPN
 * `istio-peer-exchange`): each side starts its byte stream with a header — magic 0x3D230467 and
 * the payload length, both 32-bit big-endian — then the payload, a serialized
 * google.protobuf.Any wrapping a google.protobuf.Struct of its node metadata. The client writes
 * first; the server answers once it has read a valid header. A stream that does not start with the
 * magic is a peer that does not speak the exchange: its bytes pass through untouched.
 */
import type { Duplex } from 'node:stream';
import { decodeAnyStruct } from './proto_struct.ts';

export const MX_ALPN = 'istio-peer-exchange';
export const MX_MAGIC = 0x3d230467;
const HEADER = 8;
/** A larger payload is not Istio's node metadata: treated as no exchange. */
const MAX_PAYLOAD = 64 * 1024;
/**
 * How long a peer that negotiated the exchange has to send its whole frame: past it the
 * connection is closed, so a stalled peer does not hold an opened upstream until the idle timeout.
 */
export const EXCHANGE_DEADLINE_MS = 5000;

/** The bytes a side sends first. */
export function exchangeFrame(anyStruct: Buffer): Buffer {
  const h = Buffer.allocUnsafe(HEADER);
  h.writeUInt32BE(MX_MAGIC, 0);
  h.writeUInt32BE(anyStruct.length, 4);
  return Buffer.concat([h, anyStruct]);
}

/**
 * Reads the peer's exchange frame from the start of `s`, then leaves `s` paused with whatever
 * followed the frame unshifted back, and calls `done` with the peer's metadata (undefined: no
 * exchange; every byte read is put back). `initial` are bytes already read from the stream.
 * A peer that has not sent a whole frame within EXCHANGE_DEADLINE_MS is destroyed (`onTimeout`
 * first; `done` is not called, the connection's close finishes it).
 */
export function readExchange(s: Duplex, initial: Buffer | undefined, done: (md: Record<string, unknown> | undefined, frameBytes: number) => void, onTimeout?: () => void): void {
  let buf = initial && initial.length ? initial : Buffer.alloc(0);
  let finished = false;
  let deadline: NodeJS.Timeout | undefined;
  const finish = (md: Record<string, unknown> | undefined, rest: Buffer, frameBytes = 0) => {
    if (finished) return;
    finished = true;
    if (deadline) clearTimeout(deadline);
    s.off('data', onData);
    s.off('end', onEnd);
    s.off('close', onEnd);
    s.pause();
    if (rest.length) s.unshift(rest);
    done(md, frameBytes);
  };
  const check = (): boolean => {
    if (buf.length < 4) return false;
    if (buf.readUInt32BE(0) !== MX_MAGIC) return finish(undefined, buf), true;
    if (buf.length < HEADER) return false;
    const len = buf.readUInt32BE(4);
    if (len > MAX_PAYLOAD) return finish(undefined, buf), true;
    if (buf.length < HEADER + len) return false;
    const md = decodeAnyStruct(buf.subarray(HEADER, HEADER + len));
    finish(md, buf.subarray(HEADER + len), HEADER + len);
    return true;
  };
  const onData = (chunk: Buffer) => {
    buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
    check();
  };
  // The peer closed before a whole frame: hand back what came, the pipes finish the connection.
  const onEnd = () => finish(undefined, buf);
  if (check()) return;
  s.on('data', onData);
  s.once('end', onEnd);
  s.once('close', onEnd);
  s.resume();
  deadline = setTimeout(() => {
    if (finished) return;
    finished = true;
    s.off('data', onData);
    s.off('end', onEnd);
    s.off('close', onEnd);
    onTimeout?.();
    s.destroy();
  }, EXCHANGE_DEADLINE_MS);
  deadline.unref();
}
