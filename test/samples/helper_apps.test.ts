// The small helper apps the mesh tests lean on: httpbin, echo, tcp-echo and grpc-echo.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import * as echo from '../../samples/echo/main.ts';
import * as grpcEcho from '../../samples/grpc-echo/main.ts';
import * as httpbin from '../../samples/httpbin/main.ts';
import * as tcpEcho from '../../samples/tcp-echo/main.ts';
import { LOOPBACK, quiet } from './helpers.ts';

const base = { host: LOOPBACK, port: 0, log: quiet, env: {} };

test('httpbin: /headers in Header-Case, /ip, /get, /status, /delay, /anything, /user-agent', async () => {
  const app = await httpbin.start(base);
  const url = `http://127.0.0.1:${app.port}`;
  try {
    const h = (await (await fetch(`${url}/headers`, { headers: { 'x-b3-traceid': 'abc', 'end-user': 'jason', 'user-agent': 'curl/8' } })).json()) as any;
    assert.equal(h.headers['X-B3-Traceid'], 'abc');
    assert.equal(h.headers['End-User'], 'jason');
    assert.equal(h.headers['Host'], `127.0.0.1:${app.port}`);
    assert.equal(((await (await fetch(`${url}/ip`)).json()) as any).origin, '127.0.0.1');
    const g = (await (await fetch(`${url}/get?a=1&b=2&b=3`)).json()) as any;
    assert.deepEqual(g.args, { a: '1', b: ['2', '3'] });
    assert.equal(g.url, `http://127.0.0.1:${app.port}/get?a=1&b=2&b=3`);
    assert.equal((await fetch(`${url}/status/418`)).status, 418);
    assert.equal((await fetch(`${url}/status/503`)).status, 503);
    const t0 = Date.now();
    assert.equal((await fetch(`${url}/delay/1`)).status, 200);
    assert.ok(Date.now() - t0 >= 950);
    const any = (await (await fetch(`${url}/anything/x?q=1`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"k":2}' })).json()) as any;
    assert.equal(any.method, 'POST');
    assert.deepEqual(any.json, { k: 2 });
    assert.deepEqual(any.args, { q: '1' });
    assert.equal(((await (await fetch(`${url}/user-agent`, { headers: { 'user-agent': 'tester/1' } })).json()) as any)['user-agent'], 'tester/1');
    const rh = await fetch(`${url}/response-headers?x-custom=yes`);
    assert.equal(rh.headers.get('x-custom'), 'yes');
  } finally {
    await app.close();
  }
});

test('echo: request described in JSON, x-served-by names the pod', async () => {
  const app = await echo.start({ ...base, version: 'v2', podName: 'echo-v2-abc' });
  try {
    const res = await fetch(`http://127.0.0.1:${app.port}/some/path?x=1`, { method: 'PUT', headers: { 'x-test': 'yes' }, body: 'hello' });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('x-served-by'), 'echo-v2-abc');
    const body = (await res.json()) as any;
    assert.equal(body.method, 'PUT');
    assert.equal(body.path, '/some/path');
    assert.deepEqual(body.query, { x: '1' });
    assert.equal(body.headers['x-test'], 'yes');
    assert.equal(body.body, 'hello');
    assert.equal(body.version, 'v2');
    assert.equal(body.pod, 'echo-v2-abc');
  } finally {
    await app.close();
  }
});

test('tcp-echo: each line comes back with the prefix', async () => {
  const app = await tcpEcho.start({ ...base, prefix: 'hello' });
  try {
    const reply = await new Promise<string>((resolve, reject) => {
      const s = connect(app.port, LOOPBACK);
      let got = '';
      s.setEncoding('utf8');
      s.on('data', (c: string) => (got += c));
      s.on('end', () => resolve(got));
      s.on('error', reject);
      s.write('world\n');
      s.end('second');
    });
    assert.equal(reply, 'hello world\nhello second\n');
  } finally {
    await app.close();
  }
});

test('grpc-echo: unary and bidirectional streaming, with server identity and metadata', async () => {
  const app = await grpcEcho.start({ ...base, version: 'v3', podName: 'grpc-echo-v3-xyz' });
  const pkg = grpcEcho.loadEchoPackage();
  const client = new pkg.echo.EchoService(`127.0.0.1:${app.port}`, grpc.credentials.createInsecure());
  try {
    const md = new grpc.Metadata();
    md.set('x-user', 'jason');
    const unary = await new Promise<grpcEcho.EchoResponse>((resolve, reject) => client.Echo({ message: 'hi' }, md, (err: Error | null, r: grpcEcho.EchoResponse) => (err ? reject(err) : resolve(r))));
    assert.equal(unary.message, 'hi');
    assert.equal(unary.version, 'v3');
    assert.equal(unary.hostname, 'grpc-echo-v3-xyz');
    assert.equal(unary.metadata['x-user'], 'jason');

    const call = client.EchoStream(md);
    const got: grpcEcho.EchoResponse[] = [];
    const done = new Promise<void>((resolve, reject) => {
      call.on('data', (r: grpcEcho.EchoResponse) => got.push(r));
      call.on('end', resolve);
      call.on('error', reject);
    });
    for (const m of ['a', 'b', 'c']) call.write({ message: m });
    call.end();
    await done;
    assert.deepEqual(got.map((r) => [r.message, r.sequence, r.hostname]), [['a', 0, 'grpc-echo-v3-xyz'], ['b', 1, 'grpc-echo-v3-xyz'], ['c', 2, 'grpc-echo-v3-xyz']]);
    assert.equal(got[0]!.metadata['x-user'], 'jason');
  } finally {
    client.close();
    await app.close();
  }
});
