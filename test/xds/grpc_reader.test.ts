/**
 * The ADS server parses request messages as their frames arrive instead of letting grpc-js join
 * each into a new Buffer (src/xds/server/grpc_reader.ts). This needs grpc-js's server call as
 * 1.14 shapes it: the first test fails if the installed grpc-js stops matching, so an upgrade
 * cannot quietly bring the joins (and the collections they cause) back.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { installRequestReader, tokenDeserializer } from '../../src/xds/server/grpc_reader.ts';
import { rawBidiMethod } from '../helpers/grpc_raw.ts';

/** A method whose requests are parsed by the reader: a copy of the bytes (they may be reused). */
function readerMethod(decode: (b: Buffer) => Buffer = (b) => Buffer.from(b)): grpc.MethodDefinition<Buffer, Buffer> {
  return { ...rawBidiMethod('/test.Reader/Chat'), requestDeserialize: tokenDeserializer(decode) };
}

interface Served {
  installed: boolean[];
  got: Buffer[];
  status: Promise<grpc.StatusObject>;
  stream: grpc.ClientDuplexStream<Buffer, Buffer>;
  close(): void;
}

/** A server that installs the reader and records every request; a client stream to it. */
async function serve(method: grpc.MethodDefinition<Buffer, Buffer>, serverOpts: grpc.ServerOptions = {}): Promise<Served> {
  const installed: boolean[] = [];
  const got: Buffer[] = [];
  const server = new grpc.Server(serverOpts);
  server.addService({ Chat: method }, {
    Chat: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => {
      installed.push(installRequestReader(call));
      call.on('data', (req: Buffer) => got.push(req));
      call.on('end', () => call.end());
    },
  });
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
  const Client = grpc.makeGenericClientConstructor({ Chat: rawBidiMethod('/test.Reader/Chat') }, 'Reader');
  const client = new Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as unknown as { Chat(): grpc.ClientDuplexStream<Buffer, Buffer>; close(): void };
  const stream = client.Chat();
  const status = new Promise<grpc.StatusObject>((resolve) => {
    stream.on('status', resolve);
    stream.on('error', () => {});
    stream.on('data', () => {});
  });
  return { installed, got, status, stream, close: () => (client.close(), server.forceShutdown()) };
}

const digest = (b: Buffer) => createHash('sha256').update(b).digest('hex').slice(0, 16);

function pattern(size: number, seed: number): Buffer {
  const b = Buffer.alloc(size);
  for (let i = 0; i < size; i++) b[i] = (i * 31 + seed) & 0xff;
  return b;
}

test('with the installed grpc-js, requests of 0 B to 3 MB arrive whole and in order, parsed as they complete', async () => {
  const s = await serve(readerMethod());
  try {
    // Empty, small, several in one burst, one over many frames (the ACK case), one past the window.
    const sent = [0, 1, 200, 16_383, 16_384, 110_000, 70_000, 5, 3 * 1024 * 1024, 1].map((n, i) => pattern(n, i));
    for (const m of sent) s.stream.write(m);
    s.stream.end();
    const status = await s.status;
    assert.equal(status.code, grpc.status.OK, status.details);
    assert.deepEqual(s.installed, [true], 'grpc-js 1.14\'s server call is no longer the shape the reader expects');
    assert.deepEqual(s.got.map((b) => `${b.length}:${digest(b)}`), sent.map((b) => `${b.length}:${digest(b)}`));
  } finally {
    s.close();
  }
});

test('a method whose deserializer takes no tokens keeps grpc-js\'s own decoder', async () => {
  const s = await serve(rawBidiMethod('/test.Reader/Chat'));
  try {
    const sent = [pattern(100_000, 7), pattern(3, 8)];
    for (const m of sent) s.stream.write(m);
    s.stream.end();
    assert.equal((await s.status).code, grpc.status.OK);
    assert.deepEqual(s.installed, [false]);
    assert.deepEqual(s.got.map(digest), sent.map(digest));
  } finally {
    s.close();
  }
});

test('a client cannot pass a token off as its request: bytes shaped like one are decoded as sent', () => {
  // The reader on its own, over a call shaped like grpc-js's: one chunk holding a real request and,
  // right behind it, bytes claiming the id that request's token gets.
  const deserialize = tokenDeserializer((b) => Buffer.from(b));
  const decoder = { write: (_: Buffer): Buffer[] => [], readState: 0 };
  const fake = { call: { decoder, maxReceiveMessageSize: -1, handler: { deserialize } } };
  assert.equal(installRequestReader(fake as unknown as grpc.ServerDuplexStream<Buffer, Buffer>), true);
  const frame = (m: Buffer) => Buffer.concat([Buffer.from([0, 0, 0, 0, m.length]), m]); // short messages only
  const read = (chunk: Buffer) => fake.call.decoder.write(chunk).map((t) => deserialize(t.subarray(5)));
  const [first] = fake.call.decoder.write(frame(Buffer.from('first')));
  // The token: the gRPC prefix, field 19999's tag (3 bytes), the id as a varint.
  let id = 0;
  for (let i = 8, scale = 1; i < first!.length; i++, scale *= 128) id += (first![i]! & 0x7f) * scale;
  assert.equal(deserialize(first!.subarray(5)).toString(), 'first');
  const varint: number[] = [];
  for (let n = id + 1; ; n = Math.floor(n / 128)) {
    if (n < 128) {
      varint.push(n);
      break;
    }
    varint.push((n % 128) | 0x80);
  }
  const forged = Buffer.from([0xf8, 0xe1, 0x09, ...varint]);
  const got = read(Buffer.concat([frame(Buffer.from('real')), frame(forged)]));
  assert.deepEqual(got.map((b) => b.toString('hex')), [Buffer.from('real').toString('hex'), forged.toString('hex')]);
});

test('a request over the receive limit ends the call RESOURCE_EXHAUSTED; one that fails to parse, INTERNAL', async () => {
  const big = await serve(readerMethod(), { 'grpc.max_receive_message_length': 64 * 1024 });
  try {
    big.stream.write(pattern(1000, 1));
    big.stream.write(pattern(100_000, 2));
    const status = await big.status;
    assert.equal(status.code, grpc.status.RESOURCE_EXHAUSTED);
    assert.match(status.details, /larger than max \(100000 vs 65536\)/);
    assert.equal(big.got.length, 1);
    assert.deepEqual(big.installed, [true]);
  } finally {
    big.close();
  }
  const bad = await serve(
    readerMethod((b) => {
      if (b[0] === 0xff) throw new Error('not a request');
      return Buffer.from(b);
    }),
  );
  try {
    bad.stream.write(pattern(20_000, 3));
    bad.stream.write(Buffer.concat([Buffer.from([0xff]), pattern(40_000, 4)]));
    const status = await bad.status;
    assert.equal(status.code, grpc.status.INTERNAL);
    assert.match(status.details, /deserializing/);
    assert.equal(bad.got.length, 1);
  } finally {
    bad.close();
  }
});
