/**
 * The upstream HTTP/1.1 response parser on the wire: a raw upstream answers with exact bytes.
 * Malformed responses (what llhttp in strict mode rejects) end the request with a protocol
 * error and never leave the connection in the pool; well-formed framings (chunked with
 * trailers, close-delimited, HEAD / 204 / 304 without a body, 1xx before the final response)
 * are delivered whole, hop-by-hop fields removed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makePool, rawUpstream, send } from './upstream_http1_helpers.ts';

const BAD: [string, string][] = [
  ['status line without version', 'HTTP 200 OK\r\ncontent-length: 0\r\n\r\n'],
  ['HTTP/1.2', 'HTTP/1.2 200 OK\r\ncontent-length: 0\r\n\r\n'],
  ['two-digit status', 'HTTP/1.1 20 OK\r\ncontent-length: 0\r\n\r\n'],
  ['bare LF line ends', 'HTTP/1.1 200 OK\ncontent-length: 0\n\n'],
  ['obs-fold', 'HTTP/1.1 200 OK\r\nx-a: 1\r\n  folded\r\ncontent-length: 0\r\n\r\n'],
  ['space before colon', 'HTTP/1.1 200 OK\r\nx-a : 1\r\ncontent-length: 0\r\n\r\n'],
  ['NUL in a value', 'HTTP/1.1 200 OK\r\nx-a: a\0b\r\ncontent-length: 0\r\n\r\n'],
  ['header line without colon', 'HTTP/1.1 200 OK\r\nnocolon\r\ncontent-length: 0\r\n\r\n'],
  ['Content-Length and Transfer-Encoding', 'HTTP/1.1 200 OK\r\ncontent-length: 3\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n'],
  ['duplicate Content-Length', 'HTTP/1.1 200 OK\r\ncontent-length: 3\r\ncontent-length: 3\r\n\r\nabc'],
  ['Content-Length list', 'HTTP/1.1 200 OK\r\ncontent-length: 3, 3\r\n\r\nabc'],
  ['signed Content-Length', 'HTTP/1.1 200 OK\r\ncontent-length: +3\r\n\r\nabc'],
  ['chunked not last', 'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked, gzip\r\n\r\n3\r\nabc\r\n0\r\n\r\n'],
  ['bad chunk size', 'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n'],
  ['chunk size with a space', 'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3 \r\nabc\r\n0\r\n\r\n'],
  ['chunk size overflow', 'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nfffffffffffffffff\r\nabc\r\n0\r\n\r\n'],
  ['chunk data without CRLF', 'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabcX\r\n0\r\n\r\n'],
  ['bare LF after chunk size', 'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\nabc\r\n0\r\n\r\n'],
  ['101 to a request that did not ask to upgrade', 'HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: upgrade\r\n\r\n'],
  ['head over 16 KiB', `HTTP/1.1 200 OK\r\nx-big: ${'a'.repeat(17 * 1024)}\r\ncontent-length: 0\r\n\r\n`],
];

test('malformed responses are protocol errors, counted (upstream_cx_protocol_error), and the connection is not reused', async () => {
  let reply = '';
  const up = await rawUpstream((r) => r.socket.write(reply));
  const { pool, stats } = makePool(up.port);
  try {
    for (const [i, [name, bytes]] of BAD.entries()) {
      reply = bytes;
      const o = await send(pool);
      assert.equal(o.error?.reason, 'protocol error', `${name}: ${JSON.stringify(o)}`);
      assert.match(o.error!.code!, /^HPE_/, name);
      assert.equal(stats.values.protocolError, i + 1, `${name}: counted once`);
      const bad = up.requests.at(-1)!.conn;
      reply = 'HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok';
      const ok = await send(pool);
      assert.equal(ok.body, 'ok', name);
      assert.notEqual(up.requests.at(-1)!.conn, bad, `${name}: the failed connection was not reused`);
    }
    assert.equal(stats.values.protocolError, BAD.length, 'the well-formed answers were not counted');
  } finally {
    await pool.destroy();
    await up.close();
  }
});

test('chunked body with extensions and trailers; a head split over many writes', async () => {
  const up = await rawUpstream((r) => {
    const bytes = 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-Up: 1\r\nConnection: keep-alive\r\nKeep-Alive: timeout=30\r\n\r\n5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\ngrpc-status: 0\r\nGrpc-Message: fine\r\n\r\n';
    if (r.n === 1) {
      // One byte per write: every state of the parser sees a boundary.
      let i = 0;
      const tick = () => {
        if (i < bytes.length) r.socket.write(bytes[i++], 'latin1', () => setImmediate(tick));
      };
      tick();
    } else r.socket.write(bytes);
  });
  const { pool } = makePool(up.port);
  try {
    for (let k = 0; k < 2; k++) {
      const o = await send(pool);
      assert.equal(o.status, 200);
      assert.equal(o.body, 'hello world');
      assert.deepEqual([...o.headers!], [['x-up', '1']], 'framing and hop-by-hop fields removed, names lower-cased');
      assert.deepEqual([...o.trailers!], [['grpc-status', '0'], ['grpc-message', 'fine']]);
    }
    assert.equal(up.connections(), 1, 'kept alive after a chunked response');
  } finally {
    await pool.destroy();
    await up.close();
  }
});

test('close-delimited, HEAD, 204, 304, HTTP/1.0 and 1xx responses', async () => {
  const up = await rawUpstream((r) => {
    const path = r.head.split(' ')[1];
    const s = r.socket;
    if (path === '/close') return void s.end('HTTP/1.1 200 OK\r\nx: y\r\n\r\nuntil the end');
    if (path === '/head') return void s.write('HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n');
    if (path === '/204') return void s.write('HTTP/1.1 204 No Content\r\n\r\n');
    if (path === '/304') return void s.write('HTTP/1.1 304 Not Modified\r\ncontent-length: 10\r\n\r\n');
    if (path === '/10') return void s.write('HTTP/1.0 200 OK\r\ncontent-length: 2\r\n\r\nok');
    if (path === '/1xx') return void s.write('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nlink: </a>\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nfinal');
    s.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok');
  });
  const { pool } = makePool(up.port);
  try {
    const close = await send(pool, { path: '/close' });
    assert.equal(close.body, 'until the end');
    assert.equal(close.error, undefined);
    const head = await send(pool, { method: 'HEAD', path: '/head' });
    assert.deepEqual([head.status, head.body, head.headers!.get('content-length')], [200, '', '100']);
    const c = up.connections();
    assert.deepEqual([(await send(pool, { path: '/204' })).status, (await send(pool, { path: '/304' })).status], [204, 304]);
    assert.equal((await send(pool, { path: '/x' })).body, 'ok');
    assert.equal(up.connections(), c + 1, '204 and 304 end without a body: the connection stays usable');
    assert.equal((await send(pool, { path: '/10' })).body, 'ok');
    assert.equal((await send(pool, { path: '/x' })).body, 'ok');
    assert.equal(up.connections(), c + 2, 'an HTTP/1.0 response without keep-alive closes the connection');
    const info = await send(pool, { path: '/1xx' });
    assert.deepEqual([info.status, info.body], [200, 'final'], '1xx responses are skipped');
  } finally {
    await pool.destroy();
    await up.close();
  }
});

test('a connection closed mid-body is a connection termination, not a complete response', async () => {
  const up = await rawUpstream((r) => r.socket.end('HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nshort'));
  const { pool } = makePool(up.port);
  try {
    const o = await send(pool);
    assert.equal(o.status, 200);
    assert.equal(o.error?.reason, 'connection termination');
  } finally {
    await pool.destroy();
    await up.close();
  }
});
