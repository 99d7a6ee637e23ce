/**
 * The parent's side of bench/lib/ads_load.ts: spawns one load process, collects its `ADS {...}`
 * event lines, sends it commands, and waits for events with a deadline (never forever). The
 * process opens its streams only on connect(), after its 'ready' event.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { LoadEvent, LoadOptions } from './ads_load.ts';

export class LoadProc {
  readonly proc: ChildProcess;
  readonly events: LoadEvent[] = [];
  private stderr = '';
  private waiters = new Set<() => void>();

  constructor(opts: LoadOptions) {
    this.proc = spawn(process.execPath, [...(process.env.BENCH_LOAD_NODE_ARGS ?? '').split(' ').filter(Boolean), '--import', 'tsx', 'bench/lib/ads_load.ts', JSON.stringify(opts)], { stdio: ['pipe', 'pipe', 'pipe'] });
    createInterface({ input: this.proc.stdout! }).on('line', (line) => {
      if (!line.startsWith('ADS ')) return;
      this.events.push(JSON.parse(line.slice(4)) as LoadEvent);
      for (const w of [...this.waiters]) w();
    });
    this.proc.stderr!.on('data', (d: Buffer) => {
      this.stderr = (this.stderr + d.toString()).slice(-20_000);
    });
    this.proc.on('exit', () => {
      for (const w of [...this.waiters]) w();
    });
  }

  get pid(): number {
    return this.proc.pid!;
  }

  get errorOutput(): string {
    return this.stderr;
  }

  /** The latest event of a kind, if any. */
  last<K extends LoadEvent['ev']>(ev: K): Extract<LoadEvent, { ev: K }> | undefined {
    for (let i = this.events.length - 1; i >= 0; i--) if (this.events[i]!.ev === ev) return this.events[i] as Extract<LoadEvent, { ev: K }>;
    return undefined;
  }

  /** Opens every simulated Envoy's stream (after 'ready'). */
  connect(): void {
    this.send({ cmd: 'connect' });
  }

  send(cmd: Record<string, unknown>): void {
    if (this.proc.exitCode === null) this.proc.stdin!.write(`${JSON.stringify(cmd)}\n`);
  }

  /** Resolves with the first event of kind `ev` at index >= `from`, or undefined at the deadline or exit. */
  waitFor<K extends LoadEvent['ev']>(ev: K, deadline: number, from = 0): Promise<Extract<LoadEvent, { ev: K }> | undefined> {
    return new Promise((resolve) => {
      const check = () => {
        const hit = this.events.slice(from).find((e) => e.ev === ev);
        if (hit || Date.now() >= deadline || this.proc.exitCode !== null) {
          this.waiters.delete(check);
          clearTimeout(t);
          resolve(hit as Extract<LoadEvent, { ev: K }> | undefined);
        }
      };
      const t = setTimeout(check, Math.max(0, deadline - Date.now()));
      this.waiters.add(check);
      check();
    });
  }

  /** Asks the process to close its streams and exit; kills it if it has not after 5 s. */
  async stop(): Promise<void> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    const done = new Promise<void>((r) => this.proc.once('exit', () => r()));
    this.send({ cmd: 'stop' });
    this.proc.stdin!.end();
    const t = setTimeout(() => this.proc.kill('SIGKILL'), 5000);
    await done;
    clearTimeout(t);
  }
}
