/**
 * A small flag parser for tsmesh's commands: `--name value`, `--name=value`, short aliases,
 * repeatable flags, booleans. Errors are sentences for the user, not exceptions.
 */

export interface FlagSpec {
  /** Long name without dashes. */
  name: string;
  alias?: string;
  /** Takes a value (default) or is a boolean switch. */
  boolean?: boolean;
  repeat?: boolean;
}

export type Flags = Record<string, string[] | boolean | undefined>;

export type FlagResult = { ok: true; flags: Flags; rest: string[] } | { ok: false; error: string };

export function parseFlags(argv: readonly string[], specs: readonly FlagSpec[]): FlagResult {
  const flags: Flags = {};
  const rest: string[] = [];
  const find = (key: string) => specs.find((s) => (key.startsWith('--') ? s.name === key.slice(2) : s.alias !== undefined && s.alias === key.slice(1)));
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '-' || !a.startsWith('-')) {
      rest.push(a);
      continue;
    }
    const eq = a.indexOf('=');
    const key = eq > 0 ? a.slice(0, eq) : a;
    const spec = find(key);
    if (!spec) return { ok: false, error: `unknown flag ${key}` };
    if (spec.boolean) {
      flags[spec.name] = true;
      continue;
    }
    const value = eq > 0 ? a.slice(eq + 1) : argv[++i];
    if (value === undefined || value === '') return { ok: false, error: `${key} needs a value` };
    const prev = flags[spec.name];
    if (Array.isArray(prev) && !spec.repeat) return { ok: false, error: `${key} given twice` };
    flags[spec.name] = [...(Array.isArray(prev) ? prev : []), value];
  }
  return { ok: true, flags, rest };
}

/** The single value of a flag, if given. */
export function one(flags: Flags, name: string): string | undefined {
  const v = flags[name];
  return Array.isArray(v) ? v[0] : undefined;
}

export function all(flags: Flags, name: string): string[] {
  const v = flags[name];
  return Array.isArray(v) ? v : [];
}

/** A TCP port from a flag value, or an error sentence. */
export function parsePort(value: string, flag: string): number | string {
  const n = Number(value);
  return Number.isInteger(n) && n > 0 && n < 65536 ? n : `${flag} must be a port number (1-65535), got ${JSON.stringify(value)}`;
}
