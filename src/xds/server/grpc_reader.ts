/**
 * Reads a grpc-js server call's request messages as their frames arrive, parsing each one at
 * once instead of letting grpc-js join it into a new Buffer first. After a push every SotW
 * sidecar ACKs with its whole EDS name list again (about 110 KB at 1,000 services, seven HTTP/2
 * frames): grpc-js's decoder joined each into a fresh multi-frame allocation, 110 MB per
 * endpoint change at 1,000 proxies, and that external memory is what started most of V8's
 * full collections during a SotW change (PERFORMANCE.md, decision 4).
 *
 * Here a message that arrived in one frame is parsed where it lies, and one spread over frames is
 * copied into one scratch buffer that every stream reuses: parsing is synchronous and nothing
 * parsed keeps a view of its bytes (see `deserializer` in ../grpc.ts), so the scratch is free
 * again before the next frame of any stream is read. grpc-js still queues, orders and delivers
 * the messages: it gets a small token per message, and the method's deserializer trades the
 * token for the parsed request (`takeParsed`).
 *
 * Like ./grpc_parts.ts this reaches into grpc-js 1.14's server call (its `decoder`); when the
 * shape is not found the call keeps grpc-js's own decoder and nothing changes.
 * test/xds/grpc_reader.test.ts fails if the installed grpc-js stops matching.
 */
import type * as grpc from '@grpc/grpc-js';
import { varintSize, writeVarint } from './wire.ts';

/**
 * A method deserializer that takes tokens (`takeParsed` first) and carries the decoder the reader
 * parses with: a client's bytes never go through the token lookup, so no message can claim
 * another stream's parsed request.
 */
export interface TokenDeserializer<T> {
  (bytes: Buffer): T;
  decode: (bytes: Buffer) => T;
}

/** `decode` as a method deserializer that also takes the reader's tokens. */
export function tokenDeserializer<T>(decode: (bytes: Buffer) => T): TokenDeserializer<T> {
  return Object.assign((bytes: Buffer) => (takeParsed(bytes) as T | undefined) ?? decode(bytes), { decode });
}

/** What the reader uses of grpc-js's server call. */
interface BaseCall {
  decoder: { write(data: Buffer): Buffer[]; readState?: number };
  maxReceiveMessageSize: number;
  handler: { deserialize: Partial<TokenDeserializer<unknown>> };
}

function baseCall(call: grpc.ServerDuplexStream<any, any>): BaseCall | undefined {
  const c = (call as unknown as { call?: Partial<BaseCall> }).call;
  if (!c || typeof c.decoder?.write !== 'function' || typeof c.maxReceiveMessageSize !== 'number') return undefined;
  // Only methods whose deserializer takes tokens (a plain one would get a token as a request).
  if (typeof c.handler?.deserialize?.decode !== 'function') return undefined;
  // Nothing may have gone through grpc-js's decoder yet (the stream starts paused).
  if (c.decoder.readState !== undefined && c.decoder.readState !== 0) return undefined;
  return c as BaseCall;
}

/** gRPC's message prefix: compressed flag and big-endian length. */
const PREFIX = 5;
/**
 * A token is a message holding only field 19999 (a number no .proto may
 * declare: 19000-19999 are reserved for protobuf implementations) with the parsed request's id.
 */
const TOKEN_TAG = [0xf8, 0xe1, 0x09]; // varint of (19999 << 3) | 0
/** Parsed requests (or the error parsing threw) waiting for grpc-js to ask for them. */
const parsed = new Map<number, { value?: unknown; error?: unknown }>();
let nextId = 0;

/** Scratch for messages spread over frames; grown to the largest seen up to this, else one-off. */
const MAX_SCRATCH = 4 * 1024 * 1024;
let scratch = Buffer.allocUnsafeSlow(64 * 1024);

function token(id: number): Buffer {
  const length = TOKEN_TAG.length + varintSize(id);
  const out = Buffer.allocUnsafe(PREFIX + length);
  out[0] = 0;
  out.writeUInt32BE(length, 1);
  out.set(TOKEN_TAG, PREFIX);
  writeVarint(out, PREFIX + TOKEN_TAG.length, id);
  return out;
}

/**
 * The request a token (the message without its prefix) stands for, `undefined` when `bytes` is
 * not a token this process handed out; throws what parsing threw, as grpc-js's own
 * deserialization would have.
 */
function takeParsed(bytes: Buffer): unknown {
  if (bytes.length < 4 || bytes[0] !== TOKEN_TAG[0] || bytes[1] !== TOKEN_TAG[1] || bytes[2] !== TOKEN_TAG[2]) return undefined;
  let id = 0;
  for (let i = 3, scale = 1; i < bytes.length; i++, scale *= 128) {
    id += (bytes[i]! & 0x7f) * scale;
    if (bytes[i]! < 0x80 && i !== bytes.length - 1) return undefined;
  }
  const entry = parsed.get(id);
  if (!entry) return undefined;
  parsed.delete(id);
  if ('error' in entry) throw entry.error;
  return entry.value;
}

/**
 * Replaces the call's decoder with one that parses messages as they complete (with the method's
 * own deserializer). Returns false, changing nothing, when grpc-js's internals are not the expected ones.
 */
export function installRequestReader(call: grpc.ServerDuplexStream<any, any>): boolean {
  const base = baseCall(call);
  if (!base) return false;
  base.decoder = new FrameReader(base.maxReceiveMessageSize, base.handler.deserialize.decode!);
  return true;
}

/** gRPC message framing over a stream's DATA frames, parsing each message as it completes. */
class FrameReader {
  readonly #max: number;
  readonly #parse: (bytes: Buffer) => unknown;
  readonly #head = Buffer.alloc(PREFIX);
  #headFill = 0;
  /** Length of the message being read; -1 while reading its prefix. */
  #length = -1;
  /** Views of the frames holding the message read so far. */
  #parts: Buffer[] = [];
  #filled = 0;

  constructor(max: number, parse: (bytes: Buffer) => unknown) {
    this.#max = max;
    this.#parse = parse;
  }

  write(data: Buffer): Buffer[] {
    const out: Buffer[] = [];
    let pos = 0;
    try {
      while (pos < data.length) {
        if (this.#length < 0) {
          const n = Math.min(PREFIX - this.#headFill, data.length - pos);
          data.copy(this.#head, this.#headFill, pos, pos + n);
          this.#headFill += n;
          pos += n;
          if (this.#headFill < PREFIX) break;
          this.#length = this.#head.readUInt32BE(1);
          if (this.#max !== -1 && this.#length > this.#max) throw new Error(`Received message larger than max (${this.#length} vs ${this.#max})`);
        }
        const n = Math.min(this.#length - this.#filled, data.length - pos);
        if (n > 0) this.#parts.push(data.subarray(pos, pos + n));
        this.#filled += n;
        pos += n;
        if (this.#filled < this.#length) break;
        out.push(this.#complete());
      }
    } catch (e) {
      // grpc-js ends the call; the tokens of this write are never asked for.
      for (const t of out) takeParsedQuietly(t);
      throw e;
    }
    return out;
  }

  /** The finished message, parsed, as a token; a compressed one as grpc-js's framed bytes. */
  #complete(): Buffer {
    const parts = this.#parts;
    const length = this.#length;
    const compressed = this.#head[0] !== 0;
    this.#parts = [];
    this.#filled = 0;
    this.#length = -1;
    this.#headFill = 0;
    // Compressed messages (Envoy does not compress ADS requests) take grpc-js's own path.
    if (compressed) return Buffer.concat([this.#head, ...parts], PREFIX + length);
    let bytes: Buffer;
    if (parts.length === 1) bytes = parts[0]!;
    else if (parts.length === 0) bytes = Buffer.alloc(0);
    else {
      if (length > scratch.length && length <= MAX_SCRATCH) scratch = Buffer.allocUnsafeSlow(Math.max(length, scratch.length * 2));
      const into = length <= scratch.length ? scratch : Buffer.allocUnsafe(length);
      let at = 0;
      for (const p of parts) {
        into.set(p, at);
        at += p.length;
      }
      bytes = into.subarray(0, length);
    }
    const id = nextId++;
    if (nextId === Number.MAX_SAFE_INTEGER) nextId = 0;
    try {
      parsed.set(id, { value: this.#parse(bytes) });
    } catch (error) {
      parsed.set(id, { error });
    }
    return token(id);
  }
}

function takeParsedQuietly(framed: Buffer): void {
  try {
    takeParsed(framed.subarray(PREFIX));
  } catch {
    // An error parsing is dropped with its token.
  }
}
