/**
 * The strict HTTP/1.1 request parser and chunked decoder (src/proxy/http/http1/): every rejection
 * rule with the reason it gives (so removing a rule fails its test), a close valid neighbour of
 * each, the HeaderMap it builds, keep-alive and upgrade semantics, pipelining (pause/resume) and
 * input split at every byte.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { HeaderMap } from '../../src/proxy/interfaces.ts';
import { BODY_CHUNKED, BODY_LENGTH, BODY_NONE, RequestParser, type RequestHandler } from '../../src/proxy/http/http1/request_parser.ts';
import { ChunkedDecoder } from '../../src/proxy/http/http1/chunked.ts';

interface Head {
  method: string;
  minor: number;
  headers: HeaderMap;
  keepAlive: boolean;
  upgrade: boolean;
  expect?: string;
  body: number;
}

interface Events {
  heads: Head[];
  data: string;
  complete: (HeaderMap | undefined)[];
  error?: { status: number; reason: string };
  upgradeRest?: string;
}

const LIMITS = { maxHeaderBytes: 8 * 1024, maxHeaders: 20 };

function recorder(onComplete?: (p: RequestParser) => void): { ev: Events; parser: RequestParser } {
  const ev: Events = { heads: [], data: '', complete: [] };
  const handler: RequestHandler = {
    onRequestHead(p) {
      ev.heads.push({ method: p.method, minor: p.versionMinor, headers: new Map(p.headers), keepAlive: p.keepAlive, upgrade: p.upgrade, expect: p.expect, body: p.bodyKind });
      if (p.upgrade) ev.upgradeRest = (p.stop() ?? Buffer.alloc(0)).toString('latin1');
    },
    onRequestData(c) {
      ev.data += c.toString('latin1');
    },
    onRequestComplete(t) {
      ev.complete.push(t);
      onComplete?.(parser);
    },
    onRequestError(status, reason) {
      assert.equal(ev.error, undefined, 'one error only');
      ev.error = { status, reason };
    },
  };
  const parser = new RequestParser(handler, LIMITS);
  return { ev, parser };
}

/** Parses `input` whole, and again split at every byte; both must agree. */
function parse(input: string): Events {
  const whole = recorder();
  whole.parser.execute(Buffer.from(input, 'latin1'));
  const bytes = recorder();
  for (let i = 0; i < input.length; i++) {
    // After an upgrade the socket's bytes go to the tunnel, not the parser.
    if (bytes.ev.upgradeRest !== undefined) bytes.ev.upgradeRest += input[i];
    else bytes.parser.execute(Buffer.from(input[i], 'latin1'));
  }
  assert.deepEqual(bytes.ev, whole.ev, 'byte-by-byte parse differs from whole parse');
  return whole.ev;
}

function rejects(input: string, status: number, reason: string | RegExp): void {
  const ev = parse(input);
  assert.ok(ev.error, `expected ${status} for ${JSON.stringify(input)}`);
  assert.equal(ev.error.status, status);
  if (typeof reason === 'string') assert.equal(ev.error.reason, reason);
  else assert.match(ev.error.reason, reason);
  assert.equal(ev.complete.length, 0, 'a rejected request never completes');
}

function accepts(input: string): Events {
  const ev = parse(input);
  assert.equal(ev.error, undefined, `unexpected ${JSON.stringify(ev.error)} for ${JSON.stringify(input)}`);
  return ev;
}

const GET = (headers: string) => `GET / HTTP/1.1\r\nHost: a\r\n${headers}\r\n`;
const POST = (headers: string, body = '') => `POST / HTTP/1.1\r\nHost: a\r\n${headers}\r\n${body}`;

describe('request framing (smuggling shapes)', () => {
  test('Content-Length with Transfer-Encoding → 400', () => {
    rejects(POST('Content-Length: 3\r\nTransfer-Encoding: chunked\r\n', '0\r\n\r\n'), 400, 'content-length with transfer-encoding');
    rejects(POST('Transfer-Encoding: chunked\r\nContent-Length: 3\r\n', '0\r\n\r\n'), 400, 'content-length with transfer-encoding');
    accepts(POST('Transfer-Encoding: chunked\r\n', '0\r\n\r\n'));
  });

  test('repeated Content-Length → 400, equal or not', () => {
    rejects(POST('Content-Length: 3\r\nContent-Length: 4\r\n', 'abcd'), 400, 'repeated content-length');
    rejects(POST('Content-Length: 3\r\nContent-Length: 3\r\n', 'abc'), 400, 'repeated content-length');
    assert.equal(accepts(POST('Content-Length: 3\r\n', 'abc')).data, 'abc');
  });

  test('malformed Content-Length → 400', () => {
    for (const v of ['+3', '-1', '0x3', '3,3', '3 3', 'abc', '1234567890123456']) rejects(POST(`Content-Length: ${v}\r\n`, 'abc'), 400, 'invalid content-length');
    rejects(POST('Content-Length:\r\n'), 400, 'invalid content-length');
    assert.equal(accepts(POST('Content-Length:  3 \r\n', 'abc')).data, 'abc');
    assert.equal(accepts(POST('Content-Length: 123456789012345\r\n')).heads[0].body, BODY_LENGTH);
  });

  test('a transfer coding other than a lone "chunked" → 400', () => {
    for (const v of ['gzip', 'chunked, gzip', 'gzip, chunked', 'identity', 'chunked, chunked', 'chunkedx', '']) rejects(POST(`Transfer-Encoding: ${v}\r\n`, '0\r\n\r\n'), 400, 'invalid transfer-encoding');
    rejects(POST('Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n', '0\r\n\r\n'), 400, 'invalid transfer-encoding');
    assert.equal(accepts(POST('Transfer-Encoding: CHUNKED\r\n', '0\r\n\r\n')).heads[0].body, BODY_CHUNKED);
  });

  test('bare LF and bare CR line endings → 400', () => {
    rejects('GET / HTTP/1.1\nHost: a\r\n\r\n', 400, 'bare LF');
    rejects('GET / HTTP/1.1\r\nHost: a\n\r\n', 400, 'bare LF');
    rejects('GET / HTTP/1.1\r\nHost: a\r\n\n', 400, 'bare LF');
    rejects('\nGET / HTTP/1.1\r\nHost: a\r\n\r\n', 400, 'bare LF');
    rejects('GET / HTTP/1.1\r\nHost: a\rX: b\r\n\r\n', 400, 'invalid header value character');
    rejects('GET / HTTP/1.1\r\nHost: a\r\r\n\r\n', 400, 'invalid header value character');
    rejects('GET / HTTP/1.1\r\r\nHost: a\r\n\r\n', 400, 'invalid HTTP version');
    rejects('GET /\r HTTP/1.1\r\nHost: a\r\n\r\n', 400, 'invalid request target');
  });

  test('obs-fold → 400', () => {
    rejects(GET('X-A: b\r\n c\r\n'), 400, 'obs-fold or whitespace before a field name');
    rejects(GET('X-A: b\r\n\tc\r\n'), 400, 'obs-fold or whitespace before a field name');
    rejects('GET / HTTP/1.1\r\n Host: a\r\n\r\n', 400, 'obs-fold or whitespace before a field name');
  });

  test('whitespace before the colon → 400', () => {
    rejects(GET('X-A : b\r\n'), 400, 'whitespace before colon');
    rejects(GET('X-A\t: b\r\n'), 400, 'whitespace before colon');
    rejects('GET / HTTP/1.1\r\nHost : a\r\n\r\n', 400, 'whitespace before colon');
  });

  test('invalid token characters in the method or a header name → 400', () => {
    rejects('G(T / HTTP/1.1\r\nHost: a\r\n\r\n', 400, 'invalid method');
    rejects(' GET / HTTP/1.1\r\nHost: a\r\n\r\n', 400, 'invalid method');
    rejects('GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n', 400, 'invalid method');
    rejects(GET('X"A: b\r\n'), 400, 'invalid header name');
    rejects(GET('X\xffA: b\r\n'), 400, 'invalid header name');
    rejects(GET(': b\r\n'), 400, 'invalid header name');
    rejects(GET('X-A\r\n'), 400, 'header line without colon');
    assert.equal(accepts("PROPFIND / HTTP/1.1\r\nHost: a\r\nX-!#$%&'*+.^_`|~: v\r\n\r\n").heads[0].headers.get("x-!#$%&'*+.^_`|~"), 'v');
  });

  test('control characters in a header value → 400; obs-text and tabs are fine', () => {
    for (const c of ['\x00', '\x01', '\x1f', '\x7f', '\x0b']) rejects(GET(`X-A: b${c}c\r\n`), 400, 'invalid header value character');
    assert.equal(accepts(GET('X-A: b\tc \xe9\r\n')).heads[0].headers.get('x-a'), 'b\tc \u00e9');
  });

  test('invalid request-target → 400', () => {
    rejects('GET  / HTTP/1.1\r\nHost: a\r\n\r\n', 400, 'invalid request target');
    rejects('GET /a\x7f HTTP/1.1\r\nHost: a\r\n\r\n', 400, 'invalid request target');
    rejects('GET /\xe9 HTTP/1.1\r\nHost: a\r\n\r\n', 400, 'invalid request target');
    rejects('GET foo HTTP/1.1\r\nHost: a\r\n\r\n', 400, 'invalid request target');
    rejects('GET example.com:80 HTTP/1.1\r\nHost: a\r\n\r\n', 400, 'invalid request target');
    rejects('GET http:// HTTP/1.1\r\nHost: a\r\n\r\n', 400, 'invalid request target');
    rejects('GET / HTTP/1.1 \r\nHost: a\r\n\r\n', 400, 'invalid HTTP version');
    accepts('OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n');
  });

  test('invalid HTTP version → 400', () => {
    for (const v of ['HTTP/1.2', 'HTTP/2.0', 'HTTP/0.9', 'http/1.1', 'HTTP/1.10', 'HTTP/11', 'HTTP/1.1 x']) rejects(`GET / ${v}\r\nHost: a\r\n\r\n`, 400, 'invalid HTTP version');
    rejects('GET /\r\nHost: a\r\n\r\n', 400, 'invalid request target');
    assert.equal(accepts('GET / HTTP/1.0\r\n\r\n').heads[0].minor, 0);
  });

  test('missing or repeated Host on HTTP/1.1 → 400; HTTP/1.0 may omit it', () => {
    rejects('GET / HTTP/1.1\r\n\r\n', 400, 'missing host');
    rejects('GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n', 400, 'repeated host');
    rejects('GET / HTTP/1.0\r\nHost: a\r\nHost: a\r\n\r\n', 400, 'repeated host');
    assert.equal(accepts('GET / HTTP/1.0\r\n\r\n').heads[0].headers.get(':authority'), '');
  });
});

describe('header limits', () => {
  test('a header section over max_request_headers_kb → 431, complete or still arriving', () => {
    rejects(GET(`X-Big: ${'a'.repeat(LIMITS.maxHeaderBytes)}\r\n`), 431, 'headers too large');
    // Never ends: still cut once the limit is passed.
    rejects(`GET / HTTP/1.1\r\nHost: a\r\nX-Big: ${'a'.repeat(LIMITS.maxHeaderBytes)}`, 431, 'headers too large');
    rejects(`GET /${'a'.repeat(LIMITS.maxHeaderBytes)}`, 431, 'headers too large');
    accepts(GET(`X-Big: ${'a'.repeat(LIMITS.maxHeaderBytes - 100)}\r\n`));
  });

  test('more header lines than max_headers_count → 431', () => {
    const lines = (n: number) => Array.from({ length: n }, (_, i) => `X-H${i}: v\r\n`).join('');
    rejects(GET(lines(LIMITS.maxHeaders)), 431, 'too many headers');
    accepts(GET(lines(LIMITS.maxHeaders - 1)));
  });
});

describe('chunked bodies', () => {
  const chunked = (body: string) => POST('Transfer-Encoding: chunked\r\n', body);

  test('sizes, extensions, trailers, split anywhere', () => {
    const ev = accepts(chunked('5;name=val;q="a \\"b\\"";x\r\nhello\r\nA\r\n0123456789\r\n000\r\nX-Sum: 1\r\nx-sum: 2\r\nGrpc-Status: 0\r\n\r\n'));
    assert.equal(ev.data, 'hello0123456789');
    assert.deepEqual(ev.complete, [new Map<string, string | string[]>([['x-sum', ['1', '2']], ['grpc-status', '0']])]);
    assert.deepEqual(accepts(chunked('0\r\n\r\n')).complete, [undefined]);
  });

  test('bad chunk sizes → 400', () => {
    for (const s of ['zz', '-1', ' 5', '5 ', '0x5', '', '+5']) rejects(chunked(`${s}\r\nhello\r\n0\r\n\r\n`), 400, 'invalid chunk size');
    rejects(chunked('5\nhello\r\n0\r\n\r\n'), 400, 'invalid chunk size');
    rejects(chunked('5\r\rhello\r\n0\r\n\r\n'), 400, 'chunk size line not ended by CRLF');
  });

  test('chunk size overflow → 400', () => {
    rejects(chunked('fffffffffffffffff\r\n'), 400, 'chunk size overflow');
    rejects(chunked('20000000000000\r\n'), 400, 'chunk size overflow');
    // Large but exact sizes are fine (the body then just has to arrive).
    assert.equal(accepts(chunked('1fffffffffffff\r\nab')).data, 'ab');
  });

  test('bad chunk extensions → 400', () => {
    for (const e of [';', ';=v', ';a=', '; a', ';a =b', ';a="b', ';a=b c', ';a="\x01"', ';a\x7f']) rejects(chunked(`5${e}\r\nhello\r\n0\r\n\r\n`), 400, 'invalid chunk extension');
    rejects(chunked(`5;a=${'b'.repeat(17 * 1024)}\r\nhello\r\n0\r\n\r\n`), 400, 'chunk extensions too long');
  });

  test('chunk data must end with CRLF; the last chunk and trailers too', () => {
    rejects(chunked('3\r\nabcX\r\n0\r\n\r\n'), 400, 'chunk data not followed by CRLF');
    rejects(chunked('3\r\nabc\n0\r\n\r\n'), 400, 'chunk data not followed by CRLF');
    rejects(chunked('3\r\nabcX\n0\r\n\r\n'), 400, 'chunk data not followed by CRLF');
    rejects(chunked('3\r\nabc\r\n0\r\n\rX'), 400, 'trailer section not ended by CRLF');
    rejects(chunked('0\r\nX-T: 1\n\r\n'), 400, 'trailer line not ended by CRLF');
  });

  test('trailers are validated like headers and bounded', () => {
    rejects(chunked('0\r\nX-T : 1\r\n\r\n'), 400, 'whitespace before colon');
    rejects(chunked('0\r\nX-T: a\x01\r\n\r\n'), 400, 'invalid header value character');
    rejects(chunked('0\r\nX-T: 1\r\n folded\r\n\r\n'), 400, 'obs-fold or whitespace before a field name');
    rejects(chunked(`0\r\n${Array.from({ length: LIMITS.maxHeaders + 1 }, (_, i) => `T${i}: v\r\n`).join('')}\r\n`), 431, 'too many trailers');
    rejects(chunked(`0\r\nX-T: ${'a'.repeat(LIMITS.maxHeaderBytes)}\r\n\r\n`), 431, 'trailers too large');
  });

  test('the decoder on its own hands out views of its input and reports where the body ended', () => {
    const got: Buffer[] = [];
    let ended: HeaderMap | undefined | null = null;
    const d = new ChunkedDecoder({ onChunkData: (c) => got.push(c), onChunkedEnd: (t) => void (ended = t) }, { maxTrailerBytes: 1024, maxTrailers: 4 });
    const input = Buffer.from('3\r\nabc\r\n0\r\n\r\nNEXT');
    assert.equal(d.execute(input, 0), input.length - 4);
    assert.equal(got[0].buffer, input.buffer, 'no copy');
    assert.equal(ended, undefined);
    assert.ok(d.done);
  });
});

describe('the HeaderMap and connection semantics', () => {
  test('pseudo-headers first, names lower-cased, Host as :authority, repeats kept, hop-by-hop and Connection-named headers dropped', () => {
    const ev = accepts('POST /p?q=1 HTTP/1.1\r\nX-One: 1\r\nHost: svc:8080\r\nConnection: keep-alive, X-Hop\r\nX-Hop: h\r\nKeep-Alive: 5\r\nProxy-Connection: x\r\nCookie: a=1\r\ncookie: b=2\r\nTE: gzip, trailers\r\nExpect: 100-continue\r\nContent-Length: 0\r\n\r\n');
    const h = ev.heads[0];
    assert.deepEqual([...h.headers], [
      [':method', 'POST'],
      [':path', '/p?q=1'],
      [':authority', 'svc:8080'],
      ['x-one', '1'],
      ['cookie', ['a=1', 'b=2']],
      ['content-length', '0'],
      ['te', 'trailers'],
    ]);
    assert.equal(h.expect, '100-continue');
    assert.equal(h.body, BODY_NONE);
    assert.equal(accepts(GET('TE: gzip\r\n')).heads[0].headers.has('te'), false);
  });

  test('keep-alive: HTTP/1.1 unless close, HTTP/1.0 only when asked (and never for a chunked 1.0 request)', () => {
    assert.equal(accepts(GET('')).heads[0].keepAlive, true);
    assert.equal(accepts(GET('Connection: Close\r\n')).heads[0].keepAlive, false);
    assert.equal(accepts(GET('Connection: x-a, close\r\n')).heads[0].keepAlive, false);
    assert.equal(accepts('GET / HTTP/1.0\r\n\r\n').heads[0].keepAlive, false);
    assert.equal(accepts('GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n').heads[0].keepAlive, true);
    assert.equal(accepts('POST / HTTP/1.0\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n').heads[0].keepAlive, false);
  });

  test('absolute-form (proxy request): authority and path from the URL', () => {
    const h = accepts('GET http://up.example:81/a/b?c=d HTTP/1.1\r\nHost: other\r\n\r\n').heads[0].headers;
    assert.equal(h.get(':authority'), 'up.example:81');
    assert.equal(h.get(':path'), '/a/b?c=d');
  });

  test('Upgrade: connection and upgrade headers kept, parsing stops, the bytes after the head handed over', () => {
    const ev = accepts('GET /chat HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: k\r\n\r\n\x81\x05hello');
    const h = ev.heads[0];
    assert.ok(h.upgrade);
    assert.equal(h.headers.get('upgrade'), 'websocket');
    assert.equal(h.headers.get('connection'), 'Upgrade');
    assert.equal(ev.upgradeRest, '\x81\x05hello');
    assert.equal(ev.complete.length, 0);
    // Upgrade without the Connection token is a plain request with both headers dropped.
    const plain = accepts(GET('Upgrade: websocket\r\n')).heads[0];
    assert.equal(plain.upgrade, false);
    assert.equal(plain.headers.has('upgrade'), false);
  });

  test('empty lines before a request line are skipped', () => {
    assert.equal(accepts(`\r\n\r\n${GET('')}`).heads.length, 1);
  });
});

describe('one request at a time', () => {
  test('pipelined requests wait while paused and come in order on resume, with bytes that arrived meanwhile', () => {
    const { ev, parser } = recorder((p) => p.pause());
    parser.execute(Buffer.from(`${POST('Content-Length: 2\r\n', 'ab')}GET /2 HTTP/1.1\r\nHost: a\r\n\r\nGET /3 HTTP/1.1\r\nHo`));
    assert.equal(ev.heads.length, 1);
    assert.equal(ev.data, 'ab');
    assert.ok(parser.isPaused);
    parser.execute(Buffer.from('st: a\r\n\r\n'));
    assert.equal(ev.heads.length, 1, 'nothing parsed while paused');
    parser.resume();
    assert.deepEqual(ev.heads.map((h) => h.headers.get(':path')), ['/', '/2']);
    parser.resume();
    assert.deepEqual(ev.heads.map((h) => h.headers.get(':path')), ['/', '/2', '/3']);
    assert.equal(ev.complete.length, 3);
    assert.equal(parser.inMessage, false);
  });

  test('stop() from a callback ends parsing at once', () => {
    const { ev, parser } = recorder((p) => void p.stop());
    parser.execute(Buffer.from(`${GET('')}${GET('')}`));
    assert.equal(ev.heads.length, 1);
  });
});
