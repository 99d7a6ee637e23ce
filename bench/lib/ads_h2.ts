/**
 * One gRPC bidirectional stream on its own HTTP/2 connection, straight on `node:http2`, for the
 * control-plane bench's simulated Envoys (./ads_load.ts). Per message grpc-js runs a call stack
 * of resolving, load-balancing, subchannel and interceptor layers; at a thousand simulated
 * proxies sharing 2 cores with the control plane, that was most of what the simulators spent on
 * an endpoint change, and it is what the bench then timed. Envoy's own gRPC client is C++ on its
 * own cores. On the wire this is the same: one TCP connection per client, Envoy's 256 MiB
 * HTTP/2 windows, the gRPC length-prefixed framing (uncompressed), status from the trailers.
 */
import { EventEmitter } from 'node:events';
import * as http2 from 'node:http2';

/** Envoy's initial stream and connection windows for its xDS stream (256 MiB). */
export const ENVOY_WINDOW = 256 * 1024 * 1024;

export interface H2Stream<Req, Res> {
  write(req: Req): void;
  cancel(): void;
  on(ev: 'data', fn: (res: Res) => void): this;
  on(ev: 'error', fn: (e: Error) => void): this;
}

/**
 * Opens `path` ("/package.Service/Method") on `address` ("host:port") as a gRPC bidi stream;
 * `serialize` and `deserialize` are the method's message codecs.
 */
export function openStream<Req, Res>(address: string, path: string, serialize: (r: Req) => Buffer, deserialize: (b: Buffer) => Res): H2Stream<Req, Res> {
  return new RawGrpcStream(address, path, serialize, deserialize);
}

class RawGrpcStream<Req, Res> extends EventEmitter implements H2Stream<Req, Res> {
  readonly #session: http2.ClientHttp2Session;
  readonly #stream: http2.ClientHttp2Stream;
  readonly #serialize: (r: Req) => Buffer;
  readonly #deserialize: (b: Buffer) => Res;
  /** Bytes received and not yet a whole message. */
  #chunks: Buffer[] = [];
  #buffered = 0;
  #failed = false;

  constructor(address: string, path: string, serialize: (r: Req) => Buffer, deserialize: (b: Buffer) => Res) {
    super();
    this.#serialize = serialize;
    this.#deserialize = deserialize;
    // maxSessionMemory (MB): node's 10 MB default refuses a 4 MB answer held in a 256 MiB window.
    this.#session = http2.connect(`http://${address}`, { settings: { initialWindowSize: ENVOY_WINDOW }, maxSessionMemory: 1024 });
    this.#session.on('connect', () => this.#session.setLocalWindowSize(ENVOY_WINDOW));
    this.#session.on('error', (e) => this.#fail(e));
    this.#stream = this.#session.request({ ':method': 'POST', ':path': path, 'content-type': 'application/grpc', te: 'trailers' });
    this.#stream.on('data', (d: Buffer) => this.#read(d));
    this.#stream.on('trailers', (t) => {
      const status = Number(t['grpc-status'] ?? 0);
      if (status !== 0) this.#fail(new Error(`grpc-status ${status}: ${decodeURIComponent(String(t['grpc-message'] ?? ''))}`));
    });
    this.#stream.on('response', (h) => {
      // A trailers-only answer (an error before any message) carries its status in the headers.
      const status = h['grpc-status'];
      if (status !== undefined && Number(status) !== 0) this.#fail(new Error(`grpc-status ${status}: ${decodeURIComponent(String(h['grpc-message'] ?? ''))}`));
    });
    this.#stream.on('error', (e) => this.#fail(e));
    this.#stream.on('close', () => {
      if (!this.#failed && this.#stream.rstCode) this.#fail(new Error(`stream reset (HTTP/2 code ${this.#stream.rstCode})`));
    });
  }

  write(req: Req): void {
    const msg = this.#serialize(req);
    const prefix = Buffer.allocUnsafe(5);
    prefix[0] = 0; // not compressed
    prefix.writeUInt32BE(msg.length, 1);
    this.#stream.cork();
    this.#stream.write(prefix);
    this.#stream.write(msg);
    this.#stream.uncork();
  }

  cancel(): void {
    this.#failed = true;
    if (!this.#stream.destroyed) this.#stream.close(http2.constants.NGHTTP2_CANCEL);
    this.#session.close();
  }

  #read(d: Buffer): void {
    this.#chunks.push(d);
    this.#buffered += d.length;
    while (this.#buffered >= 5) {
      const head = this.#chunks[0]!.length >= 5 ? this.#chunks[0]! : this.#join();
      if (head[0] !== 0) return this.#fail(new Error('a compressed gRPC message, which this client did not ask for'));
      const len = head.readUInt32BE(1);
      if (this.#buffered < 5 + len) return;
      const all = this.#chunks.length === 1 ? this.#chunks[0]! : this.#join();
      const msg = all.subarray(5, 5 + len);
      const rest = all.subarray(5 + len);
      this.#chunks = rest.length ? [rest] : [];
      this.#buffered = rest.length;
      let res: Res;
      try {
        res = this.#deserialize(msg);
      } catch (e) {
        return this.#fail(e as Error);
      }
      this.emit('data', res);
    }
  }

  /** Joins what is buffered into one Buffer (once per whole message, not per chunk). */
  #join(): Buffer {
    const one = Buffer.concat(this.#chunks, this.#buffered);
    this.#chunks = [one];
    return one;
  }

  #fail(e: Error): void {
    if (this.#failed) return;
    this.#failed = true;
    this.emit('error', e);
    this.#stream.destroy();
    this.#session.destroy();
  }
}
