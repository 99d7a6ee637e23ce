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

/** Records of namespaces that no longer exist (removed without --cleanup) are dropped. */
function pruneDeadNamespaces(): void {
  const live = new Set<string>();
  const add = (path: string) => {
    try {
      live.add(String(statSync(path).ino));
    } catch {
      // gone meanwhile, or not ours to read
    }
  };
  const list = (dir: string) => {
    try {
      return readdirSync(dir);
    } catch {
      return [];
    }
  };
  for (const n of list('/run/netns')) add(`/run/netns/${n}`);
  for (const pid of list('/proc')) if (/^\d+$/.test(pid)) add(`/proc/${pid}/ns/net`);
  for (const f of list(STATE_DIR)) {
    const m = /^net-(\d+)\.json$/.exec(f);
    if (m && !live.has(m[1]!)) rmSync(`${STATE_DIR}/${f}`, { force: true });
  }
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
