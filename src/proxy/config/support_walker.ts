/**
 * Walks one xDS resource along Envoy's proto descriptors (src/xds/protos.ts) and sorts every set
 * field by the support table (./envoy_support.ts): honoured fields are descended into, advisory
 * and not-yet-honoured ones are reported for a counter and a log line, anything else is
 * unsupported and NACKs the resource. google.protobuf.Any values are followed by their "@type",
 * map values one by one; well-known types (Duration, Struct, wrappers...) are leaves.
 */
import protobuf from 'protobufjs';
import { messageType } from '../../xds/protos.ts';
import type { EnvoyJson } from '../../xds/types.ts';
import { ENVOY_SUPPORT, type FieldSupport } from './envoy_support.ts';

export interface FieldFinding {
  /** Full message name, e.g. envoy.config.cluster.v3.Cluster. */
  message: string;
  field: string;
  /** Path inside the resource, e.g. virtual_hosts[0].routes[1].match.dynamic_metadata. */
  path: string;
  support: Exclude<FieldSupport['kind'], 'honoured'> | 'unsupported';
  /** Why (from the table) or what is missing. */
  reason: string;
}

const HTTP_FILTER_MESSAGE = 'envoy.extensions.filters.network.http_connection_manager.v3.HttpFilter';

function anyMessage(any: EnvoyJson): string {
  const url = String(any?.['@type'] ?? '');
  return url.slice(url.lastIndexOf('/') + 1);
}

function fullName(t: protobuf.Type): string {
  return t.fullName.startsWith('.') ? t.fullName.slice(1) : t.fullName;
}

/** Messages whose content is data, not configuration: never descended into. */
function isLeaf(name: string): boolean {
  return name.startsWith('google.protobuf.') && name !== 'google.protobuf.Any';
}

/** Every set field of `json` (a `typeName` message) the table does not list as honoured. */
export function walkResource(typeName: string, json: EnvoyJson, pathPrefix = ''): FieldFinding[] {
  const out: FieldFinding[] = [];
  visit(messageType(typeName), json, pathPrefix, out);
  return out;
}

function visit(type: protobuf.Type, json: unknown, path: string, out: FieldFinding[]): void {
  const name = fullName(type);
  if (isLeaf(name) || typeof json !== 'object' || json === null) return;
  if (name === 'google.protobuf.Any') return visitAny(json as EnvoyJson, path, out);
  const table = ENVOY_SUPPORT[name];
  for (const [key, value] of Object.entries(json as EnvoyJson)) {
    if (key === '@type' || value === undefined) continue;
    const field = type.fields[key];
    const at = path ? `${path}.${key}` : key;
    if (!field) {
      out.push({ message: name, field: key, path: at, support: 'unsupported', reason: `not a field of ${name}` });
      continue;
    }
    // Envoy skips an optional HTTP filter it does not know; so does the HCM (filters/registry.ts).
    if (key === 'typed_config' && name === HTTP_FILTER_MESSAGE && (json as EnvoyJson).is_optional === true && !ENVOY_SUPPORT[anyMessage(value)]) continue;
    const s = table?.[key];
    if (!s) {
      out.push({ message: name, field: key, path: at, support: 'unsupported', reason: table ? `${name}.${key} is not implemented` : `${name} is not implemented` });
      continue;
    }
    if (s.kind !== 'honoured') {
      out.push({ message: name, field: key, path: at, support: s.kind, reason: s.note });
      continue;
    }
    if (s.values && !s.values.includes(value)) {
      out.push({ message: name, field: key, path: at, support: 'unsupported', reason: `${name}.${key} is implemented only as ${s.values.map((v) => JSON.stringify(v)).join(' or ')} (${s.note})` });
      continue;
    }
    if (s.opaque) continue;
    field.resolve();
    const rt = field.resolvedType;
    if (!(rt instanceof protobuf.Type)) continue;
    if (field.map) for (const [k, v] of Object.entries(value as EnvoyJson)) visit(rt, v, `${at}[${k}]`, out);
    else if (Array.isArray(value)) value.forEach((v, i) => visit(rt, v, `${at}[${i}]`, out));
    else visit(rt, value, at, out);
  }
}

function visitAny(json: EnvoyJson, path: string, out: FieldFinding[]): void {
  if (typeof json['@type'] !== 'string') return;
  const inner = anyMessage(json);
  if (isLeaf(inner)) return;
  if (!ENVOY_SUPPORT[inner]) {
    // Whether a typed_config type is implemented is the registry's call (filters, transport
    // sockets...), which names it better; here the type only has to be in the table to be walked.
    out.push({ message: inner, field: '@type', path: `${path}<${inner}>`, support: 'unsupported', reason: `${inner} is not implemented` });
    return;
  }
  visit(messageType(inner), json, `${path}<${inner.slice(inner.lastIndexOf('.') + 1)}>`, out);
}
