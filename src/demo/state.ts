/**
 * `<state-dir>/demo.json`: what a running demo is made of (control-plane address, ports, pids),
 * so `tsmesh apply`, `tsmesh exec` and tests find it without flags. Written once everything
 * started, rewritten whenever a pod starts, becomes ready or stops, removed on a clean stop; a
 * file whose demo pid is gone is stale.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

/** Relative to the working directory, like kubectl's ./.kube: one demo per checkout. */
export const DEFAULT_STATE_DIR = '.tsmesh/demo';
export const STATE_FILE = 'demo.json';

export interface DemoProcessState {
  name: string;
  pid: number;
  log: string;
}

export interface DemoPodState {
  name: string;
  namespace: string;
  deployment: string;
  podIP: string;
  /** Where the app listens: the app address with a sidecar, the pod address without. */
  appIP: string;
  appPort: number;
  /** The sidecar's admin URL and bootstrap file; empty for a pod without a sidecar. */
  admin: string;
  bootstrap: string;
  /** False for a pod that runs its app only (injection off): nothing intercepts its traffic. */
  sidecar: boolean;
  /** False while it starts (its processes run, its readiness checks have not all passed). */
  ready: boolean;
}

export interface DemoState {
  /** The `tsmesh demo` process itself. */
  pid: number;
  startedAt: string;
  stateDir: string;
  configDir: string;
  /** `zipkin`: the embedded trace collector's URL (Zipkin's API under /api/v2). */
  controlplane: { http: string; grpc: string; pid: number; zipkin?: string };
  gateway: { url: string; port: number; admin: string; pid: number };
  /** Add-ons started with --addons: their URLs. */
  addons?: { prometheus?: string };
  pods: DemoPodState[];
  processes: DemoProcessState[];
}

export function stateFilePath(stateDir: string): string {
  return join(resolve(stateDir), STATE_FILE);
}

export function writeState(stateDir: string, state: DemoState): string {
  const file = stateFilePath(stateDir);
  mkdirSync(dirname(file), { recursive: true });
  // Write then rename: a reader never sees half a file.
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(state, null, 2) + '\n');
  renameSync(tmp, file);
  return file;
}

export function readState(file: string): DemoState | undefined {
  if (!existsSync(file)) return undefined;
  try {
    const s = JSON.parse(readFileSync(file, 'utf8'));
    return s && typeof s === 'object' && typeof s.controlplane?.http === 'string' ? (s as DemoState) : undefined;
  } catch {
    return undefined;
  }
}

export function removeState(stateDir: string): void {
  rmSync(stateFilePath(stateDir), { force: true });
}

export function pidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // EPERM: it exists but belongs to someone else.
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
