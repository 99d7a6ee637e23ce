/**
 * What the namespace had before `tsmesh init`, so `--cleanup` can leave it exactly as it was:
 * iptables (nf_tables variant) creates a table the first time a rule goes into it, and an empty
 * table init made must go again; ::6 on lo must stay if it was there before. Kept per network
 * namespace (by its inode) under /run, which outlives the init process but not a reboot.
 */
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { BUILTIN_CHAINS, type Family } from './iptables_rules.ts';

export interface CaptureState {
  /** Tables iptables-save / ip6tables-save listed before init. */
  tables: Record<Family, string[]>;
  /** Whether lo already had ::6. */
  hadLoopback6: boolean;
}

export const STATE_DIR = '/run/tsmesh/capture';

function statePath(): string {
  return `${STATE_DIR}/net-${statSync('/proc/self/ns/net').ino}.json`;
}

export function readState(): CaptureState | undefined {
  try {
    return JSON.parse(readFileSync(statePath(), 'utf8')) as CaptureState;
  } catch {
    return undefined;
  }
}

export function writeState(s: CaptureState): void {
  const p = statePath();
  mkdirSync(dirname(p), { recursive: true });
  pruneDeadNamespaces();
  writeFileSync(p, `${JSON.stringify(s)}\n`);
}

/**
 * A record younger than this is never pruned: another `tsmesh init` (a namespace created after the
 * live set below was read) may just have written it.
 */
export const PRUNE_MIN_AGE_MS = 5 * 60_000;

/**
 * Records of namespaces that no longer exist (removed without --cleanup) are dropped. Only old
 * records are candidates, and each is checked again (still old, namespace still absent) right
 * before it goes, so a concurrent init's fresh record is never lost.
 */
export function pruneDeadNamespaces(dir = STATE_DIR, now = Date.now()): void {
  const list = (d: string) => {
    try {
      return readdirSync(d);
    } catch {
      return [];
    }
  };
  const old = (f: string) => {
    try {
      return now - statSync(`${dir}/${f}`).mtimeMs > PRUNE_MIN_AGE_MS;
    } catch {
      return false;
    }
  };
  const candidates = list(dir).filter((f) => /^net-\d+\.json$/.test(f) && old(f));
  if (!candidates.length) return;
  const liveNow = (): Set<string> => {
    const live = new Set<string>();
    const add = (path: string) => {
      try {
        live.add(String(statSync(path).ino));
      } catch {
        // gone meanwhile, or not ours to read
      }
    };
    for (const n of list('/run/netns')) add(`/run/netns/${n}`);
    for (const pid of list('/proc')) if (/^\d+$/.test(pid)) add(`/proc/${pid}/ns/net`);
    return live;
  };
  const dead = (live: Set<string>) => candidates.filter((f) => !live.has(/^net-(\d+)/.exec(f)![1]!));
  const first = dead(liveNow());
  if (!first.length) return;
  const second = new Set(dead(liveNow()));
  for (const f of first) if (second.has(f) && old(f)) rmSync(`${dir}/${f}`, { force: true });
}

export function removeState(): void {
  rmSync(statePath(), { force: true });
}

/** The tables in an iptables-save output. */
export function savedTables(text: string): string[] {
  return text
    .split('\n')
    .filter((l) => l.startsWith('*'))
    .map((l) => l.slice(1).trim());
}

/** Tables with nothing in them: built-in chains only, ACCEPT policies, no rules. */
export function emptyTables(text: string): string[] {
  const out: string[] = [];
  let table: string | undefined;
  let empty = true;
  for (const l of text.split('\n')) {
    if (l.startsWith('*')) {
      table = l.slice(1).trim();
      empty = true;
    } else if (l === 'COMMIT') {
      if (table && empty) out.push(table);
      table = undefined;
    } else if (l.startsWith(':')) {
      const [chain, policy] = l.slice(1).split(' ');
      if (!BUILTIN_CHAINS.has(chain!) || policy !== 'ACCEPT') empty = false;
    } else if (l.startsWith('-')) {
      empty = false;
    }
  }
  return out;
}
