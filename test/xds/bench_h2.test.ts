/**
 * The control-plane bench's simulated Envoys speak gRPC straight on node:http2
 * (bench/lib/ads_h2.ts). Against a real grpc-js server they must see what a grpc-js client sees:
 * every message whole and in order (small ones, and ones far larger than an HTTP/2 frame), their
 * own messages delivered, and a non-OK status as an error.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { openStream } from '../../bench/lib/ads_h2.ts';
import { until } from '../helpers/poll.ts';
import { rawBidiMethod } from '../helpers/grpc_raw.ts';

const METHOD = rawBidiMethod('/test.Echo/Chat');

/** Each request "<n>" is answered with n bytes (a repeating pattern); "fail" ends the call with INVALID_ARGUMENT. */
async function serve(): Promise<{ address: string; close(): void }> {
  const server = new grpc.Server({ 'grpc.max_send_message_length': 64 << 20 });
  server.addService({ Chat: METHOD }, {
    Chat: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => {
      call.on('data', (req: Buffer) => {
        const text = req.toString();
        if (text === 'fail') return call.emit('error', { code: grpc.status.INVALID_ARGUMENT, details: 'no such thing' });
        const n = Number(text);
        call.write(Buffer.from(Array.from({ length: n }, (_, i) => i % 251)));
      });
      call.on('end', () => call.end());
    },
  });
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
  return { address: `127.0.0.1:${port}`, close: () => server.forceShutdown() };
}

const pattern = (n: number) => Buffer.from(Array.from({ length: n }, (_, i) => i % 251));

test('messages of 0 bytes to 6 MB arrive whole and in order', async (t) => {
  const srv = await serve();
  t.after(() => srv.close());
  const s = openStream<string, Buffer>(srv.address, METHOD.path, (r) => Buffer.from(r), (b) => Buffer.from(b));
  const got: Buffer[] = [];
  const errors: Error[] = [];
  s.on('data', (b) => got.push(b));
  s.on('error', (e) => errors.push(e));
  const sizes = [3, 0, 6 * 1024 * 1024, 1, 70_000, 4];
  for (const n of sizes) s.write(String(n));
  await until(() => got.length === sizes.length || errors.length > 0, 'every answer', 20_000);
  assert.deepEqual(errors, []);
  assert.deepEqual(got.map((b) => b.length), sizes);
  for (const [i, n] of sizes.entries()) assert.ok(got[i]!.equals(pattern(n)), `answer ${i} (${n} bytes) intact`);
  s.cancel();
});

test("a status other than OK is the stream's error, with its code and message", async (t) => {
  const srv = await serve();
  t.after(() => srv.close());
  const s = openStream<string, Buffer>(srv.address, METHOD.path, (r) => Buffer.from(r), (b) => b);
  const errors: Error[] = [];
  s.on('data', () => undefined);
  s.on('error', (e) => errors.push(e));
  s.write('2');
  s.write('fail');
  await until(() => errors.length > 0, 'an error', 10_000);
  assert.match(errors[0]!.message, /grpc-status 3: no such thing/);
});

test('a server that is not there is an error, not a hang', async () => {
  const srv = await serve();
  const address = srv.address;
  srv.close();
  const s = openStream<string, Buffer>(address, METHOD.path, (r) => Buffer.from(r), (b) => b);
  const errors: Error[] = [];
  s.on('error', (e) => errors.push(e));
  s.write('1');
  await until(() => errors.length > 0, 'an error', 10_000);
  assert.match(errors[0]!.message, /ECONNREFUSED/);
});
