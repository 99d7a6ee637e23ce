/**
 * One program of a local cluster (etcd, kube-apiserver, kube-controller-manager) run as a child
 * process: its output goes to a log file in the cluster's directory, and it dies with us. Go
 * programs cannot preload the demo's exit_with_parent.mjs, so the kernel does it instead:
 * util-linux's `setpriv --pdeathsig SIGKILL` sets PR_SET_PDEATHSIG and execs the program, which
 * then gets SIGKILL when we exit, however we exit (a crash or SIGKILL included). Each runs in a
 * process group of its own (detached), so a terminal's Ctrl-C is ours to handle, not theirs.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { onPath } from './bin_dir.ts';

/** Every child still running: a last-resort kill when Node exits normally without close(). */
const live = new Set<ChildProcess>();
let exitHook = false;

export class LocalProcess {
  readonly #child: ChildProcess;
  readonly #exited: Promise<number | null>;
  #exitCode: number | null | undefined;

  /** Starts `file args`, appending stdout and stderr to `logFile`. */
  constructor(
    readonly name: string,
    file: string,
    args: string[],
    readonly logFile: string,
    env: NodeJS.ProcessEnv = process.env,
  ) {
    const fd = openSync(logFile, 'a');
    const setpriv = onPath('setpriv', env);
    const [cmd, argv] = setpriv ? [setpriv, ['--pdeathsig', 'SIGKILL', '--', file, ...args]] : [file, args];
    try {
      // Its own process group: a terminal's Ctrl-C reaches only us, and close() stops the
      // programs in order (the controller manager must not die first and be restarted).
      this.#child = spawn(cmd, argv, { stdio: ['ignore', fd, fd], env, detached: true });
    } finally {
      closeSync(fd);
    }
    live.add(this.#child);
    if (!exitHook) {
      exitHook = true;
      process.once('exit', () => live.forEach((c) => c.kill('SIGKILL')));
    }
    this.#exited = new Promise((resolve) => {
      this.#child.once('error', () => resolve((this.#exitCode = -1)));
      this.#child.once('exit', (code, signal) => {
        live.delete(this.#child);
        resolve((this.#exitCode = code ?? (signal ? -1 : null)));
      });
    });
  }

  get pid(): number | undefined {
    return this.#child.pid;
  }

  /** Undefined while running; the exit code (or -1 for a signal or a spawn error) after. */
  get exitCode(): number | null | undefined {
    return this.#exitCode;
  }

  /** Resolves when the process is gone. */
  get exited(): Promise<number | null> {
    return this.#exited;
  }

  /** The last `lines` lines of its log, for error messages. */
  tail(lines = 30): string {
    try {
      return readFileSync(this.logFile, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
    } catch {
      return '';
    }
  }

  /** SIGTERM, then SIGKILL after `graceMs`; resolves when it has exited. */
  async stop(graceMs = 5000): Promise<void> {
    if (this.#exitCode !== undefined) return;
    this.#child.kill('SIGTERM');
    const t = setTimeout(() => this.#child.kill('SIGKILL'), graceMs);
    await this.#exited;
    clearTimeout(t);
  }
}
