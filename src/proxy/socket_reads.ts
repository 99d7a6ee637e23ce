/**
 * Sockets (net.Socket and TLSSocket) the proxy reads with 'data' events in flowing mode. Node's Readable schedules a
 * process.nextTick after every chunk it emits (maybeReadMore: read ahead up to the high-water
 * mark while paused), which on a net.Socket does nothing (libuv keeps reading until push()
 * says the buffer is full, and resume() reads again itself), yet costs a tick object, a
 * read(0) call and a pass through the tick queue per read: two per proxied request.
 *
 * Marking the read-ahead as already pending skips it. `readingMore` is a field of the
 * undocumented `_readableState` (a setter over a bit field since Node 22); on a Node without it
 * the assignment adds an unused property and the tick simply happens as before.
 * test/proxy/socket_reads.test.ts checks that it still takes effect on the Node in use.
 */
import { Socket } from 'node:net';
import type { Duplex } from 'node:stream';

/** Only sockets: another Duplex's _read may be how it learns to produce more, and needs the read(0). */
export function skipReadAhead(socket: Duplex): void {
  if (!(socket instanceof Socket)) return;
  const state = (socket as unknown as { _readableState?: { readingMore?: boolean } })._readableState;
  if (state) state.readingMore = true;
}
