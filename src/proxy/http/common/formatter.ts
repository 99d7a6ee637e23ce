/**
 * Envoy's substitution formatter, one command table for two uses: custom header values
 * (%DOWNSTREAM_REMOTE_ADDRESS%, %REQ(x-foo)%, ...; an unset value is empty) and access log
 * lines (text: an unset value is "-"; JSON: a lone command keeps its type, unset is null).
 * Formats are compiled once per config into literal text and command parts, so a constant
 * costs nothing per request. Unknown commands throw: the config is rejected, as Envoy does.
 */
import { hostname } from 'node:os';
import type { HeaderMap, StreamInfo } from '../../interfaces.ts';
import { getHeader } from './header_utils.ts';

export interface FormatContext {
  info: StreamInfo;
  requestHeaders?: HeaderMap;
  responseHeaders?: HeaderMap;
}

type Value = string | number | undefined;
type Command = (c: FormatContext) => Value;
type Part = string | Command;
export type HeaderValueFormatter = string | ((c: FormatContext) => string);

const HOST = hostname();

function addr(ip: string | undefined, port: number | undefined): string | undefined {
  if (!ip) return undefined;
  return ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`;
}

let lastSecond = NaN;
let secondPrefix = '';
const MILLIS = Array.from({ length: 1000 }, (_, i) => String(i).padStart(3, '0'));
/**
 * Date.toISOString() without a Date per stream: "YYYY-MM-DDTHH:MM:SS." is kept for the current
 * second (every stream of that second shares it), the milliseconds come from a table.
 */
function isoTime(time: number): string {
  const ms = Math.trunc(time); // as Date's TimeClip
  const second = Math.floor(ms / 1000);
  if (second !== lastSecond) {
    secondPrefix = new Date(second * 1000).toISOString().slice(0, -4);
    lastSecond = second;
  }
  return `${secondPrefix}${MILLIS[ms - second * 1000]}Z`;
}

const COMMANDS: Record<string, Command> = {
  // Envoy: the client address the HCM trusts (x-forwarded-for), port 0 when it came from a header.
  DOWNSTREAM_REMOTE_ADDRESS: (c) =>
    c.info.downstreamRemoteAddress ? addr(c.info.downstreamRemoteAddress, 0) : addr(c.info.connection.remoteAddress, c.info.connection.remotePort),
  DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT: (c) => c.info.downstreamRemoteAddress ?? c.info.connection.remoteAddress,
  DOWNSTREAM_REMOTE_PORT: (c) => c.info.connection.remotePort,
  DOWNSTREAM_DIRECT_REMOTE_ADDRESS: (c) => addr(c.info.connection.remoteAddress, c.info.connection.remotePort),
  DOWNSTREAM_DIRECT_REMOTE_ADDRESS_WITHOUT_PORT: (c) => c.info.connection.remoteAddress,
  DOWNSTREAM_LOCAL_ADDRESS: (c) => addr(c.info.connection.localAddress, c.info.connection.localPort),
  DOWNSTREAM_LOCAL_ADDRESS_WITHOUT_PORT: (c) => c.info.connection.localAddress,
  DOWNSTREAM_LOCAL_PORT: (c) => c.info.connection.localPort,
  DOWNSTREAM_PEER_URI_SAN: (c) => c.info.connection.peerCertificateUris?.join(',') || undefined,
  REQUESTED_SERVER_NAME: (c) => c.info.connection.serverName || undefined,
  UPSTREAM_HOST: (c) => c.info.upstreamHost?.address,
  UPSTREAM_REMOTE_ADDRESS: (c) => c.info.upstreamHost?.address,
  UPSTREAM_LOCAL_ADDRESS: (c) => c.info.upstreamLocalAddress,
  UPSTREAM_CLUSTER: (c) => c.info.upstreamCluster,
  // Envoy: the cluster's name even when it has an alt_stat_name (which this proxy does not apply).
  UPSTREAM_CLUSTER_RAW: (c) => c.info.upstreamCluster,
  UPSTREAM_TRANSPORT_FAILURE_REASON: (c) => c.info.upstreamTransportFailureReason,
  PROTOCOL: (c) => c.info.protocol,
  HOSTNAME: () => HOST,
  START_TIME: (c) => isoTime(c.info.startTime),
  // Envoy: 0 means no response was started (TCP streams have no response code at all).
  RESPONSE_CODE: (c) => (c.info.protocol ? c.info.responseCode ?? 0 : undefined),
  RESPONSE_CODE_DETAILS: (c) => c.info.responseCodeDetails,
  CONNECTION_TERMINATION_DETAILS: (c) => c.info.connectionTerminationDetails,
  RESPONSE_FLAGS: (c) => (c.info.responseFlags.length ? c.info.responseFlags.join(',') : '-'),
  BYTES_RECEIVED: (c) => c.info.bytesReceived,
  BYTES_SENT: (c) => c.info.bytesSent,
  DURATION: (c) => (c.info.endTime === undefined ? undefined : c.info.endTime - c.info.startTime),
  UPSTREAM_REQUEST_ATTEMPT_COUNT: (c) => c.info.attemptCount,
  ROUTE_NAME: (c) => c.info.routeName,
  VIRTUAL_CLUSTER_NAME: () => undefined,
};

/** Splits a format string into literals and commands. */
function compileParts(format: string): Part[] {
  const parts: Part[] = [];
  let i = 0;
  let lit = '';
  while (i < format.length) {
    const ch = format[i];
    if (ch !== '%') {
      lit += ch;
      i++;
      continue;
    }
    if (format[i + 1] === '%') {
      lit += '%';
      i += 2;
      continue;
    }
    const end = format.indexOf('%', i + 1);
    if (end < 0) throw new Error(`unterminated %COMMAND% in ${JSON.stringify(format)}`);
    if (lit) parts.push(lit), (lit = '');
    parts.push(compileCommand(format.slice(i + 1, end), format));
    i = end + 1;
  }
  if (lit) parts.push(lit);
  return parts;
}

/** Compiles one header value (unset values are empty). */
export function compileHeaderValue(value: string): HeaderValueFormatter {
  if (!value.includes('%')) return value;
  const parts = compileParts(value);
  return (c) => {
    let s = '';
    for (const p of parts) s += typeof p === 'string' ? p : p(c) ?? '';
    return s;
  };
}

/** Compiles an access-log text format: unset values print as "-". */
export function compileTextFormat(format: string): (c: FormatContext) => string {
  const parts = compileParts(format);
  return (c) => {
    let s = '';
    for (const p of parts) {
      if (typeof p === 'string') s += p;
      else {
        const v = p(c);
        s += v === undefined || v === '' ? '-' : v;
      }
    }
    return s;
  };
}

type JsonValue = unknown;

/**
 * Compiles an access-log json_format (a Struct): a string that is exactly one command keeps the
 * command's type (numbers stay numbers, unset is null); other strings are text formats; nested
 * objects are formatted recursively; other JSON values are copied.
 */
export function compileJsonFormat(format: Record<string, JsonValue>, omitEmpty = false): (c: FormatContext) => string {
  const fmt = compileJsonObject(format, omitEmpty);
  return (c) => JSON.stringify(fmt(c));
}

function compileJsonObject(format: Record<string, JsonValue>, omitEmpty: boolean): (c: FormatContext) => Record<string, JsonValue> {
  const entries = Object.entries(format).map(([k, v]) => [k, compileJsonValue(v, omitEmpty)] as const);
  return (c) => {
    const out: Record<string, JsonValue> = {};
    for (const [k, f] of entries) {
      const v = f(c);
      if (omitEmpty && (v === null || v === '')) continue;
      out[k] = v;
    }
    return out;
  };
}

function compileJsonValue(v: JsonValue, omitEmpty: boolean): (c: FormatContext) => JsonValue {
  if (typeof v === 'string') {
    const parts = compileParts(v);
    if (parts.length === 1 && typeof parts[0] !== 'string') {
      const cmd = parts[0];
      return (c) => cmd(c) ?? null;
    }
    const text = compileTextFormat(v);
    return (c) => text(c);
  }
  if (v && typeof v === 'object' && !Array.isArray(v)) return compileJsonObject(v as Record<string, JsonValue>, omitEmpty);
  return () => v;
}

/** REQ(A?B):N / RESP(A?B):N: the first header present, truncated to N characters. */
function headerCommand(spec: string, max: number | undefined, pick: (c: FormatContext) => HeaderMap | undefined): Command {
  const names = spec.split('?').map((n) => n.trim().toLowerCase());
  return (c) => {
    const h = pick(c);
    if (!h) return undefined;
    for (const n of names) {
      const v = getHeader(h, n);
      if (v !== undefined) return max === undefined ? v : v.slice(0, max);
    }
    return undefined;
  };
}

function compileCommand(cmd: string, whole: string): Command {
  const hdr = /^(REQ|RESP)\(([^)]+)\)(?::(\d+))?$/.exec(cmd);
  if (hdr) {
    const max = hdr[3] === undefined ? undefined : Number(hdr[3]);
    return headerCommand(hdr[2], max, hdr[1] === 'REQ' ? (c) => c.requestHeaders : (c) => c.responseHeaders);
  }
  const dm = /^DYNAMIC_METADATA\(([^)]+)\)(?::(\d+))?$/.exec(cmd);
  if (dm) return dynamicMetadataCommand(dm[1]!, dm[2] === undefined ? undefined : Number(dm[2]));
  const f = COMMANDS[cmd];
  if (!f) throw new Error(`unsupported formatter command %${cmd}% in ${JSON.stringify(whole)}`);
  return f;
}

/**
 * %DYNAMIC_METADATA(NAMESPACE:KEY*):Z%: a filter's dynamic metadata (rbac's shadow result of a
 * dry-run policy, jwt_authn's payload), walked by KEY path; a struct or list prints as JSON.
 */
function dynamicMetadataCommand(spec: string, max: number | undefined): Command {
  const [ns, ...path] = spec.split(':');
  return (c) => {
    let v: unknown = c.info.dynamicMetadata?.get(ns!);
    for (const k of path) v = v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>)[k] : undefined;
    if (v === undefined || v === null) return undefined;
    const out = typeof v === 'string' ? v : typeof v === 'number' ? v : JSON.stringify(v);
    return max !== undefined && typeof out === 'string' ? out.slice(0, max) : out;
  };
}

export function formatValue(f: HeaderValueFormatter, c: FormatContext): string {
  return typeof f === 'string' ? f : f(c);
}
