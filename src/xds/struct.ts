/**
 * google.protobuf.Struct <-> plain JSON, the proto3 JSON mapping (null, number, string, bool,
 * struct, list), in the camelCase field names protobufjs gives the bundled struct.proto
 * whatever keepCase says. Envoy's node metadata and Istio's CSR metadata both travel as Structs.
 */

export function toStruct(o: Record<string, unknown>): { fields: Record<string, unknown> } {
  const fields: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) fields[k] = toValue(v);
  return { fields };
}

export function fromStruct(s: any): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(s?.fields ?? {})) out[k] = fromValue(v);
  return out;
}

export function toValue(v: unknown): Record<string, unknown> {
  if (v === null || v === undefined) return { nullValue: 0 };
  if (typeof v === 'number') return { numberValue: v };
  if (typeof v === 'string') return { stringValue: v };
  if (typeof v === 'boolean') return { boolValue: v };
  if (Array.isArray(v)) return { listValue: { values: v.map(toValue) } };
  return { structValue: toStruct(v as Record<string, unknown>) };
}

export function fromValue(v: any): unknown {
  if (!v || typeof v !== 'object') return null;
  if (is(v, 'numberValue')) return v.numberValue;
  if (is(v, 'stringValue')) return v.stringValue;
  if (is(v, 'boolValue')) return v.boolValue;
  if (is(v, 'structValue')) return fromStruct(v.structValue);
  if (is(v, 'listValue')) return ((v.listValue?.values ?? []) as unknown[]).map(fromValue);
  return null;
}

/**
 * Whether `field` is the Value's set member. A decoded message with oneofs names it in `kind`
 * (protobufjs then reads every other member as its default, so `in` would find them all).
 */
function is(v: any, field: string): boolean {
  return typeof v.kind === 'string' ? v.kind === field : field in v;
}
