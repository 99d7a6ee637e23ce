/**
 * Readiness probes for the demo's parts: an HTTP GET that must answer 200 (control plane and
 * proxy admin `/ready`, an app's readinessProbe path) or a TCP connect (an app's port), polled
 * until ready, until the process dies, or until a deadline.
 */
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { connect } from 'node:net';
import { systemClock, type Clock } from '../common/clock.ts';

/** One probe: `check` resolves true when ready and never rejects; `what` names it in messages. */
export interface Probe {
  what: string;
  check: () => Promise<boolean>;
}

/** GET `url`, ready on HTTP 200. */
export function httpProbe(url: string, timeoutMs = 1000): Probe {
  const check = () =>
    new Promise<boolean>((resolve) => {
      const req = request(url, { method: 'GET', timeout: timeoutMs, agent: false }, (res) => {
        res.resume();
        resolve(res.statusCode === 200);
      });
      req.on('timeout', () => req.destroy());
      req.on('error', () => resolve(false));
      req.end();
    });
  return { what: `GET ${url}`, check };
}

/** Ready once something accepts a TCP connection on host:port. */
export function tcpProbe(host: string, port: number, timeoutMs = 1000): Probe {
  const check = () =>
    new Promise<boolean>((resolve) => {
      const s = connect({ host, port });
      const done = (ok: boolean) => {
        s.destroy();
        resolve(ok);
      };
      s.setTimeout(timeoutMs, () => done(false));
      s.once('connect', () => done(true));
      s.once('error', () => done(false));
    });
  return { what: `a listener on ${host}:${port}`, check };
}

/**
 * Ready once a line of `file` (a child's log) matches `re`, e.g. the line where a process that
 * bound port 0 says which port it got; `found` receives the match.
 */
export function logLineProbe(file: string, re: RegExp, what: string, found: (m: RegExpExecArray) => void): Probe {
  const check = async () => {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      return false;
    }
    const m = re.exec(text);
    if (m) found(m);
    return m !== null;
  };
  return { what, check };
}

/** A probe built when it is first needed (its address is learnt from an earlier probe). */
export function lazyProbe(make: () => Probe, what: string): Probe {
  let p: Probe | undefined;
  return {
    get what() {
      return p?.what ?? what;
    },
    check: () => (p ??= make()).check(),
  };
}

export interface WaitOptions {
  timeoutMs: number;
  intervalMs?: number;
  /** Checked before each try: a reason to give up now (the process exited), or undefined. */
  giveUp?: () => string | undefined;
  clock?: Clock;
}

export type WaitResult = { ready: true; ms: number } | { ready: false; reason: string };

/** Polls every probe until all are ready (in order), `giveUp` says why not, or time runs out. */
export async function waitReady(probes: readonly Probe[], opts: WaitOptions): Promise<WaitResult> {
  const clock = opts.clock ?? systemClock;
  const start = clock.now();
  const interval = opts.intervalMs ?? 100;
  let i = 0;
  for (;;) {
    const stop = opts.giveUp?.();
    if (stop) return { ready: false, reason: stop };
    while (i < probes.length && (await probes[i]!.check())) i++;
    if (i === probes.length) return { ready: true, ms: clock.now() - start };
    if (clock.now() - start >= opts.timeoutMs) return { ready: false, reason: `not ready after ${Math.round(opts.timeoutMs / 1000)}s (waiting for ${probes[i]!.what})` };
    await clock.sleep(interval);
  }
}
