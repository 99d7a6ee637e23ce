/**
 * Converts Envoy resources between tsmesh's JSON form (proto3 JSON mapping with the protos'
 * snake_case field names, as in Envoy's YAML and /config_dump; see ./types.ts) and protobuf
 * bytes. Encoding is strict: an unknown field or a bad value throws with its path, which is how
 * a generator bug becomes a test failure rather than something Envoy would NACK.
 */
import { fromStruct, fromValue, toStruct, toValue } from './struct.ts';
import protobuf from 'protobufjs';
import { DurationError, formatDuration, parseDuration as parseSharedDuration, type Duration } from '../api/duration.ts';
import { envoyRoot, messageType } from './protos.ts';
import type { EnvoyJson } from './types.ts';

import { TYPE_URL_PREFIX } from './type_urls.ts';

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

/**
 * A google.protobuf.Duration in proto3 JSON ("1.5s", "-2s") or {seconds, nanos}. Envoy's JSON
 * grammar is narrower than Istio's ("1m30s" is not proto3 JSON), so the form is checked here;
 * the reading itself is the shared one (src/api/duration.ts).
 */
export function parseDuration(v: unknown, path = 'duration'): Duration {
  if (typeof v === 'string' && !PROTO3_DURATION.test(v)) throw new CodecError(path, `invalid duration ${JSON.stringify(v)}: want e.g. "1.5s"`);
  try {
    return parseSharedDuration(v, path);
  } catch (e) {
    throw new CodecError(path, e instanceof DurationError ? `invalid duration ${JSON.stringify(v)}: want e.g. "1.5s"` : String(e));
  }
}
const PROTO3_DURATION = /^-?\d+(\.\d{1,9})?s$/;

export { formatDuration };


/**
 * How to convert JSON into one message type, worked out once per Type: a resource encode used
 * to re-derive the type's full name, test it against the well-known types and search its
 * fields (including a camelCase/json_name scan on every miss) for every value of every
 * resource, and that lookup work was most of the control plane's generation CPU.
 */
interface TypePlan {
  type: protobuf.Type;
  name: string;
  wellKnown: 'duration' | 'timestamp' | 'wrapper' | 'struct' | 'value' | 'list' | 'any' | undefined;
  /** JSON key (proto name, json_name or camelCase) -> field; proto names win over aliases. */
  fields: Map<string, FieldPlan>;
  /** Whether any field belongs to a oneof (only then are objects checked for two members set). */
  hasOneofs: boolean;
}

interface FieldPlan {
  field: protobuf.Field;
  name: string;
  kind: 'message' | 'enum' | 'scalar';
  /** Resolved on first use: message types may be recursive. */
  msg?: TypePlan;
  enumValues?: Record<string, number>;
  enumNumbers?: Set<number>;
  enumName?: string;
  oneof?: string;
}

const plans = new WeakMap<protobuf.Type, TypePlan>();

/**
 * The path of the value being converted, as segments joined only when an error is thrown:
 * building "Listener.filter_chains[3].filters[0]..." strings for every value that converts
 * fine was a measurable share of encoding (and of its garbage).
 */
const segments: Array<string | number> = [];
function pathNow(): string {
  let p = '';
  for (const s of segments) p += typeof s === 'number' ? `[${s}]` : s;
  return p;
}

const WELL_KNOWN: Record<string, TypePlan['wellKnown']> = {
  'google.protobuf.Duration': 'duration',
  'google.protobuf.Timestamp': 'timestamp',
  'google.protobuf.Struct': 'struct',
  'google.protobuf.Value': 'value',
  'google.protobuf.ListValue': 'list',
  'google.protobuf.Any': 'any',
};

function planOf(type: protobuf.Type): TypePlan {
  let plan = plans.get(type);
  if (plan) return plan;
  const name = fullName(type);
  const fields = new Map<string, FieldPlan>();
  const byField = new Map<protobuf.Field, FieldPlan>();
  let hasOneofs = false;
  for (const f of type.fieldsArray) {
    f.resolve();
    const rt = f.resolvedType;
    const fp: FieldPlan = { field: f, name: f.name, kind: rt instanceof protobuf.Type ? 'message' : rt instanceof protobuf.Enum ? 'enum' : 'scalar' };
    if (rt instanceof protobuf.Enum) {
      fp.enumValues = rt.values;
      fp.enumNumbers = new Set(Object.values(rt.values));
      fp.enumName = rt.name;
    }
    // Synthetic oneofs of proto3 `optional` hold one field and can never conflict.
    if (f.partOf && f.partOf.fieldsArray.length > 1) {
      fp.oneof = f.partOf.name;
      hasOneofs = true;
    }
    byField.set(f, fp);
  }
  // Aliases first, the first field in declaration order winning (as the old linear scan did).
  for (const f of type.fieldsArray) {
    for (const alias of [f.options?.json_name as string | undefined, camel(f.name)]) {
      if (alias !== undefined && !fields.has(alias)) fields.set(alias, byField.get(f)!);
    }
  }
  for (const f of type.fieldsArray) fields.set(f.name, byField.get(f)!);
  plan = { type, name, wellKnown: WELL_KNOWN[name] ?? (WRAPPERS.has(name) ? 'wrapper' : undefined), fields, hasOneofs };
  plans.set(type, plan);
  return plan;
}

function msgPlan(fp: FieldPlan): TypePlan {
  return (fp.msg ??= planOf(fp.field.resolvedType as protobuf.Type));
}

function toMessageObject(plan: TypePlan, json: unknown): any {
  switch (plan.wellKnown) {
    case undefined:
      break;
    case 'duration':
      return parseDuration(json, pathNow());
    case 'timestamp': {
      const ms = typeof json === 'string' ? Date.parse(json) : NaN;
      if (Number.isNaN(ms)) throw new CodecError(pathNow(), `invalid timestamp ${JSON.stringify(json)}`);
      return { seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1e6 };
    }
    case 'wrapper': {
      const inner = typeof json === 'object' && json !== null && 'value' in (json as object) ? (json as any).value : json;
      return { value: convertScalar(plan.type.fields.value!, inner) };
    }
    case 'struct':
      if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new CodecError(pathNow(), 'Struct must be an object');
      return toStruct(json as Record<string, unknown>);
    case 'value':
      return toValue(json);
    case 'list':
      return { values: (json as unknown[]).map(toValue) };
    case 'any':
      return packAny(json as EnvoyJson);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new CodecError(pathNow(), `expected an object for ${plan.name}, got ${JSON.stringify(json)}`);
  }
  const out: Record<string, unknown> = {};
  let oneofs: Map<string, string> | undefined;
  for (const key in json as Record<string, unknown>) {
    if (!Object.prototype.hasOwnProperty.call(json, key)) continue;
    const value = (json as Record<string, unknown>)[key];
    if (value === undefined) continue;
    const fp = plan.fields.get(key);
    if (!fp) throw new CodecError(`${pathNow()}.${key}`, `unknown field in ${plan.name}`);
    segments.push(`.${fp.name}`);
    if (fp.oneof !== undefined) {
      // protobufjs's verify used to catch this; the encoder would silently write both.
      const seen = (oneofs ??= new Map()).get(fp.oneof);
      if (seen !== undefined && seen !== fp.name) throw new CodecError(pathNow(), `oneof ${fp.oneof} already set by ${seen}: multiple values`);
      oneofs.set(fp.oneof, fp.name);
    }
    if (fp.field.map) {
      if (typeof value !== 'object' || value === null) throw new CodecError(pathNow(), 'expected an object (map)');
      const m: Record<string, unknown> = {};
      for (const mk of Object.keys(value)) {
        segments.push(`[${mk}]`);
        m[mk] = convertField(fp, (value as Record<string, unknown>)[mk]);
        segments.pop();
      }
      out[fp.name] = m;
    } else if (fp.field.repeated) {
      if (!Array.isArray(value)) throw new CodecError(pathNow(), 'expected a list');
      const arr = new Array(value.length);
      for (let i = 0; i < value.length; i++) {
        segments.push(i);
        arr[i] = convertField(fp, value[i]);
        segments.pop();
      }
      out[fp.name] = arr;
    } else {
      out[fp.name] = convertField(fp, value);
    }
    segments.pop();
  }
  return out;
}

function camel(s: string): string {
  return s.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

function convertField(fp: FieldPlan, value: unknown): unknown {
  if (fp.kind === 'message') return toMessageObject(msgPlan(fp), value);
  if (fp.kind === 'enum') {
    if (typeof value === 'number' && fp.enumNumbers!.has(value)) return value;
    if (typeof value === 'string' && Object.prototype.hasOwnProperty.call(fp.enumValues, value)) return fp.enumValues![value];
    throw new CodecError(pathNow(), `invalid enum value ${JSON.stringify(value)} for ${fp.enumName}: one of ${Object.keys(fp.enumValues!).join(', ')}`);
  }
  return convertScalar(fp.field, value);
}

function convertScalar(field: protobuf.Field, value: unknown): unknown {
  switch (field.type) {
    case 'string':
      if (typeof value !== 'string') throw new CodecError(pathNow(), `expected a string, got ${JSON.stringify(value)}`);
      return value;
    case 'bool':
      if (typeof value !== 'boolean') throw new CodecError(pathNow(), `expected a boolean, got ${JSON.stringify(value)}`);
      return value;
    case 'bytes':
      if (typeof value === 'string') return Buffer.from(value, 'base64');
      if (value instanceof Uint8Array) return value;
      throw new CodecError(pathNow(), 'expected base64 bytes');
    case 'double':
    case 'float':
      if (typeof value === 'number') return value;
      if (typeof value === 'string' && value.trim() !== '' && !Number.isNaN(Number(value))) return Number(value);
      throw new CodecError(pathNow(), `expected a number, got ${JSON.stringify(value)}`);
    default: {
      // integer kinds; 64-bit ones may come as strings per proto3 JSON.
      const n = typeof value === 'string' && /^-?\d+$/.test(value) ? Number(value) : value;
      if (typeof n !== 'number' || !Number.isInteger(n)) throw new CodecError(pathNow(), `expected an integer, got ${JSON.stringify(value)}`);
      if (field.type.startsWith('u') && n < 0) throw new CodecError(pathNow(), `expected a non-negative integer, got ${n}`);
      return n;
    }
  }
}

/**
 * Encodes the object form built by toMessageObject. It is already what protobufjs's encoder
 * reads (enum numbers, numbers for integers, Uint8Array bytes, only the fields that were set),
 * so fromObject's copy into Message instances and verify's second walk are skipped: the bytes
 * are the same, as the codec tests and golden files check.
 */
function encodeObject(plan: TypePlan, obj: unknown): Uint8Array {
  return plan.type.encode(obj as protobuf.Message).finish();
}

function packAny(json: EnvoyJson): { type_url: string; value: Uint8Array } {
  if (typeof json !== 'object' || json === null) throw new CodecError(pathNow(), 'Any needs an "@type"');
  const typeUrl = json['@type'];
  if (typeof typeUrl !== 'string') throw new CodecError(pathNow(), 'Any needs an "@type"');
  let inner: TypePlan;
  try {
    inner = planOf(messageType(typeUrl));
  } catch {
    throw new CodecError(pathNow(), `unknown type ${typeUrl}`);
  }
  const { '@type': _t, ...rest } = json;
  // Well-known types inside Any carry their JSON form under "value".
  const body = isWellKnownPlan(inner) && 'value' in rest ? rest.value : rest;
  segments.push(`<${inner.name}>`);
  const value = encodeObject(inner, toMessageObject(inner, body));
  segments.pop();
  return { type_url: typeUrl, value };
}

function isWellKnownPlan(p: TypePlan): boolean {
  return p.name.startsWith('google.protobuf.') && p.name !== 'google.protobuf.Empty';
}

function isWellKnown(t: protobuf.Type): boolean {
  const n = fullName(t);
  return n.startsWith('google.protobuf.') && n !== 'google.protobuf.Empty';
}

// ---------- protobufjs object form -> JSON form ----------

const TO_OBJECT: protobuf.IConversionOptions = { enums: String, longs: Number, bytes: String, defaults: false, arrays: false, objects: false, oneofs: false };


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
  const plan = planOf(messageType(typeUrlOrName));
  segments.length = 0; // a CodecError thrown by an earlier call leaves its path behind
  segments.push(plan.name);
  const out = encodeObject(plan, toMessageObject(plan, json));
  segments.length = 0;
  return out;
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
