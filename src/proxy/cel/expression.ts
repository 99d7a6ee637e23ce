/**
 * CEL expressions over Envoy's attributes (Istio's Telemetry accessLogging filter, tagOverrides
 * values), on @marcbachmann/cel-js. Compiled once at config time: parsed and type-checked against
 * the declared vocabulary (./attributes.ts), so a syntax error, an unknown attribute or a type
 * mismatch is reported with its character position (0-based) instead of evaluating to false per
 * request. Evaluation is one call on a lazy activation; a run-time error (an attribute the stream
 * does not have, e.g. response.code before any response) yields undefined, as Envoy treats a CEL
 * error: an access-log filter then does not match.
 */
import type { Environment } from '@marcbachmann/cel-js';
import { CEL_VOCABULARY, celJs, type CelAttributes } from './attributes.ts';

export { celAttributes, type CelAttributes } from './attributes.ts';

export type CelProgram = { ok: true; type: string; eval(attrs: CelAttributes): unknown };
export type CelCompileError = { ok: false; position: number; message: string };

function buildEnvironment(): Environment {
  let e = new (celJs().Environment)({ limits: { maxAstNodes: 1000, maxDepth: 50 } });
  for (const v of CEL_VOCABULARY) {
    e = e.registerType(v.type, { ctor: v.ctor as unknown as new (...a: never[]) => object, fields: { ...v.fields } } as never);
    e = e.registerVariable(v.root, v.type);
  }
  return e;
}

// Building an environment is the expensive part: once, on the first expression (a proxy with no
// CEL configured never pays for it), then shared by every expression.
let env: Environment | undefined;

/** Names of the attributes the vocabulary declares, for messages. */
const ROOTS = CEL_VOCABULARY.map((v) => v.root).join(', ');

interface LibError {
  message?: string;
  range?: { start: number };
  node?: { pos?: number };
}

function compileError(expr: string, e: unknown): CelCompileError {
  const err = e as LibError;
  const position = err.range?.start ?? err.node?.pos ?? 0;
  // The library appends a source excerpt with a caret after the first line; keep the summary.
  let message = (err.message ?? String(e)).split('\n')[0]!.trim();
  const unknownRoot = /^Unknown variable: (\S+)/.exec(message);
  if (unknownRoot) message = `unknown attribute ${unknownRoot[1]} (supported: ${ROOTS})`;
  const unknownField = /^No such key: (\S+)/.exec(message);
  if (unknownField) {
    const owner = /([A-Za-z_][\w.]*)\.\s*$/.exec(expr.slice(0, position))?.[1];
    message = `unsupported attribute ${owner ? `${owner}.` : ''}${unknownField[1]}`;
  }
  return { ok: false, position, message };
}

/**
 * Compiles `expr`; `expect` (e.g. 'bool' for a filter, 'string' for a tag value) also checks the
 * result type at compile time.
 */
export function compileCel(expr: string, expect?: string): CelProgram | CelCompileError {
  let program: ReturnType<Environment['parse']>;
  try {
    program = (env ??= buildEnvironment()).parse(expr);
  } catch (e) {
    return compileError(expr, e);
  }
  const checked = program.check();
  if (!checked.valid) return compileError(expr, checked.error);
  const type = checked.type ?? 'dyn';
  if (expect && type !== expect && type !== 'dyn') {
    return { ok: false, position: 0, message: `expression has type ${type}, expected ${expect}` };
  }
  return {
    ok: true,
    type,
    eval(attrs: CelAttributes): unknown {
      try {
        return program(attrs);
      } catch {
        return undefined;
      }
    },
  };
}

/** Compiles and throws `where: message at position N` (the proxy's NACK and the validator's message). */
export function compileCelOrThrow(expr: string, where: string, expect?: string): CelProgram {
  const c = compileCel(expr, expect);
  if (!c.ok) throw new Error(`${where}: ${c.message} at position ${c.position}`);
  return c;
}
