/**
 * Stops the demo when whoever started it goes away, signals or not. `npx tsmesh demo` runs as
 *
 *   npm exec (node) ──► sh -c 'tsmesh demo' ──► node bin/tsmesh.js demo (us)
 *
 * and npm forwards only SIGINT and SIGTERM, only to the shell: SIGTERM kills the shell and
 * never reaches us; SIGINT is held by the shell until its child (us) exits, so it never reaches
 * us either; SIGHUP or SIGKILL kill npm alone. What we can observe, on Linux through /proc:
 *  - a link of the chain breaks: our parent, or the parent of a process in the chain, is no
 *    longer the one recorded at start (the kernel re-parents orphans at once, even before the
 *    dead process is reaped);
 *  - the shell woke up: a `sh -c` waiting for its only child sleeps in wait() and wakes only
 *    for a signal (or its child stopping, which job control's SIGCONT tells us about), so a
 *    rise in its voluntary context switches means npm forwarded it a signal.
 * Elsewhere (no /proc) only our own parent is watched, through process.ppid.
 */
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { systemClock, type Clock, type Timer } from '../common/clock.ts';

export interface ProcReader {
  /** The parent of `pid`, or undefined when it is gone or cannot be read. */
  ppid(pid: number): number | undefined;
  /** How often `pid` went to sleep voluntarily so far (Linux), or undefined. */
  wakeups(pid: number): number | undefined;
  /** Its command line, or undefined. */
  argv(pid: number): string[] | undefined;
}

export const linuxProc: ProcReader = {
  ppid(pid) {
    const stat = read(`/proc/${pid}/stat`);
    // "pid (comm) state ppid ...": comm may hold spaces and parentheses; the last ')' ends it.
    const m = stat === undefined ? null : /^\d+ \(.*\) (\S) (\d+)/s.exec(stat);
    if (!m || m[1] === 'Z' || m[1] === 'X') return undefined;
    return Number(m[2]);
  },
  wakeups(pid) {
    const m = /^voluntary_ctxt_switches:\s*(\d+)/m.exec(read(`/proc/${pid}/status`) ?? '');
    return m ? Number(m[1]) : undefined;
  },
  argv(pid) {
    const raw = read(`/proc/${pid}/cmdline`);
    return raw === undefined ? undefined : raw.split('\0').filter((a, i, all) => a !== '' || i < all.length - 1);
  },
};

function read(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

export interface Ancestor {
  pid: number;
  /** For messages: "npm exec tsmesh demo", "sh -c 'tsmesh' 'demo'". */
  what: string;
  /** A `sh -c` between npm and us: a signal shows only as it waking up. */
  shell: boolean;
}

/** `sh -c ...` (any of the usual shells). */
function isShell(argv: readonly string[]): boolean {
  return /^(sh|dash|bash|zsh|ash|ksh)$/.test(basename(argv[0] ?? '')) && argv[1] === '-c';
}

/** npm's own process (its title is "npm exec ..." / "npm run ...", or node running npm-cli.js / npx-cli.js). */
function isNpm(argv: readonly string[]): boolean {
  return /^(npm|npx)(\s|$)/.test(argv[0] ?? '') || argv.some((a) => /(^|\/)(npm|npx)(-cli\.js)?$/.test(a));
}

/**
 * The processes whose going away means ours must stop: our parent, and when npm started us
 * (npx, npm exec: it sets npm_* variables), every process up to and including npm.
 */
export function ancestorChain(proc: ProcReader = linuxProc, env: NodeJS.ProcessEnv = process.env, ppid = process.ppid): Ancestor[] {
  const describe = (pid: number, argv: string[] | undefined): Ancestor => ({
    pid,
    what: argv && argv.length > 0 ? argv.join(' ').slice(0, 80) : `pid ${pid}`,
    shell: argv !== undefined && isShell(argv),
  });
  const first = describe(ppid, proc.argv(ppid));
  if (!env.npm_execpath && !env.npm_lifecycle_event) return [first];
  const chain = [first];
  let pid = ppid;
  for (let depth = 0; depth < 4; depth++) {
    const argv = proc.argv(pid);
    if (argv && isNpm(argv)) return chain;
    const parent = proc.ppid(pid);
    if (parent === undefined || parent <= 1) break;
    chain.push(describe(parent, proc.argv(parent)));
    pid = parent;
  }
  // No npm above us after all: our parent alone.
  return [first];
}

export interface WatchOptions {
  clock?: Clock;
  intervalMs?: number;
  proc?: ProcReader;
  /** Our own parent now (process.ppid is read at each check). */
  ownPpid?: () => number;
  chain?: Ancestor[];
}

/**
 * Calls `onGone` once with a sentence saying what happened, when a launcher exits or a signal
 * reaches the shell between npm and us. Returns a function that stops watching.
 */
export function watchAncestors(onGone: (why: string) => void, o: WatchOptions = {}): () => void {
  const clock = o.clock ?? systemClock;
  const proc = o.proc ?? linuxProc;
  const ownPpid = o.ownPpid ?? (() => process.ppid);
  const chain = o.chain ?? ancestorChain(proc);
  const baseline = new Map(chain.filter((l) => l.shell).map((l) => [l.pid, proc.wakeups(l.pid)]));
  let continued = false;
  let suspect: number | undefined;
  const onCont = () => (continued = true);
  // Job control (Ctrl-Z, then fg) wakes the shell too, and tells us with SIGCONT.
  process.on('SIGCONT', onCont);
  let timer: Timer | undefined;
  const stop = () => {
    timer?.cancel();
    timer = undefined;
    process.off('SIGCONT', onCont);
  };
  const gone = (why: string) => {
    stop();
    onGone(why);
  };
  const check = () => {
    if (ownPpid() !== chain[0]!.pid) return gone(`${chain[0]!.what} (pid ${chain[0]!.pid}), which started the demo, exited`);
    for (let i = 1; i < chain.length; i++) {
      if (proc.ppid(chain[i - 1]!.pid) !== chain[i]!.pid) return gone(`${chain[i]!.what} (pid ${chain[i]!.pid}), which started the demo, exited`);
    }
    // A wake is acted on at the next check, unless SIGCONT explains it by then (its handler
    // and this timer run in either order after a resume).
    if (continued) {
      continued = false;
      suspect = undefined;
      for (const pid of baseline.keys()) baseline.set(pid, proc.wakeups(pid));
      return;
    }
    if (suspect !== undefined) {
      const l = chain.find((x) => x.pid === suspect)!;
      return gone(`a signal reached ${l.what} (pid ${l.pid}), the shell npm started the demo with`);
    }
    for (const [pid, before] of baseline) {
      const now = proc.wakeups(pid);
      if (before !== undefined && now !== undefined && now > before) suspect = pid;
    }
  };
  timer = clock.every(o.intervalMs ?? 250, check);
  return stop;
}
