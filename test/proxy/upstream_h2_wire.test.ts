/**
 * The upstream HTTP/2 client (src/proxy/upstream/http2 on the shared frame layer in
 * src/proxy/http/http2/session.ts) against a hand-built h2c server on node:net that misbehaves on
 * purpose, one scenario per cluster, each reached by an HTTP/1.1 client through the proxy. What
 * RFC 9113 makes a malformed response (no :status, an upper-case name, a stray pseudo-header, a
 * connection-specific field, a body shorter than its content-length, DATA before HEADERS) must
 * reach the client as a 5xx or a cut-off response, never as a complete one; a connection error
 * (bad HPACK, PUSH_PROMISE after SETTINGS_ENABLE_PUSH 0) must end that connection only; refused
 * streams (RST_STREAM REFUSED_STREAM, GOAWAY) are retryable under retry_on refused-stream; flow
 * control holds both ways. The server writes its own frames so these cases can be produced at
 * all (node:http2 will not send them), and it checks the client's answers on the wire
 * (RST_STREAM / GOAWAY codes). After every scenario the same cluster and a well-behaved one still
 * answer 200: one bad upstream never takes the proxy down.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { hcmConfig, listenOn, startHcm, type ClusterSpec, type TestProxy } from './http/harness.ts';
import { block, frame, lit, PREFACE, u32, type Frame } from './http/h2_frames.ts';

const DATA = 0x0, HEADERS = 0x1, RST_STREAM = 0x3, SETTINGS = 0x4, PUSH_PROMISE = 0x5, PING = 0x6, GOAWAY = 0x7, WINDOW_UPDATE = 0x8, CONTINUATION = 0x9;
const END_STREAM = 0x1, ACK = 0x1, END_HEADERS = 0x4;
const NO_ERROR = 0x0, PROTOCOL_ERROR = 0x1, INTERNAL_ERROR = 0x2, FLOW_CONTROL_ERROR = 0x3, REFUSED_STREAM = 0x7, COMPRESSION_ERROR = 0x9;
const SETTINGS_ENABLE_PUSH = 0x2, SETTINGS_INITIAL_WINDOW_SIZE = 0x4;
const DEFAULT_WINDOW = 65535;
const MAX_FRAME = 16384;
const WAIT_MS = 3000;


// ---------- HPACK, by hand: literal without indexing, no Huffman; 0x88 is :status 200 ----------



const STATUS_200 = [0x88];
const hex = (code: number) => `0x${code.toString(16)}`;

// ---------- the raw upstream ----------

/**
 * One connection to the raw server: parses the proxy's frames (kept in `frames`), ACKs its
 * SETTINGS and PINGs, and tracks what the proxy lets it send (the connection window and each
 * stream's, from SETTINGS_INITIAL_WINDOW_SIZE and WINDOW_UPDATE).
 */
class Conn {
  readonly frames: Frame[] = [];
  readonly settings = new Map<number, number>();
  closed = false;
  connWindow = DEFAULT_WINDOW;
  private initialWindow = DEFAULT_WINDOW;
  private readonly windows = new Map<number, number>();
  private readonly waiters = new Set<() => void>();
  private buf: Buffer = Buffer.alloc(0);
  private prefaceSeen = false;
  private blockStream = 0;

  constructor(
    readonly socket: net.Socket,
    private readonly onRequest: (c: Conn, stream: number) => void,
  ) {
    // Small frame writes must not wait out Nagle against the proxy's delayed ACKs.
    socket.setNoDelay(true);
    socket.on('data', (d: Buffer) => this.read(d));
    socket.on('error', () => {});
    socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
    this.send(frame(SETTINGS, 0, 0));
  }

  send(...frames: Buffer[]): void {
    if (!this.socket.destroyed && this.socket.writable) this.socket.write(Buffer.concat(frames));
  }

  streamWindow(stream: number): number {
    return this.windows.get(stream) ?? 0;
  }

  /** Resolves true once `pred` holds (checked after each frame and at close), false after `ms`. */
  until(pred: () => boolean, ms = WAIT_MS): Promise<boolean> {
    if (pred()) return Promise.resolve(true);
    return new Promise((resolve) => {
      const check = () => {
        if (!pred() && !this.closed) return;
        clearTimeout(t);
        this.waiters.delete(check);
        resolve(pred());
      };
      const t = setTimeout(() => (this.waiters.delete(check), resolve(pred())), ms);
      this.waiters.add(check);
    });
  }

  /** `body` as DATA frames of at most 16384 bytes, never past either window (waiting, bounded, for WINDOW_UPDATEs). */
  async sendData(stream: number, body: Buffer, endStream: boolean): Promise<void> {
    let off = 0;
    while (off < body.length) {
      const room = Math.min(MAX_FRAME, this.streamWindow(stream), this.connWindow, body.length - off);
      if (room <= 0) {
        const opened = await this.until(() => Math.min(this.streamWindow(stream), this.connWindow) > 0);
        if (!opened) throw new Error(`stream ${stream}: no WINDOW_UPDATE within ${WAIT_MS} ms at ${off} of ${body.length} bytes`);
        continue;
      }
      const last = off + room === body.length;
      this.send(frame(DATA, last && endStream ? END_STREAM : 0, stream, body.subarray(off, off + room)));
      this.take(stream, room);
      off += room;
    }
  }

  /** Counts `n` bytes sent on `stream` against both windows. */
  take(stream: number, n: number): void {
    this.windows.set(stream, this.streamWindow(stream) - n);
    this.connWindow -= n;
  }

  /** RST_STREAM codes the proxy sent for `stream`. */
  resets(stream: number): number[] {
    return this.frames.filter((f) => f.type === RST_STREAM && f.stream === stream).map((f) => f.payload.readUInt32BE(0));
  }

  /** The error code of the proxy's GOAWAY, if it sent one. */
  goawayCode(): number | undefined {
    const g = this.frames.find((f) => f.type === GOAWAY);
    return g?.payload.readUInt32BE(4);
  }

  close(): void {
    this.socket.destroy();
  }

  private wake(): void {
    for (const w of [...this.waiters]) w();
  }

  private read(d: Buffer): void {
    this.buf = this.buf.length ? Buffer.concat([this.buf, d]) : d;
    if (!this.prefaceSeen) {
      if (this.buf.length < PREFACE.length) return;
      if (!this.buf.subarray(0, PREFACE.length).equals(PREFACE)) return void this.socket.destroy();
      this.prefaceSeen = true;
      this.buf = this.buf.subarray(PREFACE.length);
    }
    while (this.buf.length >= 9) {
      const len = this.buf.readUIntBE(0, 3);
      if (this.buf.length < 9 + len) break;
      const f = { type: this.buf[3]!, flags: this.buf[4]!, stream: this.buf.readUInt32BE(5) & 0x7fffffff, payload: Buffer.from(this.buf.subarray(9, 9 + len)) };
      this.buf = this.buf.subarray(9 + len);
      this.frames.push(f);
      this.onFrame(f);
    }
    this.wake();
  }

  private onFrame(f: Frame): void {
    switch (f.type) {
      case SETTINGS:
        if (f.flags & ACK) return;
        for (let p = 0; p + 6 <= f.payload.length; p += 6) {
          const id = f.payload.readUInt16BE(p);
          const v = f.payload.readUInt32BE(p + 2);
          this.settings.set(id, v);
          if (id === SETTINGS_INITIAL_WINDOW_SIZE) {
            for (const [s, w] of this.windows) this.windows.set(s, w + v - this.initialWindow);
            this.initialWindow = v;
          }
        }
        return this.send(frame(SETTINGS, ACK, 0));
      case WINDOW_UPDATE: {
        const inc = f.payload.readUInt32BE(0) & 0x7fffffff;
        if (f.stream === 0) this.connWindow += inc;
        else if (this.windows.has(f.stream)) this.windows.set(f.stream, this.streamWindow(f.stream) + inc);
        return;
      }
      case PING:
        if (!(f.flags & ACK)) this.send(frame(PING, ACK, 0, f.payload));
        return;
      case HEADERS:
        // The request's header block is not decoded: each scenario has its own server.
        this.blockStream = f.stream;
        if (f.flags & END_HEADERS) this.headerBlockDone();
        return;
      case CONTINUATION:
        if (f.flags & END_HEADERS) this.headerBlockDone();
        return;
    }
  }

  private headerBlockDone(): void {
    const id = this.blockStream;
    if (this.windows.has(id)) return; // request trailers
    this.windows.set(id, this.initialWindow);
    this.onRequest(this, id);
  }
}

/** What a scenario does with a request: `n` counts the requests this server has seen (from 1). */
type Answer = (c: Conn, stream: number, n: number) => void | Promise<void>;

interface RawUpstream {
  port: number;
  conns: Conn[];
  /** Requests seen, over every connection. */
  requests: () => number;
  /** Errors thrown by the scenario's answers (a send that could not finish). */
  errors: Error[];
  close(): Promise<void>;
}

async function rawUpstream(answer: Answer): Promise<RawUpstream> {
  const conns: Conn[] = [];
  const errors: Error[] = [];
  let n = 0;
  const server = net.createServer((socket) => {
    conns.push(
      new Conn(socket, (c, stream) => {
        const k = ++n;
        Promise.resolve()
          .then(() => answer(c, stream, k))
          .catch((e: Error) => errors.push(e));
      }),
    );
  });
  const port = await listenOn(server);
  return {
    port,
    conns,
    requests: () => n,
    errors,
    close: async () => {
      for (const c of conns) c.close();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

// ---------- answers ----------

/** The well-behaved answer: :status 200, content-length 2, "ok". */
const ok: Answer = (c, id) => c.send(frame(HEADERS, END_HEADERS, id, block(STATUS_200, lit('content-length', '2'))), frame(DATA, END_STREAM, id, 'ok'));

/** `bad` for the first request this server sees, the well-behaved answer after. */
const firstOnly =
  (bad: Answer): Answer =>
  (c, id, n) =>
    n === 1 ? bad(c, id, n) : ok(c, id, n);

/** A response header block that RFC 9113 8.3 makes malformed, followed by a body as if it were fine. */
const malformedHead = (...fields: (number[] | Buffer)[]) =>
  firstOnly((c, id) => c.send(frame(HEADERS, END_HEADERS, id, block(...fields)), frame(DATA, END_STREAM, id, 'ok')));

const BIG = Buffer.alloc(200 * 1024, 0);
for (let i = 0; i < BIG.length; i++) BIG[i] = i % 251;
/** Far more than the flood below can send before the proxy stops reading. */
const FLOOD_CONTENT_LENGTH = 64 * 1024 * 1024;
const FLOOD_STALL_MS = 300;

/**
 * Sends body at the pace the proxy's windows allow until the stream window stays shut for
 * FLOOD_STALL_MS (the proxy stopped reading: its client does not read), then DATA past it, until
 * the proxy resets the stream or ends the connection.
 */
const flood: Answer = async (c, id) => {
  c.send(frame(HEADERS, END_HEADERS, id, block(STATUS_200, lit('content-length', String(FLOOD_CONTENT_LENGTH)))));
  const chunk = Buffer.alloc(MAX_FRAME, 0x61);
  let sent = 0;
  const started = Date.now();
  const answered = () => c.closed || c.resets(id).length > 0 || c.goawayCode() !== undefined;
  while (!answered()) {
    if (Date.now() - started > WAIT_MS || sent + 2 * MAX_FRAME > FLOOD_CONTENT_LENGTH) throw new Error(`no reset for the overrun stream: ${sent} bytes in ${Date.now() - started} ms`);
    const room = Math.min(MAX_FRAME, c.streamWindow(id), c.connWindow);
    if (room > 0) {
      c.send(frame(DATA, 0, id, chunk.subarray(0, room)));
      c.take(id, room);
      sent += room;
      continue;
    }
    if (c.streamWindow(id) > 0) {
      if (!(await c.until(() => c.connWindow > 0 || answered()))) throw new Error('the connection window stayed shut');
      continue;
    }
    if (await c.until(() => c.streamWindow(id) > 0 || answered(), FLOOD_STALL_MS)) continue;
    // A proxy that was only slow, not paused, credits this frame with its late WINDOW_UPDATEs and
    // the flood goes on; a paused one has no window left for it.
    c.send(frame(DATA, 0, id, chunk));
    c.take(id, chunk.length);
    sent += chunk.length;
  }
};

// ---------- the HTTP/1.1 side ----------

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  /** The whole message arrived (its framing said it ended). */
  complete: boolean;
  error?: string;
}

const show = (r: Reply) => JSON.stringify({ status: r.status, complete: r.complete, error: r.error, bytes: r.body.length, body: r.body.subarray(0, 200).toString('latin1') });

const is5xx = (r: Reply) => r.status >= 500 && r.status < 600;

/** A GET with node's HTTP/1.1 client on a fresh connection; whatever came back within WAIT_MS. */
function get(port: number, path: string): Promise<Reply> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let status = 0;
    let headers: http.IncomingHttpHeaders = {};
    let complete = false;
    let error: string | undefined;
    const done = () => {
      clearTimeout(timer);
      resolve({ status, headers, body: Buffer.concat(chunks), complete, error });
    };
    const req = http.request({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      status = res.statusCode ?? 0;
      headers = res.headers;
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', (e) => (error ??= e.message));
      res.on('close', () => {
        complete = res.complete;
        done();
      });
    });
    req.on('error', (e) => {
      error ??= e.message;
      if (status === 0) done();
    });
    const timer = setTimeout(() => req.destroy(new Error(`no complete answer within ${WAIT_MS} ms`)), WAIT_MS);
    req.end();
  });
}

/** Polls `pred` every 5 ms for at most WAIT_MS. */
async function until(pred: () => boolean, what: string): Promise<void> {
  const end = Date.now() + WAIT_MS;
  while (!pred()) {
    if (Date.now() > end) assert.fail(`${what}: not within ${WAIT_MS} ms`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

// ---------- the suite ----------

const noStatus = malformedHead(lit('content-length', '2'));
// 0x80: indexed field with index 0, which RFC 7541 6.1 makes a decoding error.
const badHpack = firstOnly((c, id) => c.send(frame(HEADERS, END_HEADERS, id, Buffer.from([0x80]))));
// Promised stream 2 with a plausible request header block (:method GET, :scheme http, :path /).
const push = firstOnly((c, id) => {
  c.send(frame(PUSH_PROMISE, END_HEADERS, id, block(u32(2), [0x82, 0x86, 0x84], lit(':authority', 'test'))));
  ok(c, id, 1);
});

const SCENARIOS: Record<string, Answer> = {
  baseline: ok,
  trailers: (c, id) =>
    c.send(
      frame(HEADERS, END_HEADERS, id, block(STATUS_200, lit('content-length', '2'))),
      frame(DATA, 0, id, 'ok'),
      frame(HEADERS, END_HEADERS | END_STREAM, id, lit('x-t', '1')),
    ),
  'no-status': noStatus,
  'upper-name': malformedHead(STATUS_200, lit('X-Upper', '1'), lit('content-length', '2')),
  'path-pseudo': malformedHead(STATUS_200, lit(':path', '/'), lit('content-length', '2')),
  'connection-close': malformedHead(STATUS_200, lit('connection', 'close'), lit('content-length', '2')),
  'short-body': firstOnly((c, id) => c.send(frame(HEADERS, END_HEADERS, id, block(STATUS_200, lit('content-length', '5'))), frame(DATA, END_STREAM, id, 'abc'))),
  // A confused server: DATA first, then the response it meant to send, on a stream already reset.
  'data-first': firstOnly((c, id) => c.send(frame(DATA, 0, id, 'ok'), frame(HEADERS, END_HEADERS, id, block(STATUS_200, lit('content-length', '2'))), frame(DATA, END_STREAM, id, 'ok'))),
  'bad-hpack': badHpack,
  refused: firstOnly((c, id) => c.send(frame(RST_STREAM, 0, id, u32(REFUSED_STREAM)))),
  'refused-retry': firstOnly((c, id) => c.send(frame(RST_STREAM, 0, id, u32(REFUSED_STREAM)))),
  'internal-reset': firstOnly((c, id) => c.send(frame(RST_STREAM, 0, id, u32(INTERNAL_ERROR)))),
  goaway: firstOnly((c) => c.send(frame(GOAWAY, 0, 0, Buffer.concat([u32(0), u32(NO_ERROR)])))),
  'goaway-retry': firstOnly((c) => c.send(frame(GOAWAY, 0, 0, Buffer.concat([u32(0), u32(NO_ERROR)])))),
  informational: (c, id) =>
    c.send(frame(HEADERS, END_HEADERS, id, lit(':status', '100')), frame(HEADERS, END_HEADERS, id, block(STATUS_200, lit('content-length', '2'))), frame(DATA, END_STREAM, id, 'ok')),
  push,
  large: firstOnly(async (c, id) => {
    c.send(frame(HEADERS, END_HEADERS, id, block(STATUS_200, lit('content-length', String(BIG.length)))));
    await c.sendData(id, BIG, true);
  }),
  flood: firstOnly(flood),
  // The same errors again on clusters of their own, for the checks of reason and flag.
  'bad-hpack-reason': badHpack,
  'push-reason': push,
  'no-status-flag': noStatus,
};
const RETRY = new Set(['refused-retry', 'goaway-retry']);

describe('the upstream HTTP/2 client against a misbehaving h2c server', () => {
  const ups = new Map<string, RawUpstream>();
  let proxy: TestProxy;
  let port: number;
  const up = (name: string) => ups.get(name)!;

  before(async () => {
    for (const [name, answer] of Object.entries(SCENARIOS)) ups.set(name, await rawUpstream(answer));
    const routes = [...ups.keys()].map((name) => ({
      match: { prefix: `/${name}/` },
      route: { cluster: name, ...(RETRY.has(name) ? { retry_policy: { retry_on: 'refused-stream', num_retries: 1 } } : {}) },
    }));
    const clusters: ClusterSpec[] = [...ups].map(([name, u]) => ({ name, ports: [u.port], protocol: 'http2' }));
    proxy = await startHcm(hcmConfig({ name: 'rc', virtual_hosts: [{ name: 'v', domains: ['*'], routes }] }), clusters);
    port = proxy.port;
  });

  after(async () => {
    await proxy?.close();
    await Promise.all([...ups.values()].map((u) => u.close()));
  });

  /** The response flags of the completed request for `path`. */
  const flagsOf = (path: string) => proxy.completed.find((i) => i.requestHeaders?.get(':path') === path)?.responseFlags;

  /** The scenario's own cluster (its server now answers well) and the baseline still answer 200 "ok". */
  async function stillServing(name: string): Promise<void> {
    for (const path of [`/${name}/again`, '/baseline/']) {
      const r = await get(port, path);
      assert.equal(r.status, 200, `${path} after the bad upstream: ${show(r)}`);
      assert.equal(r.body.toString(), 'ok', path);
      assert.ok(r.complete, path);
    }
  }

  /** 5xx, and a local reply that names a reset reason names `reason`. */
  function assertFailed(r: Reply, reason: string): void {
    assert.ok(is5xx(r), `expected a 5xx: ${show(r)}`);
    const body = r.body.toString();
    if (/reset reason:/.test(body)) assert.match(body, new RegExp(`reset reason: ${reason}`), show(r));
  }

  /**
   * The client reset the stream with PROTOCOL_ERROR and kept the connection: RFC 9113 8.1.1 makes
   * a malformed response a stream error (Envoy's own default, override_stream_error_on_invalid_http_message
   * false, would end the whole upstream connection instead).
   */
  async function assertStreamError(name: string): Promise<void> {
    const c = up(name).conns[0]!;
    assert.ok(await c.until(() => c.resets(1).length > 0), `${name}: no RST_STREAM on stream 1`);
    assert.deepEqual(c.resets(1).map(hex), [hex(PROTOCOL_ERROR)], `${name}: RST_STREAM code`);
    assert.equal(c.goawayCode(), undefined, `${name}: a malformed response is a stream error, not a connection error`);
  }

  test('1. baseline: HEADERS 200 + content-length 2, DATA "ok" END_STREAM is a 200 "ok"', async () => {
    const r = await get(port, '/baseline/');
    assert.equal(r.status, 200, show(r));
    assert.equal(r.body.toString(), 'ok');
    assert.ok(r.complete);
    const c = up('baseline').conns[0]!;
    assert.equal(c.settings.get(SETTINGS_ENABLE_PUSH), 0, 'the client SETTINGS say SETTINGS_ENABLE_PUSH 0');
    assert.ok(await c.until(() => c.frames.some((f) => f.type === SETTINGS && f.flags & ACK)), 'the client ACKed our SETTINGS');
    assert.deepEqual(c.resets(1), [], 'a complete response is not reset');
  });

  test('2. trailers after DATA (HEADERS END_STREAM with x-t) end the response: 200 with the body', async () => {
    const r = await get(port, '/trailers/');
    assert.equal(r.status, 200, show(r));
    assert.equal(r.body.toString(), 'ok');
    assert.ok(r.complete);
    const c = up('trailers').conns[0]!;
    assert.deepEqual(c.resets(1), []);
    await stillServing('trailers');
  });

  test('3. a response HEADERS without :status: 5xx (protocol error), RST_STREAM PROTOCOL_ERROR', async () => {
    const r = await get(port, '/no-status/');
    assertFailed(r, 'protocol error');
    await assertStreamError('no-status');
    await stillServing('no-status');
  });

  test('4. an upper-case field name in the response: 5xx (protocol error)', async () => {
    assertFailed(await get(port, '/upper-name/'), 'protocol error');
    await assertStreamError('upper-name');
    await stillServing('upper-name');
  });

  test('5. a response pseudo-header other than :status (:path): 5xx (protocol error)', async () => {
    assertFailed(await get(port, '/path-pseudo/'), 'protocol error');
    await assertStreamError('path-pseudo');
    await stillServing('path-pseudo');
  });

  test('6. connection: close in an HTTP/2 response (RFC 9113 8.2.2): 5xx (protocol error)', async () => {
    assertFailed(await get(port, '/connection-close/'), 'protocol error');
    await assertStreamError('connection-close');
    await stillServing('connection-close');
  });

  test('7. content-length 5 with 3 bytes and END_STREAM: never a complete response of the wrong length', async () => {
    const r = await get(port, '/short-body/');
    if (r.status === 0) {
      // The head was still unsent when the stream failed: the connection closes with no response.
      assert.ok(r.error, show(r));
    } else if (!is5xx(r)) {
      assert.equal(r.status, 200, show(r));
      const declared = r.headers['content-length'];
      // Whatever framing reached the client, it must not end cleanly short of 5 bytes.
      assert.ok(!r.complete, `the client got a complete response: ${show(r)} (content-length ${declared})`);
      assert.ok(r.body.length < 5, show(r));
      if (declared !== undefined) assert.notEqual(Number(declared), r.body.length, 'a complete-looking body');
    }
    await assertStreamError('short-body');
    await stillServing('short-body');
  });

  test('8. DATA before any HEADERS on the stream: 5xx, and what follows on the reset stream is ignored', async () => {
    assertFailed(await get(port, '/data-first/'), 'protocol error');
    await assertStreamError('data-first');
    await stillServing('data-first');
  });

  test('9. an invalid HPACK block (indexed field 0): 5xx; GOAWAY COMPRESSION_ERROR ends that connection; the next request gets a new one', async () => {
    const r = await get(port, '/bad-hpack/');
    assert.ok(is5xx(r), show(r));
    const u = up('bad-hpack');
    const c = u.conns[0]!;
    assert.ok(await c.until(() => c.closed), 'the connection was closed');
    assert.equal(hex(c.goawayCode() ?? -1), hex(COMPRESSION_ERROR), 'GOAWAY code');
    await stillServing('bad-hpack');
    assert.equal(u.conns.length, 2, 'the next request went on a new connection');
  });

  test('10. RST_STREAM REFUSED_STREAM before headers: 503 without a retry policy; with retry_on refused-stream the retry gets 200', async () => {
    const r = await get(port, '/refused/');
    assert.equal(r.status, 503, show(r));
    assert.match(r.body.toString(), /reset reason: remote refused stream reset/);
    await stillServing('refused');

    const retried = await get(port, '/refused-retry/');
    assert.equal(retried.status, 200, show(retried));
    assert.equal(retried.body.toString(), 'ok');
    assert.equal(up('refused-retry').requests(), 2, 'the refused stream was sent again');
    await stillServing('refused-retry');
  });

  test('11. RST_STREAM INTERNAL_ERROR before headers: 503 naming "remote reset"', async () => {
    const r = await get(port, '/internal-reset/');
    assert.equal(r.status, 503, show(r));
    assert.match(r.body.toString(), /reset reason: remote reset/);
    await stillServing('internal-reset');
  });

  test('12. GOAWAY (last stream 0) right after the request: 503 refused, or with retry_on refused-stream 200 on a new connection', async () => {
    const r = await get(port, '/goaway/');
    assert.equal(r.status, 503, show(r));
    assert.match(r.body.toString(), /reset reason: remote refused stream reset/);
    const c = up('goaway').conns[0]!;
    assert.ok(await c.until(() => c.closed), 'the client closed the connection the server is leaving');
    await stillServing('goaway');
    assert.equal(up('goaway').conns.length, 2, 'no new stream on the connection that got GOAWAY');

    const retried = await get(port, '/goaway-retry/');
    assert.equal(retried.status, 200, show(retried));
    const u = up('goaway-retry');
    assert.equal(u.conns.length, 2, 'the retry went on a new connection');
    assert.equal(u.conns[0]!.frames.filter((f) => f.type === HEADERS).length, 1, 'nothing more on the connection after GOAWAY');
    await stillServing('goaway-retry');
  });

  test('13. a 1xx (:status 100) before the final 200: the client gets the 200', async () => {
    const r = await get(port, '/informational/');
    assert.equal(r.status, 200, show(r));
    assert.equal(r.body.toString(), 'ok');
    assert.ok(r.complete);
    assert.deepEqual(up('informational').conns[0]!.resets(1), []);
    await stillServing('informational');
  });

  test('14. PUSH_PROMISE after SETTINGS_ENABLE_PUSH 0: GOAWAY PROTOCOL_ERROR, 5xx for that request, the next one 200 on a new connection', async () => {
    const r = await get(port, '/push/');
    assert.ok(is5xx(r), show(r));
    const u = up('push');
    const c = u.conns[0]!;
    assert.equal(c.settings.get(SETTINGS_ENABLE_PUSH), 0);
    assert.ok(await c.until(() => c.closed), 'the connection was closed');
    assert.equal(hex(c.goawayCode() ?? -1), hex(PROTOCOL_ERROR), 'GOAWAY code');
    await stillServing('push');
    assert.equal(u.conns.length, 2);
  });

  test('15. a 200 KB response sent only as the client windows allow: every byte arrives (the client re-opens its windows)', async () => {
    const r = await get(port, '/large/');
    const u = up('large');
    assert.deepEqual(u.errors.map((e) => e.message), []);
    assert.equal(r.status, 200, show(r));
    assert.ok(r.complete);
    assert.equal(r.body.length, BIG.length);
    assert.ok(r.body.equals(BIG), 'the body arrived intact');
    const c = u.conns[0]!;
    assert.ok(c.frames.some((f) => f.type === WINDOW_UPDATE && f.stream === 1), 'the stream window was re-opened');
    assert.deepEqual(c.resets(1), []);
    await stillServing('large');
  });

  test('16. DATA past the stream window while the proxy is not reading: RST_STREAM FLOW_CONTROL_ERROR, a cut-off response, the proxy keeps serving', async () => {
    // A downstream client that reads nothing, so the proxy pauses the upstream stream and stops
    // re-opening its window; only then can the server overrun it.
    const sock = net.connect(port, '127.0.0.1');
    sock.on('error', () => {});
    sock.pause();
    try {
      sock.write('GET /flood/ HTTP/1.1\r\nhost: test\r\n\r\n');
      const u = up('flood');
      await until(() => u.requests() === 1, 'the request reached the server');
      const c = u.conns[0]!;
      await until(() => c.resets(1).length > 0 || c.goawayCode() !== undefined || u.errors.length > 0, 'the proxy reset the overrun stream');
      assert.deepEqual(u.errors.map((e) => e.message), []);
      // RFC 9113 6.9.1: a stream error (or a connection error) of type FLOW_CONTROL_ERROR.
      const code = c.resets(1)[0] ?? c.goawayCode();
      assert.equal(hex(code ?? -1), hex(FLOW_CONTROL_ERROR));

      const got: Buffer[] = [];
      const ended = new Promise<boolean>((resolve) => {
        const t = setTimeout(() => resolve(false), WAIT_MS);
        sock.on('close', () => (clearTimeout(t), resolve(true)));
      });
      sock.on('data', (d: Buffer) => got.push(d));
      sock.resume();
      assert.ok(await ended, 'the proxy closed the downstream connection of the reset response');
      const raw = Buffer.concat(got);
      const headEnd = raw.indexOf('\r\n\r\n');
      assert.ok(headEnd > 0, 'the response head reached the client');
      const head = raw.subarray(0, headEnd).toString('latin1');
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1]);
      if (status !== 200) assert.ok(status >= 500 && status < 600, head);
      else {
        const cl = /\r\ncontent-length: *(\d+)/i.exec(head);
        const body = raw.length - headEnd - 4;
        if (cl) assert.ok(body < Number(cl[1]), `${body} body bytes of ${cl[1]}: the response must look cut off`);
        else assert.ok(!raw.subarray(-5).equals(Buffer.from('0\r\n\r\n')), 'a chunked response must not end with its last chunk');
      }
    } finally {
      sock.destroy();
    }
    await stillServing('flood');
  });

  test(
    'a connection-level protocol error (bad HPACK, PUSH_PROMISE) is reset reason "protocol error", as Envoy names it',
    async () => {
      for (const name of ['bad-hpack-reason', 'push-reason']) {
        const r = await get(port, `/${name}/`);
        assert.equal(r.status, 503, show(r));
        assert.match(r.body.toString(), /reset reason: protocol error$/, `${name}: ${show(r)}`);
        await stillServing(name);
      }
    },
  );

  test(
    'upstream_cx_protocol_error counts malformed responses and connection errors on their own cluster; refusals, resets and a NO_ERROR GOAWAY do not',
    async () => {
      // Each of these clusters' servers broke the protocol in an earlier test of this file (they run in order).
      const count = (name: string) => proxy.stats.get(`cluster.${name}.upstream_cx_protocol_error`) ?? 0;
      for (const name of ['no-status', 'upper-name', 'path-pseudo', 'connection-close', 'short-body', 'data-first', 'bad-hpack', 'bad-hpack-reason', 'push-reason']) {
        assert.ok(count(name) >= 1, `${name}: ${count(name)}`);
      }
      for (const name of ['baseline', 'trailers', 'refused', 'refused-retry', 'internal-reset', 'goaway', 'goaway-retry', 'informational']) {
        assert.equal(count(name), 0, name);
      }
    },
  );

  test(
    'a malformed response is flagged UPE (upstream protocol error) in the access log, as Envoy flags it',
    async () => {
      const r = await get(port, '/no-status-flag/');
      assert.equal(r.status, 503, show(r));
      await until(() => flagsOf('/no-status-flag/') !== undefined, 'the request completed');
      assert.deepEqual(flagsOf('/no-status-flag/'), ['UPE']);
    },
  );
});
