/**
 * Lean wire codecs for the bench's simulated Envoys (./ads_load.ts). On 2 cores the simulators
 * share the machine with the control plane they measure, and decoding every 2–4 MB CDS/EDS
 * answer into protobufjs objects, and encoding every SotW ACK's ~2,400 EDS names again, made
 * them use 2–5x the control plane's CPU, so sync time measured the simulators. Real Envoys
 * parse in C++ on their own cores. These read only the fields a simulator uses (the top level,
 * and each resource as a view of its bytes) and cache the encoded name list of an ACK; the bytes
 * on the wire are the same, so both control planes see what they saw before.
 */
import type { AnyBytes } from '../../src/xds/codec.ts';
import type { DeltaDiscoveryRequest, DeltaDiscoveryResponse, DeltaResource, DiscoveryRequest, DiscoveryResponse } from '../../src/xds/grpc.ts';
import { lenField, stringField } from '../../src/xds/server/wire.ts';

let pos = 0;

function varint(b: Buffer): number {
  let value = 0;
  for (let shift = 0; ; shift += 7) {
    if (pos >= b.length || shift > 49) throw new Error('bad varint in an xDS response');
    const byte = b[pos++]!;
    value += (byte & 0x7f) * 2 ** shift;
    if (byte < 0x80) return value;
  }
}

/** Calls `field(number, start, end)` for each length-delimited field of b[start, end); skips the rest. */
function fields(b: Buffer, start: number, end: number, field: (n: number, s: number, e: number) => void): void {
  pos = start;
  while (pos < end) {
    const tag = varint(b);
    switch (tag & 7) {
      case 0:
        varint(b);
        break;
      case 1:
        pos += 8;
        break;
      case 5:
        pos += 4;
        break;
      case 2: {
        const len = varint(b);
        const s = pos;
        pos += len;
        if (pos > end) throw new Error('truncated xDS response');
        const after = pos;
        field(tag >>> 3, s, pos);
        pos = after;
        break;
      }
      default:
        throw new Error(`unsupported wire type ${tag & 7} in an xDS response`);
    }
  }
}

/** google.protobuf.Any: type_url = 1, value = 2 (a view, not a copy). */
function any(b: Buffer, s: number, e: number): AnyBytes {
  let type_url = '';
  let value: Uint8Array = Buffer.alloc(0);
  fields(b, s, e, (n, fs, fe) => {
    if (n === 1) type_url = b.toString('latin1', fs, fe);
    else if (n === 2) value = b.subarray(fs, fe);
  });
  return { type_url, value };
}

/** A DiscoveryResponse with its resources as views of `b`. */
export function decodeSotwResponse(b: Buffer): DiscoveryResponse {
  const r: DiscoveryResponse = { version_info: '', resources: [], type_url: '', nonce: '' };
  fields(b, 0, b.length, (n, s, e) => {
    if (n === 1) r.version_info = b.toString('utf8', s, e);
    else if (n === 2) r.resources.push(any(b, s, e));
    else if (n === 4) r.type_url = b.toString('utf8', s, e);
    else if (n === 5) r.nonce = b.toString('utf8', s, e);
  });
  return r;
}

/**
 * A delta Resource whose Any is read from the response bytes only when asked for: a simulator
 * that already knows the resource at this version and size never touches its bytes (a
 * thousand-service answer holds ~2,400 of them, and every client of a shape gets the same).
 */
class WireResource implements DeltaResource {
  name = '';
  version = '';
  #any: AnyBytes | undefined;
  constructor(
    private readonly b: Buffer,
    readonly start = -1,
    readonly end = -1,
  ) {}
  get resource(): AnyBytes | undefined {
    if (this.start < 0) return undefined;
    return (this.#any ??= any(this.b, this.start, this.end));
  }
}

/** Whether a delta Resource carries a resource (without reading it). */
export function hasResource(x: DeltaResource): boolean {
  return x instanceof WireResource ? x.start >= 0 : x.resource !== undefined;
}

/** The byte size of a delta Resource's Any (without reading it). */
export function resourceSize(x: DeltaResource): number {
  return x instanceof WireResource ? x.end - x.start : (x.resource?.value.length ?? 0);
}

/** A DeltaDiscoveryResponse whose resources are read lazily (WireResource). */
export function decodeDeltaResponse(b: Buffer): DeltaDiscoveryResponse {
  const r: DeltaDiscoveryResponse = { system_version_info: '', resources: [], type_url: '', removed_resources: [], nonce: '' };
  fields(b, 0, b.length, (n, s, e) => {
    if (n === 1) r.system_version_info = b.toString('utf8', s, e);
    else if (n === 2) {
      // Resource: version = 1, resource = 2, name = 3.
      let name = '';
      let version = '';
      let rs = -1;
      let re = -1;
      fields(b, s, e, (m, fs, fe) => {
        if (m === 1) version = b.toString('utf8', fs, fe);
        else if (m === 2) {
          rs = fs;
          re = fe;
        }
        else if (m === 3) name = b.toString('utf8', fs, fe);
      });
      const res = new WireResource(b, rs, re);
      res.name = name;
      res.version = version;
      r.resources.push(res);
    } else if (n === 4) r.type_url = b.toString('utf8', s, e);
    else if (n === 5) r.nonce = b.toString('utf8', s, e);
    else if (n === 6) r.removed_resources.push(b.toString('utf8', s, e));
  });
  return r;
}

const nameBlocks = new WeakMap<readonly string[], Buffer>();

/**
 * A DiscoveryRequest without a node (every ACK after the first request of a type), its
 * resource_names encoded once per list (the simulators share one array per distinct list).
 * Undefined when the request carries a node or an error: the caller encodes it in full.
 */
export function encodeSotwAck(req: DiscoveryRequest): Buffer | undefined {
  if (req.node || req.error_detail) return undefined;
  let names = nameBlocks.get(req.resource_names);
  if (!names) {
    names = Buffer.concat(req.resource_names.map((n) => lenField(3, [Buffer.from(n, 'utf8')])));
    nameBlocks.set(req.resource_names, names);
  }
  // version_info = 1, resource_names = 3, type_url = 4, response_nonce = 5.
  return Buffer.concat([stringField(1, req.version_info), names, stringField(4, req.type_url), stringField(5, req.response_nonce)]);
}

/**
 * A bare delta ACK (type and nonce only: every request after a stream's first that changes no
 * subscription), or undefined for anything else: the caller encodes that in full.
 */
export function encodeDeltaAck(req: DeltaDiscoveryRequest): Buffer | undefined {
  if (req.node || req.error_detail || req.resource_names_subscribe.length || req.resource_names_unsubscribe.length) return undefined;
  if (Object.keys(req.initial_resource_versions).length) return undefined;
  // type_url = 2, response_nonce = 6.
  return Buffer.concat([stringField(2, req.type_url), stringField(6, req.response_nonce)]);
}

/** endpoints = 2 > lb_endpoints = 2 > endpoint = 1 > address = 1 > socket_address = 1 > address = 2. */
const ADDRESS_PATH = [2, 2, 1, 1, 1, 2] as const;

const asBuffer = (v: Uint8Array): Buffer => (Buffer.isBuffer(v) ? v : Buffer.from(v.buffer, v.byteOffset, v.byteLength));

/**
 * The socket addresses of a ClusterLoadAssignment's endpoints, read without decoding the rest
 * (metadata, weights, health): the simulators look for one moved address in every EDS update
 * after a change, and protobufjs decoding of whole assignments was a third of their CPU then.
 */
export function claAddresses(value: Uint8Array): string[] {
  const b = asBuffer(value);
  const out: string[] = [];
  const into = (depth: number, s: number, e: number): void =>
    fields(b, s, e, (n, fs, fe) => {
      if (n !== ADDRESS_PATH[depth]) return;
      if (depth === ADDRESS_PATH.length - 1) out.push(b.toString('utf8', fs, fe));
      else into(depth + 1, fs, fe);
    });
  into(0, 0, b.length);
  return out;
}
