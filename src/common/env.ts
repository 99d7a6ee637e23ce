/**
 * Numeric settings from the environment. A value that is set but not a positive number is an
 * error naming the variable, never silently replaced by the default.
 */

/** `name` as a positive number, or `fallback` when unset or empty. */
export function positiveNumberEnv(name: string, fallback: number, env: NodeJS.ProcessEnv = process.env): number {
  const raw = env[name]?.trim();
  if (!raw) return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${name}=${JSON.stringify(env[name])} is not a positive number (unset it for the default, ${fallback})`);
  return n;
}
