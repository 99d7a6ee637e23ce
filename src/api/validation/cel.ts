/**
 * Apply-time check of Telemetry CEL expressions with the proxy's own compiler (one vocabulary for
 * both planes): an expression the proxy would NACK is rejected here, naming the position.
 */
import { compileCel } from '../../proxy/cel/expression.ts';
import type { Problems } from './common.ts';

/** Reports `path: <reason> at position N` when `expr` does not compile (to `expect`, when given). */
export function checkCel(p: Problems, path: string, expr: string, expect?: string): void {
  const c = compileCel(expr, expect);
  if (!c.ok) p.err(path, `${c.message} at position ${c.position}`);
}
