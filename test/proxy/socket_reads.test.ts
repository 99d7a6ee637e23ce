/**
 * skipReadAhead (src/proxy/socket_reads.ts): on the Node in use it still removes the read-ahead
 * tick per read, and a socket marked so loses nothing: data flows through pauses long enough
 * for the kernel and node's buffer to fill, over plain TCP and TLS.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import net, { type Socket } from 'node:net';
import tls from 'node:tls';
import { PassThrough } from 'node:stream';
import { skipReadAhead } from '../../src/proxy/socket_reads.ts';
import { createPki } from '../helpers/certs.ts';

/** Echo server; the client sends `rounds` one-byte messages, each after the previous echo. */
async function pingPong(mark: boolean, rounds: number): Promise<number> {
  let ticks = 0;
  const orig = process.nextTick;
  process.nextTick = function (this: unknown, fn: (...a: unknown[]) => void, ...a: unknown[]) {
    if (fn.name === 'maybeReadMore_') ticks++;
    return orig.call(process, fn, ...a);
  } as typeof process.nextTick;
  try {
    const srv = net.createServer((s) => {
      if (mark) skipReadAhead(s);
      s.on('data', (d) => s.write(d));
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const c = net.connect((srv.address() as net.AddressInfo).port, '127.0.0.1');
    if (mark) skipReadAhead(c);
    await new Promise<void>((resolve) => {
      let n = 0;
      c.on('connect', () => c.write('x'));
      c.on('data', () => (++n < rounds ? c.write('x') : resolve()));
    });
    c.destroy();
    await new Promise((r) => srv.close(r));
  } finally {
    process.nextTick = orig;
  }
  return ticks;
}

/** Sends `total` bytes while the receiver pauses for a while after every 64 KiB; resolves with what arrived. */
async function pausedTransfer(server: net.Server, connect: (port: number) => Socket, total: number): Promise<number> {
  let got = 0;
  const done = new Promise<number>((resolve) => {
    server.on(server instanceof tls.Server ? 'secureConnection' : 'connection', (s: Socket) => {
      skipReadAhead(s);
      let sincePause = 0;
      s.on('data', (d: Buffer) => {
        got += d.length;
        sincePause += d.length;
        if (sincePause >= 65536) {
          sincePause = 0;
          s.pause();
          setTimeout(() => s.resume(), 20);
        }
        if (got >= total) resolve(got);
      });
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const c = connect((server.address() as net.AddressInfo).port);
  skipReadAhead(c);
  const chunk = Buffer.alloc(16384, 7);
  for (let sent = 0; sent < total; sent += chunk.length) if (!c.write(chunk)) await new Promise((r) => c.once('drain', r));
  const n = await done;
  c.destroy();
  await new Promise((r) => server.close(r));
  return n;
}

describe('skipReadAhead', () => {
  test('removes the read-ahead tick per read on this Node', async () => {
    const before = await pingPong(false, 500);
    const after = await pingPong(true, 500);
    assert.ok(before >= 900, `without it, about one tick per read on each side (${before})`);
    assert.ok(after < 10, `with it, none per read (${after}); if this fails, Node changed its Readable and socket_reads.ts no longer helps`);
  });

  test('a paused plain TCP socket gets every byte after it resumes', async () => {
    const total = 8 * 1024 * 1024;
    assert.equal(await pausedTransfer(net.createServer(), (port) => net.connect(port, '127.0.0.1'), total), total);
  });

  test('a paused TLS socket gets every byte after it resumes', async () => {
    const pki = createPki();
    try {
      const { key, cert } = pki.server('srv', ['localhost']);
      const total = 4 * 1024 * 1024;
      const n = await pausedTransfer(tls.createServer({ key, cert }), (port) => tls.connect({ port, host: '127.0.0.1', servername: 'localhost', ca: pki.ca }), total);
      assert.equal(n, total);
    } finally {
      pki.dispose();
    }
  });

  test('leaves other streams alone', () => {
    const p = new PassThrough();
    skipReadAhead(p);
    assert.notEqual((p as unknown as { _readableState: { readingMore: boolean } })._readableState.readingMore, true);
  });
});
