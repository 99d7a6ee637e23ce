/**
 * gRPC through the proxy with @grpc/grpc-js on both ends (h2c downstream and upstream): unary and
 * bidirectional streaming with trailing metadata intact, error statuses passed through, and
 * grpc-timeout capped by max_grpc_timeout turning into an upstream timeout.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { hcmConfig, startHcm, type TestProxy } from './harness.ts';

const PROTO = fileURLToPath(new URL('./fixtures/echo.proto', import.meta.url));
const def = protoLoader.loadSync(PROTO, { keepCase: true });
const pkg = grpc.loadPackageDefinition(def) as any;
const Echo = pkg.tsmesh.test.Echo;

describe('gRPC through the proxy', () => {
  let server: grpc.Server;
  let p: TestProxy;
  let client: any;
  before(async () => {
    server = new grpc.Server();
    server.addService(Echo.service, {
      Unary(call: any, cb: any) {
        const req = call.request;
        const md = new grpc.Metadata();
        md.set('x-trailer', 'unary-trailer');
        const reply = () => {
          if (req.fail_code) return cb({ code: req.fail_code, details: 'asked to fail', metadata: md });
          cb(null, { message: `hi ${req.message} via ${call.metadata.get('x-envoy-expected-rq-timeout-ms')[0] ?? '-'}` }, md);
        };
        if (req.delay_ms) setTimeout(reply, req.delay_ms);
        else reply();
      },
      Chat(call: any) {
        call.on('data', (m: any) => call.write({ message: `echo ${m.message}` }));
        call.on('end', () => {
          const md = new grpc.Metadata();
          md.set('x-stream-trailer', 'done');
          call.end(md);
        });
      },
    });
    const upPort = await new Promise<number>((r, j) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, port) => (e ? j(e) : r(port))));
    const rc = {
      name: 'rc',
      virtual_hosts: [
        {
          name: 'v',
          domains: ['*'],
          routes: [
            { match: { prefix: '/tsmesh.test.Echo/Unary', grpc: {} }, route: { cluster: 'grpc', timeout: '10s', max_grpc_timeout: '0.3s' } },
            { match: { prefix: '/', grpc: {} }, route: { cluster: 'grpc', timeout: '0s' } },
          ],
        },
      ],
    };
    p = await startHcm(hcmConfig(rc), [{ name: 'grpc', ports: [upPort], protocol: 'http2' }]);
    client = new Echo(`127.0.0.1:${p.port}`, grpc.credentials.createInsecure());
  });
  after(async () => {
    client.close();
    await p.close();
    server.forceShutdown();
  });

  test('unary call with trailing metadata', async () => {
    const { reply, trailers } = await new Promise<{ reply: any; trailers: grpc.Metadata }>((resolve, reject) => {
      let trailers = new grpc.Metadata();
      const call = client.Unary({ message: 'bob' }, (err: Error | null, reply: any) => (err ? reject(err) : setImmediate(() => resolve({ reply, trailers }))));
      call.on('status', (s: grpc.StatusObject) => (trailers = s.metadata));
    });
    // No grpc-timeout from the client: max_grpc_timeout caps "infinity" at 300 ms.
    assert.equal(reply.message, 'hi bob via 300');
    assert.equal(trailers.get('x-trailer')[0], 'unary-trailer');
  });

  test('error status and message pass through', async () => {
    const err = await new Promise<grpc.ServiceError>((resolve) => client.Unary({ message: 'x', fail_code: grpc.status.NOT_FOUND }, (e: grpc.ServiceError) => resolve(e)));
    assert.equal(err.code, grpc.status.NOT_FOUND);
    assert.equal(err.details, 'asked to fail');
  });

  test('bidirectional streaming keeps order and trailers', async () => {
    const call = client.Chat();
    const got: string[] = [];
    const done = new Promise<grpc.StatusObject>((resolve) => call.on('status', resolve));
    call.on('data', (m: any) => got.push(m.message));
    for (const w of ['a', 'b', 'c']) call.write({ message: w });
    call.end();
    const status = await done;
    assert.equal(status.code, grpc.status.OK);
    assert.deepEqual(got, ['echo a', 'echo b', 'echo c']);
    assert.equal(status.metadata.get('x-stream-trailer')[0], 'done');
  });

  test('grpc-timeout over max_grpc_timeout: the proxy times out (UT) with a gRPC status', async () => {
    const err = await new Promise<grpc.ServiceError>((resolve) => client.Unary({ message: 'slow', delay_ms: 1500 }, { deadline: Date.now() + 5000 }, (e: grpc.ServiceError) => resolve(e)));
    assert.ok(err, 'call must fail');
    assert.equal(err.code, grpc.status.UNAVAILABLE);
    assert.equal(err.details, 'upstream request timeout');
    assert.ok(p.completed.some((c) => c.responseFlags.includes('UT')));
  });
});
