/**
 * The one wait-for-a-condition helper of the tests: calls `check` every `intervalMs` until it
 * returns something other than false/undefined (and resolves with that), or `timeoutMs` passes
 * (then throws naming `what`, with the last error `check` threw). `check` may be async.
 *
 *   await until(() => proxy.listeners().length === 2, 'two listeners');
 *   const row = await until(async () => (await syncz()).find((r) => r.synced), 'a synced proxy', 30_000);
 */
export async function until<T>(
  check: () => T | undefined | false | Promise<T | undefined | false>,
  what = 'condition',
  timeoutMs = 5000,
  intervalMs = 10,
): Promise<Exclude<T, undefined | false>> {
  const deadline = performance.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined && v !== false) return v as Exclude<T, undefined | false>;
    } catch (e) {
      last = e;
    }
    if (performance.now() > deadline) {
      throw new Error(`${what} not met in ${timeoutMs} ms${last ? `: ${last instanceof Error ? last.message : String(last)}` : ''}`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
