/**
 * DiscoveryResponse and DeltaDiscoveryResponse bytes built by concatenation: each resource is
 * framed once (as the repeated `resources` field it becomes) and those bytes are shared by
 * every response and every proxy that carries it. protobufjs re-encoded every Any of every
 * response per connection (a 2 MB CDS copied field by field, 1,000 times per sync); here a
 * response costs at most one memcpy of bytes that already exist, and a shared body none
 * (./grpc_parts.ts writes the parts as they are).
 *
 * Field numbers are envoy.service.discovery.v3's (discovery.proto); protobuf readers accept
 * fields in any order, so the small per-response fields are written after the resources.
 */
import type { AnyBytes } from '../codec.ts';
import { GRPC_PREFIX } from './grpc_parts.ts';

const LEN = 2; // wire type: length-delimited

export function varintSize(n: number): number {
  let size = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 128);
    size++;
  }
  return size;
}

export function writeVarint(buf: Buffer, pos: number, n: number): number {
  while (n >= 0x80) {
    buf[pos++] = (n % 128) | 0x80;
    n = Math.floor(n / 128);
  }
  buf[pos++] = n;
  return pos;
}

/** Field number `field` (length-delimited) around `parts`, which are copied in order. */
export function lenField(field: number, parts: readonly Uint8Array[]): Buffer {
  let len = 0;
  for (const p of parts) len += p.length;
  const tag = (field << 3) | LEN;
  const buf = Buffer.allocUnsafe(varintSize(tag) + varintSize(len) + len);
  let pos = writeVarint(buf, 0, tag);
  pos = writeVarint(buf, pos, len);
  for (const p of parts) {
    buf.set(p, pos);
    pos += p.length;
  }
  return buf;
}

export function stringField(field: number, s: string): Buffer {
  return s === '' ? Buffer.alloc(0) : lenField(field, [Buffer.from(s, 'utf8')]);
}

/** google.protobuf.Any's own bytes: type_url = 1, value = 2. */
function anyMessage(any: AnyBytes): Buffer {
  return Buffer.concat([stringField(1, any.type_url), lenField(2, [any.value])]);
}

/**
 * `parts` joined into a buffer of its own, for bytes kept from one push to the next (framed
 * resources and the bodies joined from them). A small Buffer is otherwise cut from node's
 * shared pool (`Buffer.poolSize`: 64 KB on Node 24, 8 KB on 22), and one kept frame holds its
 * whole slab, with every temporary that was cut from it: at 2,000 proxies, about 500 slabs.
 */
export function unpooled(parts: readonly Uint8Array[]): Buffer {
  let len = 0;
  for (const p of parts) len += p.length;
  const out = Buffer.allocUnsafeSlow(len);
  let pos = 0;
  for (const p of parts) {
    out.set(p, pos);
    pos += p.length;
  }
  return out;
}

/**
 * One Any as DiscoveryResponse field 2 (`resources`), plus a view of the value inside it, so an
 * Entry keeps the encoded resource once rather than twice.
 */
export function frameSotwResource(typeUrl: string, value: Uint8Array): { framed: Buffer; value: Uint8Array } {
  const framed = unpooled([lenField(2, [anyMessage({ type_url: typeUrl, value })])]);
  // The value is the last bytes of the frame (Any field 2 is written last).
  return { framed, value: framed.subarray(framed.length - value.length) };
}

/** One envoy.service.discovery.v3.Resource as DeltaDiscoveryResponse field 2. */
export function frameDeltaResource(name: string, version: string, any: AnyBytes): Buffer {
  // Resource: version = 1, resource = 2 (Any), name = 3.
  return unpooled([lenField(2, [stringField(1, version), lenField(2, [anyMessage(any)]), stringField(3, name)])]);
}

/**
 * A DiscoveryResponse from framed resources (see frameSotwResource), as the parts of one gRPC
 * message (./grpc_parts.ts: the first part starts with room for the gRPC prefix). A shared body
 * (one Buffer: a whole type's resources, the same for every proxy of a shape) stays its own part
 * and is never copied; a list of framed resources is joined once.
 */
export function discoveryResponseParts(version: string, typeUrl: string, nonce: string, framedResources: Buffer | readonly Buffer[]): Buffer[] {
  // version_info = 1, resources = 2, type_url = 4, nonce = 5.
  const head = [Buffer.alloc(GRPC_PREFIX), stringField(1, version)];
  const tail = [stringField(4, typeUrl), stringField(5, nonce)];
  return parts(head, framedResources, tail);
}

/** A DeltaDiscoveryResponse from framed resources (see frameDeltaResource) and removed names, as gRPC message parts (a shared body as above). */
export function deltaDiscoveryResponseParts(version: string, typeUrl: string, nonce: string, framedResources: Buffer | readonly Buffer[], removed: readonly string[]): Buffer[] {
  // system_version_info = 1, resources = 2, type_url = 4, nonce = 5, removed_resources = 6.
  const head = [Buffer.alloc(GRPC_PREFIX), stringField(1, version)];
  const tail = [stringField(4, typeUrl), stringField(5, nonce), ...removed.map((n) => lenField(6, [Buffer.from(n, 'utf8')]))];
  return parts(head, framedResources, tail);
}

function parts(head: Buffer[], framedResources: Buffer | readonly Buffer[], tail: Buffer[]): Buffer[] {
  if (Buffer.isBuffer(framedResources) && framedResources.length > 0) return [Buffer.concat(head), framedResources, Buffer.concat(tail)];
  return [Buffer.concat([...head, ...(Buffer.isBuffer(framedResources) ? [] : framedResources), ...tail])];
}
