/**
 * Starts child processes, each in its own process group with its output in a log file, and
 * stops them all: SIGTERM to every group, wait, SIGKILL what is left. Groups (not pids) are
 * signalled so that anything a child forks goes too, and nothing outlives the demo. Node
 * children also get exit_with_parent.mjs preloaded: they stop by themselves if the demo dies
 * without stopping them (SIGKILL). Other programs are covered only by the demo's own stop.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { systemClock, type Clock } from '../common/clock.ts';

/** `--import` this into Node children: they exit when their parent (the demo) is gone. */
export const EXIT_WITH_PARENT = new URL('./exit_with_parent.mjs', import.meta.url).href;

export interface ProcessSpec {
  /** Short name shown to users ("reviews-v2", "reviews-v2 sidecar"). */
  name: string;
  command: string;
  args: string[];
  env?: Record<string, string>;
  cwd?: string;
  /** stdout and stderr are appended here. */
  logFile: string;
}

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** One child process started by a Supervisor. */
export class ManagedProcess {
  readonly pid: number;
  /** Resolves once the process has exited (never rejects). */
  readonly exited: Promise<ExitInfo>;
  exitInfo: ExitInfo | undefined;
  /** Set when spawning itself failed (ENOENT...). */
  spawnError: Error | undefined;
  /** True once stop() asked it to go, so its exit is not reported as a crash. */
  stopping = false;

  constructor(readonly spec: ProcessSpec, private readonly child: ChildProcess) {
    this.pid = child.pid ?? -1;
    this.exited = new Promise((resolve) => {
      child.once('error', (err) => {
        this.spawnError = err;
        if (this.pid < 0) {
          this.exitInfo = { code: null, signal: null };
          resolve(this.exitInfo);
        }
      });
      child.once('exit', (code, signal) => {
        this.exitInfo = { code, signal };
        resolve(this.exitInfo);
      });
    });
  }

  get name(): string {
    return this.spec.name;
  }
  get logFile(): string {
    return this.spec.logFile;
  }
  get running(): boolean {
    return this.exitInfo === undefined;
  }

  /** Why it is not running, in a few words, with the last lines of its log. */
  describeExit(): string {
    if (this.spawnError) return `could not start ${this.spec.command}: ${this.spawnError.message}`;
    const e = this.exitInfo;
    if (!e) return 'still running';
    const how = e.signal ? `killed by ${e.signal}` : `exited with code ${e.code}`;
    const tail = lastLogLine(this.spec.logFile);
    return tail ? `${how}: ${tail}` : how;
  }

  /** Sends `signal` to the whole process group; false when nothing was there to signal. */
  signalGroup(signal: NodeJS.Signals | 0): boolean {
    if (this.pid <= 0) return false;
    try {
      process.kill(-this.pid, signal);
      return true;
    } catch {
      return false;
    }
  }

  /** True while any process of its group is alive (the leader may have exited before its children). */
  groupAlive(): boolean {
    return this.signalGroup(0);
  }
}

export interface StopOptions {
  /** How long to wait after SIGTERM before SIGKILL. */
  timeoutMs?: number;
}

export class Supervisor {
  private readonly procs: ManagedProcess[] = [];
  private readonly clock: Clock;

  constructor(o: { clock?: Clock } = {}) {
    this.clock = o.clock ?? systemClock;
  }

  start(spec: ProcessSpec): ManagedProcess {
    mkdirSync(dirname(spec.logFile), { recursive: true });
    const fd = openSync(spec.logFile, 'a');
    try {
      // detached: the child leads a new process group, so a terminal's Ctrl-C reaches only us
      // and we decide the order in which things stop.
      const args = spec.command === process.execPath ? ['--import', EXIT_WITH_PARENT, ...spec.args] : spec.args;
      const child = spawn(spec.command, args, {
        cwd: spec.cwd,
        env: { ...process.env, ...spec.env },
        stdio: ['ignore', fd, fd],
        detached: true,
      });
      const p = new ManagedProcess(spec, child);
      this.procs.push(p);
      return p;
    } finally {
      closeSync(fd); // the child holds its own copy
    }
  }

  list(): readonly ManagedProcess[] {
    return this.procs;
  }

  /** Stops one process (and its group). */
  async stop(p: ManagedProcess, opts: StopOptions = {}): Promise<void> {
    await stopGroups([p], opts.timeoutMs ?? 5000, this.clock);
  }

  /** Stops every process started, all at once; resolves when none of their groups is alive. */
  async stopAll(opts: StopOptions = {}): Promise<void> {
    await stopGroups(this.procs, opts.timeoutMs ?? 5000, this.clock);
  }

  /** SIGKILL to every group now (a second Ctrl-C). */
  killAll(): void {
    for (const p of this.procs) {
      p.stopping = true;
      p.signalGroup('SIGKILL');
    }
  }
}

async function stopGroups(procs: readonly ManagedProcess[], timeoutMs: number, clock: Clock): Promise<void> {
  for (const p of procs) {
    p.stopping = true;
    p.signalGroup('SIGTERM');
  }
  const deadline = clock.now() + timeoutMs;
  const alive = () => procs.filter((p) => p.running || p.groupAlive());
  while (alive().length > 0 && clock.now() < deadline) await clock.sleep(50);
  const left = alive();
  if (left.length === 0) return;
  for (const p of left) p.signalGroup('SIGKILL');
  // SIGKILL cannot be ignored; wait for the leaders to be reaped so their ports are free.
  const hard = clock.now() + 2000;
  while (alive().length > 0 && clock.now() < hard) await clock.sleep(20);
}

/** The last non-empty line of a log file (read from its last 8 KiB), or undefined. */
export function lastLogLine(file: string): string | undefined {
  try {
    const text = readFileSync(file).subarray(-8192).toString('utf8');
    const lines = text.split('\n').map((l) => l.trim()).filter(Boolean);
    // A stack trace's first line says more than its last frame.
    const errLine = [...lines].reverse().find((l) => /^\w*Error\b|^error\b|EADDR|ECONN/i.test(l));
    const line = errLine ?? lines.at(-1);
    return line && line.length > 300 ? `${line.slice(0, 300)}…` : line;
  } catch {
    return undefined;
  }
}

/** The last log line that looks like a complaint (warning, error, NACK), shortened; or undefined. */
export function lastWarning(file: string): string | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8').slice(-16384);
  } catch {
    return undefined;
  }
  const line = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => /warn|error|NACK|reject|fail/i.test(l))
    .at(-1);
  return line && line.length > 240 ? `${line.slice(0, 240)}…` : line;
}
