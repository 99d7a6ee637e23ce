/**
 * Envoy's AccessLog.filter (envoy.config.accesslog.v3.AccessLogFilter): decides per finished
 * stream whether a logger writes a line. Compiled once per config into a predicate; what Istio
 * emits for a Telemetry `filter.expression` is the extension_filter with the CEL ExpressionFilter
 * (../../cel/expression.ts), type-checked here so a bad expression NACKs the listener. Also
 * status_code_filter, duration_filter, response_flag_filter, grpc_status_filter,
 * not_health_check_filter and and_filter / or_filter. Anything else is rejected by name.
 */
import type { EnvoyJson } from '../../../xds/types.ts';
import { ACCESS_LOG_FILTER } from '../../../xds/type_urls.ts';
import type { StreamInfo } from '../../interfaces.ts';
import { celAttributes, compileCelOrThrow } from '../../cel/expression.ts';
import { httpToGrpcStatus } from './grpc_status.ts';

export type AccessLogPredicate = (info: StreamInfo) => boolean;

/** Envoy's ResponseFlagFilter accepts these short names. */
const RESPONSE_FLAGS = new Set(['LH', 'UH', 'UT', 'LR', 'UR', 'UF', 'UC', 'UO', 'NR', 'DI', 'FI', 'RL', 'UAEX', 'RLSE', 'DC', 'URX', 'SI', 'IH', 'DPE', 'UMSDR', 'RFCF', 'NFCF', 'DT', 'UPE', 'NC', 'OM', 'DF', 'DO']);

/** gRPC status names (GrpcStatusFilter.Status) in code order. */
const GRPC_STATUS = ['OK', 'CANCELED', 'UNKNOWN', 'INVALID_ARGUMENT', 'DEADLINE_EXCEEDED', 'NOT_FOUND', 'ALREADY_EXISTS', 'PERMISSION_DENIED', 'RESOURCE_EXHAUSTED', 'FAILED_PRECONDITION', 'ABORTED', 'OUT_OF_RANGE', 'UNIMPLEMENTED', 'INTERNAL', 'UNAVAILABLE', 'DATA_LOSS', 'UNAUTHENTICATED'];

export function compileAccessLogFilter(f: EnvoyJson, at: string): AccessLogPredicate {
  if (!f || typeof f !== 'object') throw new Error(`${at}: must be an AccessLogFilter`);
  const keys = Object.keys(f);
  if (keys.length !== 1) throw new Error(`${at}: exactly one filter kind must be set (got ${keys.join(', ') || 'none'})`);
  const kind = keys[0]!;
  const v = f[kind];
  const here = `${at}.${kind}`;
  switch (kind) {
    case 'extension_filter':
      return extensionFilter(v, here);
    case 'status_code_filter': {
      const cmp = comparison(v?.comparison, `${here}.comparison`);
      // Envoy compares 0 when no response code was set.
      return (i) => cmp(i.responseCode ?? 0);
    }
    case 'duration_filter': {
      const cmp = comparison(v?.comparison, `${here}.comparison`);
      // Envoy's DurationFilter does not match when the stream has no duration (no end time).
      return (i) => i.endTime !== undefined && cmp(i.endTime - i.startTime);
    }
    case 'response_flag_filter': {
      const flags: string[] = Array.isArray(v?.flags) ? v.flags.map(String) : [];
      for (const fl of flags) if (!RESPONSE_FLAGS.has(fl)) throw new Error(`${here}.flags: unknown response flag ${fl}`);
      if (flags.length === 0) return (i) => i.responseFlags.length > 0;
      const want = new Set(flags);
      return (i) => i.responseFlags.some((fl) => want.has(fl));
    }
    case 'grpc_status_filter':
      return grpcStatusFilter(v, here);
    case 'not_health_check_filter':
      // Only Envoy's health_check HTTP filter marks a request as a health check; this proxy does
      // not run it, so no request is one and the filter passes everything.
      return () => true;
    case 'and_filter':
    case 'or_filter': {
      const subs = Array.isArray(v?.filters) ? v.filters.map((s: EnvoyJson, k: number) => compileAccessLogFilter(s, `${here}.filters[${k}]`)) : [];
      if (subs.length < 2) throw new Error(`${here}.filters: at least two filters are required`);
      return kind === 'and_filter' ? (i) => subs.every((p: AccessLogPredicate) => p(i)) : (i) => subs.some((p: AccessLogPredicate) => p(i));
    }
    default:
      throw new Error(`${here}: access log filter ${kind} is not supported`);
  }
}

function extensionFilter(v: EnvoyJson, at: string): AccessLogPredicate {
  const t = v?.typed_config;
  if (t?.['@type'] !== ACCESS_LOG_FILTER.CEL) throw new Error(`${at}.typed_config: access log filter ${t?.['@type'] ?? v?.name} is not supported (only ${ACCESS_LOG_FILTER.CEL})`);
  if (typeof t.expression !== 'string' || !t.expression.trim()) throw new Error(`${at}.typed_config.expression: required`);
  const program = compileCelOrThrow(t.expression, `${at}.typed_config.expression`, 'bool');
  // A CEL error (an attribute the stream lacks) does not match, as in Envoy.
  return (i) => program.eval(celAttributes(i)) === true;
}

/** ComparisonFilter: op EQ / GE / LE against value.default_value (no runtime layer). */
function comparison(c: EnvoyJson, at: string): (n: number) => boolean {
  const op = c?.op ?? 'EQ';
  const value = Number(c?.value?.default_value ?? 0);
  if (!Number.isFinite(value)) throw new Error(`${at}.value.default_value: must be a number`);
  if (op === 'EQ' || op === 0) return (n) => n === value;
  if (op === 'GE' || op === 1) return (n) => n >= value;
  if (op === 'LE' || op === 2) return (n) => n <= value;
  throw new Error(`${at}.op: unknown comparison ${op}`);
}

function grpcStatusFilter(v: EnvoyJson, at: string): AccessLogPredicate {
  const codes = new Set<number>();
  for (const s of Array.isArray(v?.statuses) ? v.statuses : []) {
    const n = typeof s === 'number' ? s : GRPC_STATUS.indexOf(String(s));
    if (n < 0 || n >= GRPC_STATUS.length) throw new Error(`${at}.statuses: unknown gRPC status ${s}`);
    codes.add(n);
  }
  const exclude = v?.exclude === true;
  return (i) => {
    const raw = i.responseTrailers?.get('grpc-status') ?? i.responseHeaders?.get('grpc-status');
    // Envoy: without grpc-status, the status the HTTP code maps to (Grpc::Utility::httpToGrpcStatus).
    const code = typeof raw === 'string' && /^\d+$/.test(raw) ? Number(raw) : httpToGrpcStatus(i.responseCode ?? 0);
    return codes.has(code) !== exclude;
  };
}

