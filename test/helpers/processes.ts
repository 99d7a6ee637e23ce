/**
 * Test helpers for integration tests that start real tsmesh processes on loopback: spawn the CLI
 * through tsx, wait for its ready line, collect its output for failure messages, and stop it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort as freePortOn } from '../../src/demo/ports.ts';
import { tsmeshCommand } from '../../src/common/self_command.ts';

export const REPO = fileURLToPath(new URL('../../', import.meta.url));

export interface Proc {
  child: ChildProcess;
  output(): string;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Every child still running: killed if the test process exits without stopping them. */
const live = new Set<ChildProcess>();
let exitHook = false;

/** Runs `tsmesh <args>` and resolves when a line matching `ready` appears (60 s at most: CI machines are small and busy). */
export function startTsmesh(args: string[], ready: RegExp, env: NodeJS.ProcessEnv = {}): Promise<Proc> {
  return spawnTsmesh(args, ready, { env });
}

/** Spawns `tsmesh <args>` and waits for `ready` on its output (bounded by `timeoutMs`). */
export async function spawnTsmesh(args: string[], ready: RegExp, o: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<Proc> {
  const cmd = tsmeshCommand(args);
  const child: ChildProcess = spawn(cmd.command, cmd.args, {
    cwd: REPO,
    env: { ...process.env, ...cmd.env, ...o.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  live.add(child);
  child.once('exit', () => live.delete(child));
  if (!exitHook) {
    exitHook = true;
    process.once('exit', () => live.forEach((c) => c.kill('SIGKILL')));
  }
  let out = '';
  const proc: Proc = {
    child,
    output: () => out,
    stop: (signal = 'SIGTERM') =>
      new Promise((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve(child.exitCode);
        const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
        child.once('exit', (code) => {
          clearTimeout(t);
          resolve(code);
        });
        child.kill(signal);
      }),
  };
  const timeoutMs = o.timeoutMs ?? 60_000;
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`tsmesh ${args.join(' ')} not ready in ${timeoutMs} ms:\n${out}`)), timeoutMs);
      const onData = (d: Buffer) => {
        out += d.toString();
        if (ready.test(out)) {
          clearTimeout(timer);
          resolve();
        }
      };
      child.stdout!.on('data', onData);
      child.stderr!.on('data', onData);
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`tsmesh ${args.join(' ')} exited with ${code}:\n${out}`));
      });
    });
  } catch (e) {
    await proc.stop('SIGKILL');
    throw e;
  }
  return proc;
}

export interface ControlPlaneProc extends Proc {
  grpcPort: number;
  httpPort: number;
  /** The CA's CSR service and ADS over TLS. */
  secureGrpcPort: number;
  /** Its --state-dir: the CA root (ca/root-cert.pem) and the key workload tokens are minted with. */
  stateDir: string;
}

/** A private control-plane state directory (CA root, token key), removed when the test ends. */
export function caStateDir(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'tsmesh-cp-state-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/**
 * `tsmesh controlplane --config <dir>` on port 0 for xDS and HTTP: it binds ports the kernel
 * picks and names them in its ready line, so no port is probed and then raced for.
 */
export async function startControlPlane(configDir: string, extra: string[] = [], o: { env?: NodeJS.ProcessEnv; timeoutMs?: number; stateDir?: string } = {}): Promise<ControlPlaneProc> {
  const ready = /tsmesh controlplane ready: xds grpc [^\s,]+:(\d+), http [^\s,]+:(\d+), secure grpc [^\s,]+:(\d+)/;
  // A given state dir (a restart keeping its root of trust) belongs to the caller.
  const own = o.stateDir === undefined;
  const stateDir = o.stateDir ?? mkdtempSync(join(tmpdir(), 'tsmesh-cp-state-'));
  const args = ['controlplane', '--config', configDir, '--grpc-port', '0', '--http-port', '0', '--secure-grpc-port', '0', '--state-dir', stateDir, '--address', '127.0.0.1', ...extra];
  const proc = await spawnTsmesh(args, ready, o).catch((e) => {
    if (own) rmSync(stateDir, { recursive: true, force: true });
    throw e;
  });
  const m = ready.exec(proc.output())!;
  const stop = proc.stop.bind(proc);
  proc.stop = async (...a: Parameters<Proc['stop']>) => {
    const code = await stop(...a);
    if (own) rmSync(stateDir, { recursive: true, force: true });
    return code;
  };
  return Object.assign(proc, { grpcPort: Number(m[1]), httpPort: Number(m[2]), secureGrpcPort: Number(m[3]), stateDir });
}

/**
 * A port free on `host` now, by binding port 0 and closing it: racy (someone may take it before
 * it is used), so only for what must be told its port up front and cannot report one it bound,
 * like a Gateway's listener port written into config, or an external program.
 */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return freePortOn(host);
}
