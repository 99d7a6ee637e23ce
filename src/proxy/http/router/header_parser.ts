/**
 * Envoy's HeaderParser: request/response headers_to_add (HeaderValueOption with append_action)
 * and headers_to_remove, compiled once per route config level (route config, virtual host,
 * route, weighted cluster). Evaluated in Envoy's order (most specific first, so the least
 * specific level wins for overwrites) unless most_specific_header_mutations_wins.
 */
import type { HeaderMap } from '../../interfaces.ts';
import type { EnvoyJson } from '../../../xds/types.ts';
import { compileHeaderValue, formatValue, type FormatContext, type HeaderValueFormatter } from '../common/formatter.ts';
import { appendHeader } from '../common/header_utils.ts';

const enum Action {
  AppendIfExistsOrAdd,
  AddIfAbsent,
  OverwriteIfExistsOrAdd,
  OverwriteIfExists,
}

interface HeaderOp {
  key: string;
  value: HeaderValueFormatter;
  action: Action;
  keepEmpty: boolean;
}

export interface HeaderParser {
  readonly empty: boolean;
  evaluate(h: HeaderMap, ctx: FormatContext): void;
}

const EMPTY: HeaderParser = { empty: true, evaluate() {} };

function parseAction(o: EnvoyJson): Action {
  switch (o.append_action) {
    case 'ADD_IF_ABSENT':
      return Action.AddIfAbsent;
    case 'OVERWRITE_IF_EXISTS_OR_ADD':
      return Action.OverwriteIfExistsOrAdd;
    case 'OVERWRITE_IF_EXISTS':
      return Action.OverwriteIfExists;
    case 'APPEND_IF_EXISTS_OR_ADD':
      return Action.AppendIfExistsOrAdd;
  }
  // Legacy BoolValue `append`: unset or true appends, false overwrites.
  return o.append === false ? Action.OverwriteIfExistsOrAdd : Action.AppendIfExistsOrAdd;
}

/** Headers Envoy never lets route config touch (pseudo-headers other than :authority, host). */
function forbidden(key: string): boolean {
  return (key.startsWith(':') && key !== ':authority') || key === 'host';
}

export function compileHeaderParser(add: EnvoyJson[] | undefined, remove: string[] | undefined): HeaderParser {
  const ops: HeaderOp[] = [];
  for (const o of add ?? []) {
    const key = String(o.header?.key ?? '').toLowerCase();
    if (!key) throw new Error('headers_to_add entry without header.key');
    if (forbidden(key)) throw new Error(`headers_to_add may not set ${key}`);
    const raw = o.header?.raw_value !== undefined ? Buffer.from(o.header.raw_value, 'base64').toString('latin1') : o.header?.value ?? '';
    ops.push({ key, value: compileHeaderValue(String(raw)), action: parseAction(o), keepEmpty: o.keep_empty_value === true });
  }
  const removes = (remove ?? []).map((k) => k.toLowerCase()).filter((k) => !k.startsWith(':') && k !== 'host');
  if (ops.length === 0 && removes.length === 0) return EMPTY;
  return {
    empty: false,
    evaluate(h, ctx) {
      for (let i = 0; i < removes.length; i++) h.delete(removes[i]);
      for (let i = 0; i < ops.length; i++) {
        const op = ops[i];
        const v = formatValue(op.value, ctx);
        if (v === '' && !op.keepEmpty) continue;
        switch (op.action) {
          case Action.AppendIfExistsOrAdd:
            appendHeader(h, op.key, v);
            break;
          case Action.AddIfAbsent:
            if (!h.has(op.key)) h.set(op.key, v);
            break;
          case Action.OverwriteIfExistsOrAdd:
            h.set(op.key, v);
            break;
          case Action.OverwriteIfExists:
            if (h.has(op.key)) h.set(op.key, v);
            break;
        }
      }
    },
  };
}
