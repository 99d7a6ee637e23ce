/**
 * HPACK codec of the proxy's HTTP/2 session: the decoder against the RFC 7541 Appendix C vectors
 * (dynamic table carried across blocks, Huffman, eviction), every malformed input rejected with
 * HpackError, and the encoder's blocks read back both by HpackDecoder and by node's own HTTP/2 client.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import http2 from 'node:http2';
import { HpackDecoder, HpackEncoder, HpackError } from '../../../src/proxy/http/http2/hpack.ts';
import { HUFFMAN_CODES, HUFFMAN_LENGTHS } from '../../../src/proxy/http/http2/hpack_tables.ts';
import { frame } from './h2_frames.ts';

type Field = [string, string];

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

function decode(dec: HpackDecoder, block: Buffer, start = 0, end = block.length): Field[] {
  const out: Field[] = [];
  dec.decode(block, start, end, (name, value) => out.push([name, value]));
  return out;
}

/** The dynamic table, newest first, read through indexed fields 62.. (which leave it unchanged). */
function assertTable(dec: HpackDecoder, entries: Field[]): void {
  assert.deepEqual(decode(dec, Buffer.from(entries.map((_, i) => 0xbe + i))), entries);
  assert.throws(() => decode(dec, Buffer.from([0xbe + entries.length])), HpackError);
}

const rejects = (bytes: Buffer | number[], dec = new HpackDecoder()) =>
  assert.throws(() => decode(dec, Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes)), HpackError);

describe('RFC 7541 C.2: single representations', () => {
  test('C.2.1 literal with indexing', () => {
    const dec = new HpackDecoder();
    const block = hex('400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572');
    assert.deepEqual(decode(dec, block), [['custom-key', 'custom-header']]);
    assertTable(dec, [['custom-key', 'custom-header']]);
  });

  test('C.2.2 literal without indexing', () => {
    const dec = new HpackDecoder();
    assert.deepEqual(decode(dec, hex('040c 2f73 616d 706c 652f 7061 7468')), [[':path', '/sample/path']]);
    assertTable(dec, []);
  });

  test('C.2.3 literal never indexed', () => {
    const dec = new HpackDecoder();
    assert.deepEqual(decode(dec, hex('1008 7061 7373 776f 7264 0673 6563 7265 74')), [['password', 'secret']]);
    assertTable(dec, []);
  });

  test('C.2.4 indexed field', () => {
    const dec = new HpackDecoder();
    assert.deepEqual(decode(dec, hex('82')), [[':method', 'GET']]);
    assertTable(dec, []);
  });
});

const req1: Field[] = [[':method', 'GET'], [':scheme', 'http'], [':path', '/'], [':authority', 'www.example.com']];
const req2: Field[] = [...req1, ['cache-control', 'no-cache']];
const req3: Field[] = [[':method', 'GET'], [':scheme', 'https'], [':path', '/index.html'], [':authority', 'www.example.com'], ['custom-key', 'custom-value']];
const requests: [string, Field[], Field[]][] = [
  ['first', req1, [[':authority', 'www.example.com']]],
  ['second', req2, [['cache-control', 'no-cache'], [':authority', 'www.example.com']]],
  ['third', req3, [['custom-key', 'custom-value'], ['cache-control', 'no-cache'], [':authority', 'www.example.com']]],
];

const date1 = 'Mon, 21 Oct 2013 20:13:21 GMT';
const date2 = 'Mon, 21 Oct 2013 20:13:22 GMT';
const loc = 'https://www.example.com';
const cookie = 'foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1';
const responses: [string, Field[], Field[]][] = [
  [
    'first',
    [[':status', '302'], ['cache-control', 'private'], ['date', date1], ['location', loc]],
    [['location', loc], ['date', date1], ['cache-control', 'private'], [':status', '302']],
  ],
  [
    'second (evicts :status 302)',
    [[':status', '307'], ['cache-control', 'private'], ['date', date1], ['location', loc]],
    [[':status', '307'], ['location', loc], ['date', date1], ['cache-control', 'private']],
  ],
  [
    'third (evicts three entries)',
    [[':status', '200'], ['cache-control', 'private'], ['date', date2], ['location', loc], ['content-encoding', 'gzip'], ['set-cookie', cookie]],
    [['set-cookie', cookie], ['content-encoding', 'gzip'], ['date', date2]],
  ],
];

function runSequence(dec: HpackDecoder, blocks: Buffer[], expected: [string, Field[], Field[]][]): void {
  blocks.forEach((block, i) => {
    const [label, fields, table] = expected[i]!;
    assert.deepEqual(decode(dec, block), fields, label);
    assertTable(dec, table);
  });
}

describe('RFC 7541 C.3/C.4: requests on one decoder', () => {
  test('C.3 without Huffman', () => {
    runSequence(new HpackDecoder(), [
      hex('8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d'),
      hex('8286 84be 5808 6e6f 2d63 6163 6865'),
      hex('8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65'),
    ], requests);
  });

  test('C.4 with Huffman', () => {
    runSequence(new HpackDecoder(), [
      hex('8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff'),
      hex('8286 84be 5886 a8eb 1064 9cbf'),
      hex('8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf'),
    ], requests);
  });
});

const c5 = [
  hex(`4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133
       2032 303a 3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70
       6c65 2e63 6f6d`),
  hex('4803 3330 37c1 c0bf'),
  hex(`88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d
       54c0 5a04 677a 6970 7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049
       5541 5851 5745 4f49 553b 206d 6178 2d61 6765 3d33 3630 303b 2076 6572 7369 6f6e
       3d31`),
];
const c6 = [
  hex(`4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6
       2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3`),
  hex('4883 640e ffc1 c0bf'),
  hex(`88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab
       77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f
       9587 3160 65c0 03ed 4ee5 b106 3d50 07`),
];

describe('RFC 7541 C.5/C.6: responses with eviction, table size 256', () => {
  test('C.5 without Huffman, decoder limit 256', () => {
    runSequence(new HpackDecoder(256), c5, responses);
  });

  test('C.6 with Huffman, decoder limit 256', () => {
    runSequence(new HpackDecoder(256), c6, responses);
  });

  test('C.5 on a 4096 decoder shrunk to 256 by a size update (3f e1 01) before the first block', () => {
    const blocks = [Buffer.concat([hex('3fe101'), c5[0]!]), ...c5.slice(1)];
    runSequence(new HpackDecoder(), blocks, responses);
  });

  test('C.6 as a slice of a larger buffer: start/end are honoured', () => {
    const dec = new HpackDecoder(256);
    c6.forEach((block, i) => {
      const framed = Buffer.concat([Buffer.from([0xff, 0xff, 0xff]), block, Buffer.from([0x80, 0xbe])]);
      assert.deepEqual(decode(dec, framed, 3, 3 + block.length), responses[i]![1]);
    });
  });
});

describe('dynamic table accounting', () => {
  test('an entry costs name + value + 32 octets', () => {
    const status302 = hex('4803 3330 32');
    const fits = new HpackDecoder(42);
    decode(fits, status302);
    assertTable(fits, [[':status', '302']]);
    const tooSmall = new HpackDecoder(41);
    assert.deepEqual(decode(tooSmall, status302), [[':status', '302']]);
    assertTable(tooSmall, []);
  });

  test('a size update to 0 empties the table; size updates may repeat at the start of a block', () => {
    const dec = new HpackDecoder();
    decode(dec, hex('400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572'));
    assert.deepEqual(decode(dec, hex('20 3fe11f 82')), [[':method', 'GET']]);
    assertTable(dec, []);
  });

  test('a size update equal to the limit is accepted', () => {
    assert.deepEqual(decode(new HpackDecoder(), hex('3fe11f 82')), [[':method', 'GET']]);
  });
});

describe('malformed blocks throw HpackError', () => {
  test('indexed field 0', () => rejects([0x80]));
  test('index 62 on an empty dynamic table', () => rejects([0xbe]));
  test('literal name index beyond the tables', () => rejects([0x7f, 0x00, 0x01, 0x61]));
  test('string length past the end of the buffer', () => rejects([0x04, 0x05, 0x61, 0x62]));
  test('string length past `end` though within the buffer', () => {
    const buf = Buffer.from([0x04, 0x05, 0x61, 0x62, 0x63, 0x64, 0x65]);
    assert.throws(() => new HpackDecoder().decode(buf, 0, 4, () => {}), HpackError);
  });
  test('block ending before a literal value', () => rejects([0x04]));
  test('integer with too many continuation bytes', () => rejects([0x0f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00]));
  test('integer truncated mid-continuation', () => rejects([0x0f, 0xff]));

  test('Huffman: a valid string decodes (control for the cases below)', () => {
    assert.deepEqual(decode(new HpackDecoder(), Buffer.from([0x04, 0x81, 0x1f])), [[':path', 'a']]);
  });
  test('Huffman: EOS inside the string', () => rejects([0x04, 0x84, 0xff, 0xff, 0xff, 0xff]));
  test('Huffman: padding longer than 7 bits', () => {
    rejects([0x04, 0x81, 0xff]);
    rejects([0x04, 0x82, 0x1f, 0xff]);
  });
  test('Huffman: padding not all ones', () => rejects([0x04, 0x81, 0x18]));

  test('table size update above the advertised limit', () => {
    rejects(hex('3fe21f'));
    rejects(hex('3fe201'), new HpackDecoder(256));
  });
  test('table size update after a field in the same block', () => rejects([0x82, 0x20]));
});

describe('Huffman decoding of every octet', () => {
  test('spot check of the code table against RFC 7541 Appendix B', () => {
    const code = (sym: number) => [HUFFMAN_CODES[sym], HUFFMAN_LENGTHS[sym]];
    assert.deepEqual(code(0), [0x1ff8, 13]);
    assert.deepEqual(code(10), [0x3ffffffc, 30]);
    assert.deepEqual(code(0x20), [0x14, 6]);
    assert.deepEqual(code(0x30), [0x0, 5]);
    assert.deepEqual(code(0x61), [0x3, 5]);
    assert.deepEqual(code(255), [0x3ffffee, 26]);
    assert.deepEqual(code(256), [0x3fffffff, 30]);
  });

  test('all 256 octets, each code length from 5 to 30 bits, round trip', () => {
    const value = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    const bits: number[] = [];
    for (const sym of value) {
      for (let i = HUFFMAN_LENGTHS[sym]! - 1; i >= 0; i--) bits.push((HUFFMAN_CODES[sym]! >>> i) & 1);
    }
    while (bits.length % 8) bits.push(1);
    const huff = Buffer.alloc(bits.length / 8);
    bits.forEach((b, i) => (huff[i >> 3]! |= b << (7 - (i & 7))));
    const lenPrefix = huff.length < 127 ? [0x80 | huff.length] : [0xff, ...multiByte(huff.length - 127)];
    const block = Buffer.concat([Buffer.from([0x00, 0x01, 0x78]), Buffer.from(lenPrefix), huff]);
    assert.deepEqual(decode(new HpackDecoder(), block), [['x', value.toString('latin1')]]);
  });
});

function multiByte(v: number): number[] {
  const out: number[] = [];
  for (; v >= 128; v = Math.floor(v / 128)) out.push((v & 0x7f) | 0x80);
  out.push(v);
  return out;
}

describe('HpackEncoder', () => {
  const fields: Field[] = [
    ['content-type', 'application/json'],
    ['x-custom', 'hello'],
    ['x-empty', ''],
    ['x-long', 'v'.repeat(300)],
  ];

  test('statuses: indexed where the static table has them, literal otherwise', () => {
    const enc = new HpackEncoder();
    const one = (code: number) => {
      enc.begin();
      enc.status(code);
      return Buffer.from(enc.end());
    };
    assert.deepEqual(one(200), Buffer.from([0x88]));
    assert.deepEqual(one(404), Buffer.from([0x8d]));
    assert.deepEqual(one(503), Buffer.from([0x08, 0x03, 0x35, 0x30, 0x33]));
    for (const code of [200, 204, 206, 304, 400, 404, 500, 101, 302, 503, 999]) {
      const dec = new HpackDecoder();
      assert.deepEqual(decode(dec, one(code)), [[':status', String(code)]]);
      assertTable(dec, []);
    }
  });

  test('a block round trips through a fresh decoder, in order, without touching its table', () => {
    const enc = new HpackEncoder();
    enc.begin();
    enc.status(200);
    enc.status(503);
    for (const [n, v] of fields) enc.field(n, v);
    const dec = new HpackDecoder();
    assert.deepEqual(decode(dec, enc.end()), [[':status', '200'], [':status', '503'], ...fields]);
    assertTable(dec, []);
  });

  test('begin() starts over, and blocks larger than the initial buffer grow it', () => {
    const enc = new HpackEncoder();
    enc.begin();
    enc.status(500);
    enc.field('x-first', 'block');
    enc.begin();
    enc.status(204);
    const big = 'b'.repeat(10_000);
    enc.field('x-big', big);
    enc.field('content-type', 'text/plain');
    assert.deepEqual(decode(new HpackDecoder(), enc.end()), [[':status', '204'], ['x-big', big], ['content-type', 'text/plain']]);
  });

  test('the 300-octet value is written with a multi-byte length', () => {
    const enc = new HpackEncoder();
    enc.begin();
    enc.field('x-long', 'v'.repeat(300));
    assert.deepEqual([...enc.end().subarray(0, 11)], [0x00, 0x06, ...Buffer.from('x-long'), 0x7f, 0xad, 0x01]);
  });

  const within = <T>(p: Promise<T>, what: string, ms = 3000): Promise<T> => {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
    });
    return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
  };

  /** A raw HTTP/2 server that answers the client's stream 1 with `block`; returns what node decoded. */
  async function nodeDecodes(block: Buffer): Promise<Record<string, unknown>> {
    const sockets = new Set<net.Socket>();
    const server = net.createServer((sock) => {
      sockets.add(sock);
      sock.on('error', () => {});
      sock.write(frame(4, 0, 0, Buffer.alloc(0)));
      let buf = Buffer.alloc(0);
      let preface = false;
      sock.on('data', (chunk: Buffer) => {
        buf = Buffer.concat([buf, chunk]);
        if (!preface) {
          if (buf.length < 24) return;
          buf = buf.subarray(24);
          preface = true;
        }
        while (buf.length >= 9) {
          const len = buf.readUIntBE(0, 3);
          if (buf.length < 9 + len) break;
          const [type, flags] = [buf[3]!, buf[4]!];
          const stream = buf.readUInt32BE(5) & 0x7fffffff;
          buf = buf.subarray(9 + len);
          if (type === 4 && !(flags & 0x1)) sock.write(frame(4, 0x1, 0, Buffer.alloc(0)));
          else if (type === 1 && stream === 1) sock.write(frame(1, 0x5, 1, block));
        }
      });
    });
    server.listen(0, '127.0.0.1');
    await within(once(server, 'listening'), 'listen');
    const { port } = server.address() as net.AddressInfo;
    const client = http2.connect(`http://127.0.0.1:${port}`);
    client.on('error', () => {});
    try {
      const req = client.request({ ':path': '/' });
      req.on('error', () => {});
      req.end();
      const [headers] = (await within(once(req, 'response'), 'the response headers')) as [http2.IncomingHttpHeaders];
      return Object.fromEntries(Object.entries(headers));
    } finally {
      client.destroy();
      for (const s of sockets) s.destroy();
      await within(new Promise<void>((resolve) => server.close(() => resolve())), 'server close');
    }
  }

  for (const code of [503, 200]) {
    test(`node:http2 decodes the block (status ${code})`, async () => {
      const enc = new HpackEncoder();
      enc.begin();
      enc.status(code);
      for (const [n, v] of fields) enc.field(n, v);
      const block = Buffer.from(enc.end());
      assert.deepEqual(await nodeDecodes(block), { ':status': code, ...Object.fromEntries(fields) });
    });
  }
});
