/**
 * One full garbage collection once the proxy is LIVE. Why: start-up (loading some 400 modules,
 * validating and compiling the first configuration) leaves about 20 MB of garbage in V8's old
 * generation, which V8 collects only when that generation next fills up. A sidecar that sees
 * little traffic, most of them in a mesh, would hold it for good: an idle proxy measured 112 MB
 * RSS before such a collection and 87 MB after (PERFORMANCE.md, "Start-up garbage").
 *
 * Node has no API for a collection without --expose-gc. Setting that flag at run time and taking
 * `gc` from a new context is the usual way; on a runtime where it does not work (Bun), nothing
 * happens.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/** Runs a full collection now; false when this runtime offers none. */
export function collectGarbage(): boolean {
  try {
    setFlagsFromString('--expose-gc');
    const gc: unknown = runInNewContext('typeof gc === "function" ? gc : undefined');
    if (typeof gc !== 'function') return false;
    // 'last-resort': V8's collection of everything it can, which also compacts and gives the freed pages back at once.
    (gc as (o?: object) => void)({ type: 'major', execution: 'sync', flavor: 'last-resort' });
    return true;
  } catch {
    return false;
  }
}
