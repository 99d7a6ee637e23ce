/**
 * The upstream HTTP/1.1 pool on the wire, seen from a raw upstream: the exact request bytes
 * (head in one piece, content-length or chunked framing, no header injection), keep-alive
 * reuse and its limits (max_requests_per_connection, Connection: close, the server's Keep-Alive
 * hint, idle timeout), transparent retry of a request a stale kept-alive connection lost,
 * queueing under max connections, early responses, upgrades, connect failures and timeouts,
 * aborts, and graceful close.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { BodySource, type UpstreamRequestOwner } from '../../src/proxy/http/router/upstream_request.ts';
import { closeServer, listen, until } from './helpers.ts';
import { makePool, rawUpstream, Recorder, send } from './upstream_http1_helpers.ts';
import { refusedPort } from '../helpers/refused_port.ts';

const OK = 'HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok';

function bodySource(): { body: BodySource; pulls: () => number } {
  let pulls = 0;
  const owner = { onBodyPull: () => void pulls++ } as unknown as UpstreamRequestOwner;
  return { body: new BodySource(owner), pulls: () => pulls };
}

test('request bytes: head with Host first, body framing by what is known; one kept-alive connection', async () => {
  const up = await rawUpstream((r) => r.socket.write(OK));
  const { pool, stats } = makePool(up.port);
  try {
    await send(pool, { path: '/a?q=1', headers: ['x-a', '1', 'x-m', 'one', 'x-m', 'two', 'host', 'svc:80'] });
    await send(pool, { method: 'POST', headers: ['host', 'svc', 'content-length', '3'], body: Buffer.from('abc') });
    const s1 = bodySource();
    const chunked = send(pool, { method: 'POST', headers: ['host', 'svc'], body: s1.body });
    s1.body.push(Buffer.from('hello '));
    setImmediate(() => {
      s1.body.push(Buffer.from('world'));
      s1.body.push(null);
    });
    await chunked;
    const s2 = bodySource();
    s2.body.push(Buffer.from('12'));
    const sized = send(pool, { method: 'PUT', headers: ['host', 'svc', 'content-length', '4'], body: s2.body });
    setImmediate(() => {
      s2.body.push(Buffer.from('34'));
      s2.body.push(null);
    });
    await sized;
    const s3 = bodySource();
    const empty = send(pool, { method: 'POST', headers: ['host', 'svc'], body: s3.body });
    s3.body.push(null);
    await empty;
    const t = up.requests.map((r) => r.text);
    assert.equal(t[0], 'GET /a?q=1 HTTP/1.1\r\nhost: svc:80\r\nconnection: keep-alive\r\nx-a: 1\r\nx-m: one\r\nx-m: two\r\n\r\n');
    assert.equal(t[1], 'POST / HTTP/1.1\r\nhost: svc\r\nconnection: keep-alive\r\ncontent-length: 3\r\n\r\nabc');
    assert.equal(t[2], 'POST / HTTP/1.1\r\nhost: svc\r\nconnection: keep-alive\r\ntransfer-encoding: chunked\r\n\r\n6\r\nhello \r\n5\r\nworld\r\n0\r\n\r\n');
    assert.equal(t[3], 'PUT / HTTP/1.1\r\nhost: svc\r\nconnection: keep-alive\r\ncontent-length: 4\r\n\r\n1234');
    assert.equal(t[4], 'POST / HTTP/1.1\r\nhost: svc\r\nconnection: keep-alive\r\ncontent-length: 0\r\n\r\n');
    assert.equal(up.connections(), 1);
    assert.deepEqual([stats.values.total, stats.values.active, pool.active], [1, 1, 0]);
  } finally {
    await pool.destroy();
    await up.close();
  }
  assert.equal(stats.values.active, 0);
});

test('a header value with CR LF never reaches the wire; the request fails alone', async () => {
  const up = await rawUpstream((r) => r.socket.write(OK));
  const { pool } = makePool(up.port);
  try {
    const bad = await send(pool, { headers: ['host', 'svc', 'x-a', 'v\r\nx-injected: 1'] });
    assert.equal(bad.error?.reason, 'connection termination');
    assert.equal(bad.error?.code, 'UND_ERR_INVALID_ARG');
    const badName = await send(pool, { headers: ['host', 'svc', 'x a', 'v'] });
    assert.equal(badName.error?.code, 'UND_ERR_INVALID_ARG');
    assert.equal((await send(pool)).body, 'ok');
    assert.equal(up.requests.length, 1);
    assert.ok(!up.requests[0].text.includes('injected'));
  } finally {
    await pool.destroy();
    await up.close();
  }
});

test('max_requests_per_connection, Connection: close, and a Keep-Alive hint too short to use', async () => {
  let reply = OK;
  const up = await rawUpstream((r) => r.socket.write(reply));
  const two = makePool(up.port, { maxRequests: 2 });
  const one = makePool(up.port, { maxRequests: 1 });
  try {
    for (let i = 0; i < 4; i++) await send(two.pool);
    assert.deepEqual(up.requests.map((r) => r.conn), [1, 1, 2, 2]);
    assert.deepEqual(up.requests.map((r) => /connection: ([\w-]+)/.exec(r.head)![1]), ['keep-alive', 'close', 'keep-alive', 'close']);
    for (let i = 0; i < 2; i++) await send(one.pool);
    assert.deepEqual(up.requests.slice(4).map((r) => [r.conn, /connection: ([\w-]+)/.exec(r.head)![1]]), [[3, 'close'], [4, 'close']]);
    reply = 'HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok';
    await send(two.pool);
    reply = 'HTTP/1.1 200 OK\r\ncontent-length: 2\r\nkeep-alive: timeout=1\r\n\r\nok';
    await send(two.pool);
    reply = OK;
    await send(two.pool);
    assert.deepEqual(up.requests.slice(6).map((r) => r.conn), [5, 6, 7], 'neither connection was reused');
  } finally {
    await Promise.all([two.pool.destroy(), one.pool.destroy()]);
    await up.close();
  }
});

test('a kept-alive connection the server closed is not used; one lost as the request was written is retried when idempotent', async () => {
  let mode = 'answer';
  const up = await rawUpstream((r) => {
    if (r.n > 1 && mode === 'drop') return void r.socket.destroy();
    r.socket.write(OK);
    if (mode === 'close-after') setImmediate(() => r.socket.destroy());
  });
  const { pool, stats } = makePool(up.port);
  try {
    mode = 'close-after';
    assert.equal((await send(pool)).body, 'ok');
    await until(() => stats.values.active === 0, 'the pool saw the idle connection close');
    mode = 'answer';
    assert.equal((await send(pool)).body, 'ok', 'a new connection serves the next request');
    mode = 'drop';
    const get = await send(pool);
    assert.equal(get.body, 'ok', `GET retried on a fresh connection: ${JSON.stringify(get.error)}`);
    assert.equal((await send(pool, { method: 'PUT', body: Buffer.from('x') })).body, 'ok');
    const post = await send(pool, { method: 'POST', body: Buffer.from('x') });
    assert.equal(post.error?.reason, 'connection termination', 'a POST is not sent twice');
  } finally {
    await pool.destroy();
    await up.close();
  }
});

test('requests queue when every allowed connection is busy, in order', async () => {
  const held: net.Socket[] = [];
  const up = await rawUpstream((r) => held.push(r.socket));
  const { pool } = makePool(up.port, { maxConnections: 1 });
  try {
    const all = [1, 2, 3].map((i) => send(pool, { path: `/${i}` }));
    await until(() => held.length === 1, 'first request arrived');
    assert.equal(pool.active, 3);
    for (let i = 0; i < 3; i++) {
      await until(() => held.length === i + 1, `request ${i + 1}`);
      held[i].write(`HTTP/1.1 200 OK\r\ncontent-length: 1\r\n\r\n${i + 1}`);
    }
    assert.deepEqual((await Promise.all(all)).map((o) => o.body), ['1', '2', '3']);
    assert.deepEqual(up.requests.map((r) => r.head.split(' ')[1]), ['/1', '/2', '/3']);
    assert.equal(up.connections(), 1);
    assert.equal(pool.active, 0);
  } finally {
    await pool.destroy();
    await up.close();
  }
});

test('an early response ends the exchange; the rest of the body is dropped and the connection closed', async () => {
  const server = net.createServer((s) => {
    s.on('error', () => {});
    s.once('data', () => s.write('HTTP/1.1 413 Payload Too Large\r\ncontent-length: 3\r\n\r\nbig'));
  });
  const port = await listen(server);
  const { pool, stats } = makePool(port);
  try {
    const { body } = bodySource();
    const done = send(pool, { method: 'POST', headers: ['host', 'svc', 'content-length', '1000'], body });
    body.push(Buffer.from('x'.repeat(100)));
    const o = await done;
    assert.deepEqual([o.status, o.body, o.error], [413, 'big', undefined]);
    assert.equal(body.push(Buffer.from('more')), true, 'later chunks are accepted and dropped');
    await until(() => stats.values.active === 0, 'connection closed');
  } finally {
    await pool.destroy();
    await closeServer(server);
  }
});

test('a 101 hands the socket over with the bytes that followed the head', async () => {
  const server = net.createServer((s) => {
    s.on('error', () => {});
    s.once('data', (d) => {
      assert.match(d.toString(), /^GET \/ws HTTP\/1\.1\r\nhost: svc\r\nconnection: upgrade\r\nupgrade: websocket\r\n/);
      s.write('HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\n\r\nfirst');
      s.on('data', (x) => s.write(x));
    });
  });
  const port = await listen(server);
  const { pool, stats } = makePool(port);
  try {
    const o = await send(pool, { path: '/ws', headers: ['host', 'svc'], upgrade: 'websocket' });
    assert.equal(o.status, 101);
    assert.equal(o.headers!.get('upgrade'), 'websocket');
    const sock = o.upgrade!;
    let got = '';
    sock.on('data', (d: Buffer) => (got += d));
    sock.resume(); // handed over paused: the new owner pipes or resumes it
    await until(() => got === 'first', 'bytes after the 101 head');
    sock.write('echo');
    await until(() => got === 'firstecho', 'the tunnel carries bytes both ways');
    assert.equal(stats.values.active, 0, 'an upgraded connection leaves the pool');
    sock.destroy();
  } finally {
    await pool.destroy();
    await closeServer(server);
  }
});

test('connect failure fails every waiting request; a connect timeout is counted', async () => {
  const closedPort = await refusedPort();
  const refused = makePool(closedPort);
  const silent = net.createServer((s) => s.on('error', () => {}));
  const silentPort = await listen(silent);
  // TLS to a server that never answers the handshake: only the connect timeout ends it.
  const timeout = makePool(silentPort, { connectTimeoutMs: 200, connect: { host: '127.0.0.1', port: silentPort, tls: { rejectUnauthorized: false } } });
  try {
    const os = await Promise.all([send(refused.pool), send(refused.pool)]);
    assert.deepEqual(os.map((o) => [o.error?.reason, o.error?.code]), [['connection failure', 'ECONNREFUSED'], ['connection failure', 'ECONNREFUSED']]);
    assert.ok(refused.stats.values.connectFail >= 1);
    assert.deepEqual([refused.stats.values.total, refused.pool.active], [0, 0]);
    const t = await send(timeout.pool);
    assert.deepEqual([t.error?.reason, t.error?.code], ['connection failure', 'UND_ERR_CONNECT_TIMEOUT']);
    assert.deepEqual([timeout.stats.values.connectTimeout, timeout.stats.values.connectFail], [1, 1]);
  } finally {
    await Promise.all([refused.pool.destroy(), timeout.pool.destroy()]);
    await closeServer(silent);
  }
});

test('abort closes the connection; backpressure pauses and resumes the response', async () => {
  const held: net.Socket[] = [];
  const big = 'y'.repeat(256 * 1024);
  const up = await rawUpstream((r) => {
    if (r.head.startsWith('GET /hold')) return void held.push(r.socket);
    r.socket.write(`HTTP/1.1 200 OK\r\ncontent-length: ${big.length}\r\n\r\n${big}`);
  });
  const { pool, stats } = makePool(up.port);
  try {
    const r = new Recorder();
    const pending = send(pool, { path: '/hold' }, r);
    await until(() => held.length === 1, 'request arrived');
    r.abort();
    await until(() => stats.values.active === 0 && pool.active === 0, 'aborted connection closed');
    let paused = false;
    const slow = new Recorder({
      onHeaders: (x) => {
        paused = true;
        x.stream!.pause(x);
        setTimeout(() => x.stream!.resume(x), 50);
      },
    });
    const o = await send(pool, { path: '/big' }, slow);
    assert.ok(paused);
    assert.equal(o.body.length, big.length);
    void pending;
  } finally {
    await pool.destroy();
    await up.close();
  }
});

test('idle timeout closes an unused connection; close() lets in-flight requests finish; destroy() fails them', async () => {
  const held: net.Socket[] = [];
  const up = await rawUpstream((r) => (r.head.startsWith('GET /hold') ? held.push(r.socket) : r.socket.write(OK)));
  const idle = makePool(up.port, { idleTimeoutMs: 100 });
  const graceful = makePool(up.port);
  const hard = makePool(up.port);
  try {
    await send(idle.pool);
    await until(() => idle.stats.values.active === 0, 'the idle connection closed');

    const inflight = send(graceful.pool, { path: '/hold' });
    await until(() => held.length === 1, 'held request arrived');
    graceful.pool.close();
    held[0].write(OK);
    assert.equal((await inflight).body, 'ok');
    await until(() => graceful.stats.values.active === 0, 'retired pool closed its connection');
    assert.equal((await send(graceful.pool)).error?.code, 'UND_ERR_CLOSED');

    const lost = send(hard.pool, { path: '/hold' });
    await until(() => held.length === 2, 'second held request arrived');
    await hard.pool.destroy();
    assert.equal((await lost).error?.reason, 'connection termination');
  } finally {
    await Promise.all([idle.pool.destroy(), graceful.pool.destroy(), hard.pool.destroy()]);
    await up.close();
  }
});
