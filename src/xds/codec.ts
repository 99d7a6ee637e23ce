/**
 * Converts Envoy resources between tsmesh's JSON form (proto3 JSON mapping with the protos'
 * snake_case field names, as in Envoy's YAML and /config_dump; see ./types.ts) and protobuf
 * bytes. Encoding is strict: an unknown field or a bad value throws with its path, which is how
 * a generator bug becomes a test failure rather than something Envoy would NACK.
 */
import protobuf from 'protobufjs';
import { envoyRoot, messageType } from './protos.ts';
import type { EnvoyJson } from './types.ts';

const TYPE_URL_PREFIX = 'type.googleapis.com/';

const WRAPPERS = new Set([
  'google.protobuf.DoubleValue', 'google.protobuf.FloatValue', 'google.protobuf.Int64Value',
  'google.protobuf.UInt64Value', 'google.protobuf.Int32Value', 'google.protobuf.UInt32Value',
  'google.protobuf.BoolValue', 'google.protobuf.StringValue', 'google.protobuf.BytesValue',
]);

/** A packed google.protobuf.Any as it travels inside a DiscoveryResponse. */
export interface AnyBytes {
  type_url: string;
  value: Uint8Array;
}

export class CodecError extends Error {
  constructor(readonly path: string, reason: string) {
    super(`${path}: ${reason}`);
    this.name = 'CodecError';
  }
}

function fullName(t: protobuf.Type): string {
  return t.fullName.startsWith('.') ? t.fullName.slice(1) : t.fullName;
}

// ---------- JSON form -> protobufjs object form ----------

/** "1.5s" / "0s" / "-2s" / {seconds, nanos} -> {seconds, nanos}. */
export function parseDuration(v: unknown, path = 'duration'): { seconds: number; nanos: number } {
  if (typeof v === 'object' && v !== null) {
    const o = v as { seconds?: number | string; nanos?: number };
    return { seconds: Number(o.seconds ?? 0), nanos: Number(o.nanos ?? 0) };
  }
  if (typeof v !== 'string' || !/^-?\d+(\.\d{1,9})?s$/.test(v)) throw new CodecError(path, `invalid duration ${JSON.stringify(v)}: want e.g. "1.5s"`);
  const neg = v.startsWith('-');
  const [s, frac = ''] = v.slice(neg ? 1 : 0, -1).split('.');
  const seconds = Number(s);
  const nanos = Number(frac.padEnd(9, '0'));
  return neg ? { seconds: -seconds, nanos: -nanos } : { seconds, nanos };
}

export function formatDuration(d: { seconds?: number | string; nanos?: number }): string {
  const seconds = Number(d.seconds ?? 0);
  const nanos = Number(d.nanos ?? 0);
  const neg = seconds < 0 || nanos < 0;
  const abs = Math.abs(seconds);
  const n = Math.abs(nanos);
  if (n === 0) return `${neg ? '-' : ''}${abs}s`;
  const frac = String(n).padStart(9, '0').replace(/0+$/, '');
  return `${neg ? '-' : ''}${abs}.${frac}s`;
}

// protobufjs bundles struct.proto with camelCase field names, whatever keepCase says.
function toValue(v: unknown): any {
  if (v === null || v === undefined) return { nullValue: 0 };
  if (typeof v === 'number') return { numberValue: v };
  if (typeof v === 'string') return { stringValue: v };
  if (typeof v === 'boolean') return { boolValue: v };
  if (Array.isArray(v)) return { listValue: { values: v.map(toValue) } };
  return { structValue: toStruct(v as Record<string, unknown>) };
}
function toStruct(o: Record<string, unknown>): any {
  const fields: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) fields[k] = toValue(v);
  return { fields };
}

function toMessageObject(type: protobuf.Type, json: unknown, path: string): any {
  const name = fullName(type);
  if (name === 'google.protobuf.Duration') return parseDuration(json, path);
  if (name === 'google.protobuf.Timestamp') {
    const ms = typeof json === 'string' ? Date.parse(json) : NaN;
    if (Number.isNaN(ms)) throw new CodecError(path, `invalid timestamp ${JSON.stringify(json)}`);
    return { seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1e6 };
  }
  if (WRAPPERS.has(name)) {
    const inner = typeof json === 'object' && json !== null && 'value' in (json as object) ? (json as any).value : json;
    return { value: convertScalar(type.fields.value, inner, path) };
  }
  if (name === 'google.protobuf.Struct') {
    if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new CodecError(path, 'Struct must be an object');
    return toStruct(json as Record<string, unknown>);
  }
  if (name === 'google.protobuf.Value') return toValue(json);
  if (name === 'google.protobuf.ListValue') return { values: (json as unknown[]).map(toValue) };
  if (name === 'google.protobuf.Any') return packAny(json as EnvoyJson, path);
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new CodecError(path, `expected an object for ${name}, got ${JSON.stringify(json)}`);
  }
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(json as Record<string, unknown>)) {
    if (value === undefined) continue;
    const field = type.fields[key] ?? type.fieldsArray.find((f) => f.options?.json_name === key || camel(f.name) === key);
    if (!field) throw new CodecError(`${path}.${key}`, `unknown field in ${name}`);
    field.resolve();
    const p = `${path}.${field.name}`;
    if (field.map) {
      const m: Record<string, unknown> = {};
      for (const [mk, mv] of Object.entries(value as Record<string, unknown>)) m[mk] = convertField(field, mv, `${p}[${mk}]`);
      out[field.name] = m;
    } else if (field.repeated) {
      if (!Array.isArray(value)) throw new CodecError(p, 'expected a list');
      out[field.name] = value.map((v, i) => convertField(field, v, `${p}[${i}]`));
    } else {
      out[field.name] = convertField(field, value, p);
    }
  }
  return out;
}

function camel(s: string): string {
  return s.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

function convertField(field: protobuf.Field, value: unknown, path: string): unknown {
  if (field.resolvedType instanceof protobuf.Type) return toMessageObject(field.resolvedType, value, path);
  if (field.resolvedType instanceof protobuf.Enum) {
    const e = field.resolvedType;
    if (typeof value === 'number' && Object.values(e.values).includes(value)) return value;
    if (typeof value === 'string' && value in e.values) return e.values[value];
    throw new CodecError(path, `invalid enum value ${JSON.stringify(value)} for ${e.name}: one of ${Object.keys(e.values).join(', ')}`);
  }
  return convertScalar(field, value, path);
}

function convertScalar(field: protobuf.Field, value: unknown, path: string): unknown {
  switch (field.type) {
    case 'string':
      if (typeof value !== 'string') throw new CodecError(path, `expected a string, got ${JSON.stringify(value)}`);
      return value;
    case 'bool':
      if (typeof value !== 'boolean') throw new CodecError(path, `expected a boolean, got ${JSON.stringify(value)}`);
      return value;
    case 'bytes':
      if (typeof value === 'string') return Buffer.from(value, 'base64');
      if (value instanceof Uint8Array) return value;
      throw new CodecError(path, 'expected base64 bytes');
    case 'double':
    case 'float':
      if (typeof value === 'number') return value;
      if (typeof value === 'string' && value.trim() !== '' && !Number.isNaN(Number(value))) return Number(value);
      throw new CodecError(path, `expected a number, got ${JSON.stringify(value)}`);
    default: {
      // integer kinds; 64-bit ones may come as strings per proto3 JSON.
      const n = typeof value === 'string' && /^-?\d+$/.test(value) ? Number(value) : value;
      if (typeof n !== 'number' || !Number.isInteger(n)) throw new CodecError(path, `expected an integer, got ${JSON.stringify(value)}`);
      if (field.type.startsWith('u') && n < 0) throw new CodecError(path, `expected a non-negative integer, got ${n}`);
      return n;
    }
  }
}

function packAny(json: EnvoyJson, path: string): { type_url: string; value: Uint8Array } {
  const typeUrl = json?.['@type'];
  if (typeof typeUrl !== 'string') throw new CodecError(path, 'Any needs an "@type"');
  let inner: protobuf.Type;
  try {
    inner = messageType(typeUrl);
  } catch {
    throw new CodecError(path, `unknown type ${typeUrl}`);
  }
  const { '@type': _t, ...rest } = json;
  // Well-known types inside Any carry their JSON form under "value".
  const body = isWellKnown(inner) && 'value' in rest ? rest.value : rest;
  return { type_url: typeUrl, value: inner.encode(inner.fromObject(toMessageObject(inner, body, `${path}<${fullName(inner)}>`))).finish() };
}

function isWellKnown(t: protobuf.Type): boolean {
  const n = fullName(t);
  return n.startsWith('google.protobuf.') && n !== 'google.protobuf.Empty';
}

// ---------- protobufjs object form -> JSON form ----------

const TO_OBJECT: protobuf.IConversionOptions = { enums: String, longs: Number, bytes: String, defaults: false, arrays: false, objects: false, oneofs: false };

function fromValue(v: any): unknown {
  if (!v || typeof v !== 'object') return null;
  if ('numberValue' in v) return v.numberValue;
  if ('stringValue' in v) return v.stringValue;
  if ('boolValue' in v) return v.boolValue;
  if ('structValue' in v) return fromStruct(v.structValue);
  if ('listValue' in v) return (v.listValue.values ?? []).map(fromValue);
  return null;
}
function fromStruct(s: any): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(s?.fields ?? {})) out[k] = fromValue(v);
  return out;
}

function fromMessageObject(type: protobuf.Type, obj: any): any {
  const name = fullName(type);
  if (name === 'google.protobuf.Duration') return formatDuration(obj);
  if (name === 'google.protobuf.Timestamp') return new Date(Number(obj.seconds ?? 0) * 1000 + Math.round(Number(obj.nanos ?? 0) / 1e6)).toISOString();
  if (WRAPPERS.has(name)) return obj.value ?? defaultScalar(type.fields.value);
  if (name === 'google.protobuf.Struct') return fromStruct(obj);
  if (name === 'google.protobuf.Value') return fromValue(obj);
  if (name === 'google.protobuf.ListValue') return (obj.values ?? []).map(fromValue);
  if (name === 'google.protobuf.Any') return unpackAny({ type_url: obj.type_url, value: Buffer.from(obj.value ?? '', 'base64') });
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(obj)) {
    const field = type.fields[key];
    if (!field) continue;
    field.resolve();
    const rt = field.resolvedType;
    if (!(rt instanceof protobuf.Type)) {
      out[key] = value;
    } else if (field.map) {
      const m: Record<string, unknown> = {};
      for (const [mk, mv] of Object.entries(value as object)) m[mk] = fromMessageObject(rt, mv);
      out[key] = m;
    } else if (field.repeated) {
      out[key] = (value as unknown[]).map((v) => fromMessageObject(rt, v));
    } else {
      out[key] = fromMessageObject(rt, value);
    }
  }
  return out;
}

function defaultScalar(f: protobuf.Field): unknown {
  switch (f.type) {
    case 'string':
    case 'bytes':
      return '';
    case 'bool':
      return false;
    default:
      return 0;
  }
}

// ---------- public API ----------

/** Encodes a resource of the given message type (type URL or full name). Throws CodecError. */
export function encodeResource(typeUrlOrName: string, json: EnvoyJson): Uint8Array {
  const t = messageType(typeUrlOrName);
  const obj = toMessageObject(t, json, fullName(t));
  const err = t.verify(obj);
  if (err) throw new CodecError(fullName(t), err);
  return t.encode(t.fromObject(obj)).finish();
}

/** Decodes bytes of the given message type into the JSON form. */
export function decodeResource(typeUrlOrName: string, bytes: Uint8Array): EnvoyJson {
  const t = messageType(typeUrlOrName);
  return fromMessageObject(t, t.toObject(t.decode(bytes), TO_OBJECT));
}

/** Packs a JSON resource into an Any for the wire. `typeUrl` defaults to the resource's "@type". */
export function toAny(json: EnvoyJson, typeUrl?: string): AnyBytes {
  const url = typeUrl ?? json['@type'];
  if (typeof url !== 'string') throw new CodecError('Any', 'no type URL');
  const { '@type': _t, ...rest } = json;
  return { type_url: url, value: encodeResource(url, rest) };
}

/** Unpacks an Any into the JSON form, with "@type" set. */
export function unpackAny(any: AnyBytes): EnvoyJson {
  const inner = messageType(any.type_url);
  const body = fromMessageObject(inner, inner.toObject(inner.decode(any.value), TO_OBJECT));
  if (isWellKnown(inner)) return { '@type': any.type_url, value: body };
  return { '@type': any.type_url, ...body };
}

/**
 * Normalises a JSON resource the way a round trip through protobuf would (durations formatted,
 * defaults dropped, unknown fields rejected). Used to read bootstrap files and to compare.
 */
export function normalize(typeUrlOrName: string, json: EnvoyJson): EnvoyJson {
  return decodeResource(typeUrlOrName, encodeResource(typeUrlOrName, json));
}

export { envoyRoot, messageType } from './protos.ts';
export const TYPE_URL = (fullMessageName: string): string => TYPE_URL_PREFIX + fullMessageName;
