/**
 * Trace context on the wire: extraction from and injection into request headers in the formats
 * Envoy's tracers speak — B3 multi-header (x-b3-*), B3 single (`b3`) and W3C trace context
 * (traceparent / tracestate). Ids are lower-case hex: trace ids 16 or 32 digits, span ids 16.
 */
import { randomFillSync } from 'node:crypto';
import type { HeaderMap } from '../interfaces.ts';
import { getHeader } from '../http/common/header_utils.ts';

/** Which header formats a context arrived in (bits), so the child goes out in the same ones. */
export const Format = { B3: 1, B3_SINGLE: 2, W3C: 4 } as const;

export interface SpanContext {
  traceId: string;
  spanId: string;
  parentId?: string;
  /** The parent's decision; undefined when the caller left it to us. */
  sampled?: boolean;
  /** x-b3-flags: 1 / `b3: ...-d`: debug, which implies sampled. */
  debug?: boolean;
  tracestate?: string;
  /** Format bits this context was read from. */
  formats: number;
}

/**
 * A decision without ids (`x-b3-sampled` alone, or `b3: 0`): Envoy starts a new trace and keeps
 * the caller's sampling choice.
 */
export interface SamplingOnly {
  sampled: boolean;
  formats: number;
}

const HEX16 = /^[0-9a-f]{16}$/;
const TRACE_ID = /^(?:[0-9a-f]{16}|[0-9a-f]{32})$/;
const ZERO16 = '0000000000000000';
const ZERO32 = ZERO16 + ZERO16;

/** Random bytes drawn 4 KiB at a time: one syscall per 512 ids rather than one per id. */
const pool = Buffer.alloc(4096);
let poolAt = pool.length;

/** A random non-zero id of `bytes` bytes as hex: one conversion however long. */
function randomId(bytes: number, zero: string): string {
  for (;;) {
    if (poolAt + bytes > pool.length) randomFillSync(pool), (poolAt = 0);
    const id = pool.toString('hex', poolAt, poolAt + bytes);
    poolAt += bytes;
    if (id !== zero) return id;
  }
}

/** A random non-zero 64-bit id as 16 hex digits. */
export function newSpanId(): string {
  return randomId(8, ZERO16);
}

/** A random trace id: 128-bit (32 hex) or 64-bit (16 hex); only the whole id must be non-zero. */
export function newTraceId(bits128: boolean): string {
  return bits128 ? randomId(16, ZERO32) : randomId(8, ZERO16);
}

function parseSampled(v: string | undefined): boolean | undefined {
  if (v === undefined) return undefined;
  if (v === '1' || v === 'true' || v === 'd') return true;
  if (v === '0' || v === 'false') return false;
  return undefined;
}

/** Reads B3 multi-header, then B3 single, then W3C; undefined when none is present and valid. */
export function extractContext(h: HeaderMap, w3cFirst = false): SpanContext | SamplingOnly | undefined {
  if (w3cFirst) return extractW3c(h) ?? extractB3(h);
  return extractB3(h) ?? extractW3c(h);
}

function extractB3(h: HeaderMap): SpanContext | SamplingOnly | undefined {
  const traceId = getHeader(h, 'x-b3-traceid');
  const flags = getHeader(h, 'x-b3-flags');
  const debug = flags === '1';
  if (traceId !== undefined) {
    const spanId = getHeader(h, 'x-b3-spanid')?.toLowerCase();
    const tid = traceId.toLowerCase();
    if (!TRACE_ID.test(tid) || !spanId || !HEX16.test(spanId)) return extractB3Single(h);
    const parent = getHeader(h, 'x-b3-parentspanid')?.toLowerCase();
    const sampled = debug ? true : parseSampled(getHeader(h, 'x-b3-sampled'));
    return { traceId: tid, spanId, parentId: parent && HEX16.test(parent) ? parent : undefined, sampled, debug, formats: Format.B3 };
  }
  const single = extractB3Single(h);
  if (single) return single;
  const sampled = debug ? true : parseSampled(getHeader(h, 'x-b3-sampled'));
  return sampled === undefined ? undefined : { sampled, formats: Format.B3 };
}

/** `b3: {traceid}-{spanid}[-{sampled}[-{parentspanid}]]`, or a bare decision `0` / `1` / `d`. */
function extractB3Single(h: HeaderMap): SpanContext | SamplingOnly | undefined {
  const v = getHeader(h, 'b3')?.toLowerCase();
  if (!v) return undefined;
  const parts = v.split('-');
  if (parts.length === 1) {
    const sampled = parseSampled(parts[0]);
    return sampled === undefined ? undefined : { sampled, formats: Format.B3_SINGLE };
  }
  const [traceId, spanId, s, parent] = parts;
  if (!TRACE_ID.test(traceId!) || !HEX16.test(spanId!) || parts.length > 4) return undefined;
  if (parent !== undefined && !HEX16.test(parent)) return undefined;
  return { traceId: traceId!, spanId: spanId!, parentId: parent, sampled: parseSampled(s), debug: s === 'd', formats: Format.B3_SINGLE };
}

/** `traceparent: 00-{32 hex trace}-{16 hex parent}-{2 hex flags}` (W3C Trace Context level 1). */
function extractW3c(h: HeaderMap): SpanContext | undefined {
  const v = getHeader(h, 'traceparent')?.toLowerCase();
  if (!v || v.length < 55) return undefined;
  const parts = v.split('-');
  if (parts.length < 4) return undefined;
  const [version, traceId, spanId, flags] = parts;
  // Version ff is invalid; a higher version may append fields, which we ignore (as the spec says).
  if (!/^[0-9a-f]{2}$/.test(version!) || version === 'ff' || (version === '00' && parts.length !== 4)) return undefined;
  if (!/^[0-9a-f]{32}$/.test(traceId!) || /^0+$/.test(traceId!) || !HEX16.test(spanId!) || spanId === ZERO16 || !/^[0-9a-f]{2}$/.test(flags!)) return undefined;
  const tracestate = getHeader(h, 'tracestate');
  return { traceId: traceId!, spanId: spanId!, sampled: (parseInt(flags!, 16) & 1) === 1, tracestate, formats: Format.W3C };
}

/** What goes upstream: the child span's ids in each format in `formats`. */
export interface InjectContext {
  traceId: string;
  spanId: string;
  parentId?: string;
  sampled: boolean;
  tracestate?: string;
}

/** Writes the context in every format whose bit is set, replacing what the request carried. */
export function injectContext(h: HeaderMap, c: InjectContext, formats: number): void {
  if (formats & Format.B3) {
    h.set('x-b3-traceid', c.traceId);
    h.set('x-b3-spanid', c.spanId);
    if (c.parentId) h.set('x-b3-parentspanid', c.parentId);
    else h.delete('x-b3-parentspanid');
    h.set('x-b3-sampled', c.sampled ? '1' : '0');
    // Debug is carried by x-b3-sampled from here on, as Envoy does.
    h.delete('x-b3-flags');
  }
  if (formats & Format.B3_SINGLE) {
    h.set('b3', `${c.traceId}-${c.spanId}-${c.sampled ? '1' : '0'}${c.parentId ? `-${c.parentId}` : ''}`);
  }
  if (formats & Format.W3C) {
    // traceparent has no room for a 64-bit trace id: left-pad it, as B3-to-W3C bridges do.
    const tid = c.traceId.length === 16 ? ZERO16 + c.traceId : c.traceId;
    h.set('traceparent', `00-${tid}-${c.spanId}-${c.sampled ? '01' : '00'}`);
    if (c.tracestate) h.set('tracestate', c.tracestate);
  }
}
