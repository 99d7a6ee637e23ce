/**
 * Interned lower-case names of common response headers: a header whose name matches one (in any
 * case) costs no string allocation. Others are sliced and lower-cased.
 */
import { latin1 } from './latin1.ts';

const COMMON = [
  'accept-ranges', 'access-control-allow-origin', 'age', 'alt-svc', 'cache-control', 'connection', 'content-encoding',
  'content-language', 'content-length', 'content-type', 'date', 'etag', 'expires', 'grpc-message', 'grpc-status', 'keep-alive',
  'last-modified', 'location', 'proxy-connection', 'server', 'set-cookie', 'strict-transport-security', 'trailer', 'transfer-encoding',
  'upgrade', 'vary', 'via', 'x-content-type-options', 'x-envoy-upstream-service-time', 'x-frame-options', 'x-powered-by', 'x-request-id',
];

interface Known {
  name: string;
  bytes: Uint8Array;
}

const MAX = 32;
const byLength: (Known[] | undefined)[] = new Array(MAX + 1);
for (const name of COMMON) (byLength[name.length] ??= []).push({ name, bytes: Buffer.from(name, 'latin1') });

/**
 * The lower-case name of buf[start, end), which holds token characters only (the caller checked).
 * `upper` says whether any byte is an upper-case letter.
 */
export function headerName(buf: Buffer, start: number, end: number, upper: boolean): string {
  const len = end - start;
  const cands = len <= MAX ? byLength[len] : undefined;
  if (cands !== undefined) {
    outer: for (let k = 0; k < cands.length; k++) {
      const b = cands[k].bytes;
      // Token bytes | 0x20 lower-cases letters and leaves '-' and digits alone.
      for (let i = 0; i < len; i++) if ((buf[start + i] | 0x20) !== b[i]) continue outer;
      return cands[k].name;
    }
  }
  const s = latin1(buf, start, end);
  return upper ? s.toLowerCase() : s;
}
