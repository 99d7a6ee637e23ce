/**
 * A StreamingBody as a node Readable, for clients that take streams (undici's HTTP/2 Client):
 * the Readable is the body's sink, and reading on is the body's pull.
 */
import { Readable } from 'node:stream';
import type { StreamingBody } from './types.ts';

export function toReadable(body: StreamingBody): Readable {
  const r = new Readable({ highWaterMark: 64 * 1024, read: () => body.pull() });
  // An abort destroys the Readable: undici then aborts the request and frees its connection.
  body.attach({ onBodyChunk: (c) => r.push(c), onBodyEnd: () => void r.push(null), onBodyAbort: () => void r.destroy() });
  return r;
}
