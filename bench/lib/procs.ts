/**
 * Starting and measuring the processes a benchmark compares: wait until they listen, read their
 * CPU seconds and resident memory from /proc, and stop them (and their children) at the end.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { connect } from 'node:net';

export interface Started {
  proc: ChildProcess;
  name: string;
  output(): string;
  stop(): Promise<void>;
}

/** Spawns a command; resolves once `ready` (a port to connect to, or a line regexp) is met. */
export async function start(name: string, cmd: string, args: string[], ready: { port?: number; host?: string; line?: RegExp }, env: NodeJS.ProcessEnv = {}): Promise<Started> {
  const proc = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let out = '';
  let lineSeen = false;
  const onData = (d: Buffer) => {
    out += d.toString();
    if (out.length > 200_000) out = out.slice(-100_000);
    if (ready.line && ready.line.test(out)) lineSeen = true;
  };
  proc.stdout!.on('data', onData);
  proc.stderr!.on('data', onData);
  const started: Started = {
    proc,
    name,
    output: () => out,
    stop: () => stopGroup(proc),
  };
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    if (proc.exitCode !== null) throw new Error(`${name} exited with ${proc.exitCode}:\n${out}`);
    if (ready.line ? lineSeen : ready.port ? await canConnect(ready.port, ready.host) : true) return started;
    await sleep(50);
  }
  await stopGroup(proc);
  throw new Error(`${name} did not become ready in 20 s:\n${out}`);
}

/**
 * Runs a load generator to completion without blocking the event loop (so RSS can be sampled
 * while it runs); rejects on a non-zero exit or after `timeoutMs`.
 */
export function runTool(cmd: string, args: string[], timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { encoding: 'utf8', timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(' ')} failed: ${err.message}\n${stderr || stdout}`));
      else resolve(stdout);
    });
  });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export function canConnect(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, host);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** SIGTERM to the process group, SIGKILL after 8 s; resolves on exit. */
export async function stopGroup(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const done = new Promise<void>((r) => proc.once('exit', () => r()));
  try {
    process.kill(-proc.pid!, 'SIGTERM');
  } catch {
    proc.kill('SIGTERM');
  }
  const t = setTimeout(() => {
    try {
      process.kill(-proc.pid!, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }, 8000);
  await done;
  clearTimeout(t);
}

/** The pid and all its descendants (workers of --concurrency, nginx workers...). */
export function processTree(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const list = children.get(ppid) ?? [];
      list.push(Number(d));
      children.set(ppid, list);
    } catch {
      /* exited */
    }
  }
  const out: number[] = [];
  const walk = (p: number) => {
    out.push(p);
    for (const c of children.get(p) ?? []) walk(c);
  };
  walk(pid);
  return out;
}

/** CPU seconds used so far by a process tree, user and system (kernel) apart. */
export function cpuSplitSeconds(pid: number): { user: number; sys: number } {
  const hz = 100; // USER_HZ on Linux
  let user = 0;
  let sys = 0;
  for (const p of processTree(pid)) {
    try {
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      user += Number(f[11]);
      sys += Number(f[12]);
    } catch {
      /* exited */
    }
  }
  return { user: user / hz, sys: sys / hz };
}

/** CPU seconds (user+system) used so far by a process tree. */
export function cpuSeconds(pid: number): number {
  const c = cpuSplitSeconds(pid);
  return c.user + c.sys;
}

/** Resident memory (MB) of a process tree. */
export function rssMB(pid: number): number {
  let kb = 0;
  for (const p of processTree(pid)) {
    try {
      const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${p}/status`, 'utf8'));
      if (m) kb += Number(m[1]);
    } catch {
      /* exited */
    }
  }
  return kb / 1024;
}

/**
 * One process's resident memory split as /proc reports it (MB): `file` is pages mapped from
 * files (the runtime's binary and libraries, shared with every process that maps them: on one
 * host, sidecars of one image pay them once), `anon` what is the process's own.
 */
export function rssSplitMB(pid: number): { anon: number; file: number } {
  try {
    const st = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (k: string) => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(st)?.[1] ?? 0);
    return { anon: kb('RssAnon') / 1024, file: kb('RssFile') / 1024 };
  } catch {
    return { anon: 0, file: 0 };
  }
}

/** Samples the peak RSS of a process tree while `fn` runs. */
export async function withPeakRss<T>(pid: number, fn: () => Promise<T>): Promise<{ result: T; peakMB: number }> {
  let peak = rssMB(pid);
  const t = setInterval(() => {
    peak = Math.max(peak, rssMB(pid));
  }, 100);
  try {
    const result = await fn();
    peak = Math.max(peak, rssMB(pid));
    return { result, peakMB: peak };
  } finally {
    clearInterval(t);
  }
}
