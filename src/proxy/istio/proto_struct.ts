/**
 * google.protobuf.Struct as Istio's peer metadata travels: the HTTP header x-envoy-peer-metadata
 * is base64 of a serialized Struct, and the TCP metadata exchange carries a serialized
 * google.protobuf.Any wrapping one. protobufjs (already a dependency) does the wire format; this
 * file only frames them; src/xds/struct.ts maps plain JSON to Struct/Value messages and back.
 */
import protobuf from 'protobufjs';
import { fromStruct as structToJson, toStruct } from '../../xds/struct.ts';

/** The google.protobuf package's types from protobufjs's bundled descriptors (struct.proto, any.proto). */
function wellKnown(file: string): Record<string, unknown> {
  const d = protobuf.common.get(file) as any;
  return d.nested.google.nested.protobuf.nested;
}
const root = protobuf.Root.fromJSON({ nested: { google: { nested: { protobuf: { nested: { ...wellKnown('google/protobuf/struct.proto'), ...wellKnown('google/protobuf/any.proto') } } } } } } as protobuf.INamespace);
const StructT = root.lookupType('google.protobuf.Struct');
const AnyT = root.lookupType('google.protobuf.Any');

export const STRUCT_TYPE_URL = 'type.googleapis.com/google.protobuf.Struct';

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** A JSON object as a serialized google.protobuf.Struct. */
export function encodeStruct(o: Record<string, unknown>): Buffer {
  return Buffer.from(StructT.encode(StructT.fromObject(toStruct(o))).finish());
}

/** A serialized Struct back to JSON; undefined when the bytes are not one. */
export function decodeStruct(b: Uint8Array): Record<string, Json> | undefined {
  try {
    return structToJson(StructT.decode(b)) as Record<string, Json>;
  } catch {
    return undefined;
  }
}

/** A serialized google.protobuf.Any wrapping the Struct. */
export function encodeAnyStruct(o: Record<string, unknown>): Buffer {
  return Buffer.from(AnyT.encode(AnyT.fromObject({ type_url: STRUCT_TYPE_URL, value: encodeStruct(o) })).finish());
}

/** An Any(Struct) back to JSON; undefined when it is not one. */
export function decodeAnyStruct(b: Uint8Array): Record<string, Json> | undefined {
  try {
    const any = AnyT.decode(b) as unknown as { type_url?: string; typeUrl?: string; value?: Uint8Array };
    const url = any.type_url ?? any.typeUrl;
    if (url !== STRUCT_TYPE_URL || !any.value) return undefined;
    return decodeStruct(any.value);
  } catch {
    return undefined;
  }
}
