/**
 * One line per part as it becomes ready or fails. On a terminal, a status line below them says
 * what is still starting and for how long, redrawn in place; elsewhere (logs, CI) only the result
 * lines are written, so the output stays readable as a file.
 */
import type { Writable } from 'node:stream';
import { systemClock, type Clock, type Timer } from '../common/clock.ts';

const FRAMES = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

export class Progress {
  private readonly pending = new Map<string, number>();
  private timer: Timer | undefined;
  private frame = 0;
  private statusShown = false;

  constructor(
    private readonly out: Writable & { isTTY?: boolean },
    private readonly tty = Boolean(out.isTTY),
    private readonly clock: Clock = systemClock,
  ) {}

  begin(name: string): void {
    this.pending.set(name, this.clock.now());
    if (this.tty && !this.timer) {
      this.timer = this.clock.every(100, () => this.drawStatus());
    }
    this.drawStatus();
  }

  ok(name: string, detail = 'ready'): void {
    this.finish(name, `✔ ${name} ${detail}`);
  }

  fail(name: string, why: string, log?: string): void {
    this.finish(name, `✖ ${name} failed: ${why}${log ? `, log at ${log}` : ''}`);
  }

  /** Forgets a part without a line (it was stopped on purpose while starting). */
  cancel(name: string): void {
    this.pending.delete(name);
    this.drawStatus();
    if (this.pending.size === 0 && this.timer) {
      this.timer.cancel();
      this.timer = undefined;
    }
  }

  /** A line not tied to a part (notes, warnings), kept above the status line. */
  line(text: string): void {
    this.clearStatus();
    this.out.write(text + '\n');
    this.drawStatus();
  }

  /** Stops redrawing; call before printing anything else. */
  done(): void {
    this.timer?.cancel();
    this.timer = undefined;
    this.clearStatus();
  }

  private finish(name: string, text: string): void {
    const started = this.pending.get(name);
    this.pending.delete(name);
    const secs = started === undefined ? '' : ` (${((this.clock.now() - started) / 1000).toFixed(1)}s)`;
    this.line(this.tty ? `${text}${secs}` : text);
    if (this.pending.size === 0 && this.timer) {
      this.timer.cancel();
      this.timer = undefined;
    }
  }

  private drawStatus(): void {
    if (!this.tty) return;
    this.clearStatus();
    if (this.pending.size === 0) return;
    const oldest = Math.min(...this.pending.values());
    const names = [...this.pending.keys()];
    const list = names.length > 4 ? `${names.slice(0, 4).join(', ')} and ${names.length - 4} more` : names.join(', ');
    this.frame = (this.frame + 1) % FRAMES.length;
    this.out.write(`${FRAMES[this.frame]} starting ${list} (${Math.floor((this.clock.now() - oldest) / 1000)}s)`);
    this.statusShown = true;
  }

  private clearStatus(): void {
    if (!this.statusShown) return;
    this.out.write('\r\x1b[2K');
    this.statusShown = false;
  }
}
