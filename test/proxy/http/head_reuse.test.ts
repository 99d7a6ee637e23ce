/**
 * The HTTP/1.1 writers keep each head's fields in arrays reused from one message to the next on
 * a connection (downstream responses, upstream requests). A message must carry exactly its own
 * fields: a long head followed by a short one on the same connections leaves nothing behind, and
 * the raw bytes of each response parse as one well-formed message.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { hcmConfig, routeConfig, startHcm, startUpstream, type TestProxy, type Upstream } from './harness.ts';

let up: Upstream;
let p: TestProxy;
before(async () => {
  up = await startUpstream('up', (req, res) => {
    // /long answers with ten extra fields, one of them repeated; /short with none.
    if (req.url === '/long') for (let i = 0; i < 10; i++) res.setHeader(`x-long-${i}`, i === 3 ? ['a', 'b'] : `value-${i}`);
    res.setHeader('content-type', 'text/plain');
    res.end(req.url);
    return true;
  });
  p = await startHcm(hcmConfig(routeConfig([{ match: { prefix: '/' }, route: { cluster: 'up' } }])), [{ name: 'up', ports: [up.port] }]);
});
after(async () => {
  await p.close();
  await up.close();
});

/** Sends `requests` on one connection, one after another; returns each raw response. */
async function exchange(requests: string[]): Promise<string[]> {
  const s = net.connect(p.port, '127.0.0.1');
  s.setEncoding('latin1');
  let buf = '';
  s.on('data', (d: string) => (buf += d));
  const out: string[] = [];
  try {
    for (const r of requests) {
      s.write(r);
      const deadline = Date.now() + 5000;
      for (;;) {
        const end = buf.indexOf('\r\n\r\n');
        const len = end < 0 ? -1 : Number(/\r\ncontent-length: (\d+)\r\n/i.exec(buf.slice(0, end + 2))?.[1] ?? -1);
        if (end >= 0 && len >= 0 && buf.length >= end + 4 + len) {
          out.push(buf.slice(0, end + 4 + len));
          buf = buf.slice(end + 4 + len);
          break;
        }
        if (Date.now() > deadline) throw new Error(`no complete response to ${JSON.stringify(r)}; have ${JSON.stringify(buf)}`);
        await new Promise((res) => setTimeout(res, 5));
      }
    }
  } finally {
    s.destroy();
  }
  return out;
}

test('a short head after a long one, on the same downstream and upstream connections, carries only its own fields', async () => {
  const extra = Array.from({ length: 12 }, (_, i) => `x-req-${i}: ${'r'.repeat(20 + i)}\r\n`).join('');
  const [long, short, longAgain] = await exchange([
    `GET /long HTTP/1.1\r\nhost: a\r\n${extra}\r\n`,
    'GET /short HTTP/1.1\r\nhost: a\r\n\r\n',
    `GET /long HTTP/1.1\r\nhost: a\r\n${extra}\r\n`,
  ]);
  for (const r of [long, short, longAgain]) {
    assert.match(r, /^HTTP\/1\.1 200 OK\r\n/);
    // Every line of the head is "name: value" with a token name.
    for (const line of r.slice(r.indexOf('\r\n') + 2, r.indexOf('\r\n\r\n')).split('\r\n')) assert.match(line, /^[a-z0-9-]+: [^\r\n]*$/, line);
  }
  assert.match(long, /\r\nx-long-9: value-9\r\n/);
  assert.match(long, /\r\nx-long-3: a\r\nx-long-3: b\r\n/);
  assert.doesNotMatch(short, /x-long-/, 'nothing of the long head is left in the short one');
  assert.ok(short.endsWith('\r\n\r\n/short'));
  assert.equal(long, longAgain.replace(/\r\ndate: [^\r]*/, long.match(/\r\ndate: [^\r]*/)![0]).replace(/x-envoy-upstream-service-time: \d+/, long.match(/x-envoy-upstream-service-time: \d+/)![0]));
  // Upstream (sequential requests reuse one pooled connection and its encoder): each request carried only its own fields.
  const seen = up.seen.slice(-3);
  assert.equal(seen[0].headers['x-req-11'], 'r'.repeat(31));
  assert.equal(seen[1].headers['x-req-0'], undefined);
  assert.equal(Object.keys(seen[1].headers).filter((k) => k.startsWith('x-req-')).length, 0);
  assert.equal(seen[2].headers['x-req-5'], 'r'.repeat(25));
});
