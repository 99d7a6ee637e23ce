/**
 * The ADS server writes a response's parts (a shared body among them) onto the gRPC stream
 * without joining them (src/xds/server/grpc_parts.ts). This needs grpc-js's server call as
 * 1.14 shapes it: the first test fails if the installed grpc-js stops matching, so an upgrade
 * cannot quietly bring back two copies of every multi-megabyte response per proxy.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { GRPC_PREFIX, joinParts, partsWriter, type PartsWriter } from '../../src/xds/server/grpc_parts.ts';
import { rawBidiMethod } from '../helpers/grpc_raw.ts';

const METHOD = rawBidiMethod('/test.Parts/Chat');

/** A server whose handler writes each request's instructions with `partsWriter`; resolves with a client. */
async function serve(serverOpts: grpc.ServerOptions, onWrite: (w: PartsWriter | undefined, req: Buffer, call: grpc.ServerDuplexStream<Buffer, Buffer>) => void) {
  const server = new grpc.Server(serverOpts);
  server.addService({ Chat: METHOD }, {
    Chat: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => {
      const w = partsWriter(call);
      call.on('data', (req: Buffer) => onWrite(w, req, call));
      call.on('end', () => call.end());
    },
  });
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
  const Client = grpc.makeGenericClientConstructor({ Chat: METHOD }, 'Parts');
  const client = new Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as unknown as { Chat(): grpc.ClientDuplexStream<Buffer, Buffer>; close(): void };
  return { client, close: () => (client.close(), server.forceShutdown()) };
}

function head(text: string): Buffer {
  return Buffer.concat([Buffer.alloc(GRPC_PREFIX), Buffer.from(text)]);
}

test('with the installed grpc-js, parts go out as one message each, in order, and a shared body is not touched', async () => {
  const shared = Buffer.alloc(3 * 1024 * 1024, 'b'); // larger than one HTTP/2 window: flow control applies
  const before = Buffer.from(shared);
  let found = true;
  const { client, close } = await serve({}, (w, req, call) => {
    if (!w) {
      found = false;
      call.end();
      return;
    }
    const n = req.toString();
    w([head(`<${n}:`), shared, Buffer.from(`:${n}>`)], () => {});
  });
  try {
    const stream = client.Chat();
    const got: Buffer[] = [];
    const done = new Promise<void>((resolve, reject) => {
      stream.on('data', (m: Buffer) => {
        got.push(m);
        if (got.length === 3) stream.end();
      });
      stream.on('error', reject);
      stream.on('end', resolve);
    });
    for (const n of ['1', '2', '3']) stream.write(Buffer.from(n));
    await done;
    assert.ok(found, 'partsWriter found no grpc-js server call of the expected shape: responses would be copied twice per proxy (see src/xds/server/grpc_parts.ts)');
    assert.deepEqual(
      got.map((m) => [m.length, m.subarray(0, 3).toString(), m.subarray(m.length - 3).toString()]),
      ['1', '2', '3'].map((n) => [shared.length + 6, `<${n}:`, `:${n}>`]),
    );
    assert.ok(got.every((m) => m.subarray(3, m.length - 3).equals(shared)));
    assert.ok(shared.equals(before), 'the shared body was written to');
  } finally {
    close();
  }
});

test('a message over the server\'s send limit ends the call with RESOURCE_EXHAUSTED, as grpc-js does', async () => {
  const { client, close } = await serve({ 'grpc.max_send_message_length': 1000 }, (w) => w!([head('x'), Buffer.alloc(2000)], () => assert.fail('no callback for a refused message')));
  try {
    const stream = client.Chat();
    const status = await new Promise<grpc.ServiceError>((resolve) => {
      stream.on('error', resolve);
      stream.on('data', () => assert.fail('no message expected'));
      stream.write(Buffer.from('go'));
    });
    assert.equal(status.code, grpc.status.RESOURCE_EXHAUSTED);
    assert.match(status.details, /larger than max \(2001 vs\. 1000\)/);
  } finally {
    close();
  }
});

test('joinParts (the fallback through grpc-js\'s public write) is the message without the prefix room', () => {
  assert.equal(joinParts([head('ab'), Buffer.from('cd')]).toString(), 'abcd');
  assert.equal(joinParts([head('abc')]).toString(), 'abc');
});
