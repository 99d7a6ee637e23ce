/**
 * How the CLI's read commands (describe, analyze --live, proxy-status, prometheus-config,
 * version) reach the control plane's HTTP port: which one (--controlplane, else
 * $TSMESH_CONTROLPLANE, else the demo in --state-dir or ./.tsmesh/demo, else 127.0.0.1:15014),
 * and a JSON GET whose failure says, in one wording for all of them, how to start one.
 */
import { resolve } from 'node:path';
import { displayPath } from '../demo/config_copy.ts';
import { DEFAULT_STATE_DIR, STATE_FILE, pidAlive, readState, stateFilePath } from '../demo/state.ts';

export const DEFAULT_CONTROLPLANE = 'http://127.0.0.1:15014';

export interface ControlPlaneRef {
  url: string;
  /** Where the address came from, for messages. */
  from: string;
  /** Set when found through a demo state file whose demo is no longer running. */
  stale?: boolean;
}

/** --controlplane, else $TSMESH_CONTROLPLANE, else the default demo's state file, else :15014. */
export function findControlPlane(flag: string | undefined, env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): ControlPlaneRef {
  if (flag) return { url: trimSlash(flag), from: '--controlplane' };
  if (env.TSMESH_CONTROLPLANE) return { url: trimSlash(env.TSMESH_CONTROLPLANE), from: '$TSMESH_CONTROLPLANE' };
  return fromState(resolve(cwd, DEFAULT_STATE_DIR, STATE_FILE)) ?? { url: DEFAULT_CONTROLPLANE, from: 'the default address' };
}

/**
 * The control plane a command talks to. A --state-dir names the demo whose control plane it is,
 * so a pod looked up there is asked about on that demo's control plane.
 */
export function controlPlaneRef(flag: string | undefined, stateDir?: string, env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): ControlPlaneRef {
  if (flag || env.TSMESH_CONTROLPLANE || stateDir === undefined) return findControlPlane(flag, env, cwd);
  return fromState(stateFilePath(resolve(cwd, stateDir))) ?? { url: DEFAULT_CONTROLPLANE, from: 'the default address' };
}

function fromState(file: string): ControlPlaneRef | undefined {
  const state = readState(file);
  if (!state) return undefined;
  return { url: trimSlash(state.controlplane.http), from: displayPath(file), ...(pidAlive(state.pid) ? {} : { stale: true }) };
}

function trimSlash(u: string): string {
  const withScheme = /^[a-z]+:\/\//i.test(u) ? u : `http://${u}`;
  return withScheme.replace(/\/+$/, '');
}

/** "no control plane answers at <url> (where that came from): start one ...", the CLI's one wording. */
export function noControlPlane(cp: ControlPlaneRef, cause?: string, otherwise?: string): string {
  const why = cp.stale ? ` (found in ${cp.from}, but that demo is no longer running)` : cp.from === 'the default address' ? '' : ` (from ${cp.from})`;
  // A refused connection is what "no control plane answers" says already; anything else is news.
  const detail = cause && cause !== 'ECONNREFUSED' ? ` (${cause})` : '';
  return `no control plane answers at ${cp.url}${why}${detail}: start one with \`npx tsmesh demo\`, or say where it is with --controlplane <url> or $TSMESH_CONTROLPLANE${otherwise ? `; ${otherwise}` : ''}`;
}

export interface GetOptions {
  /** Default 10 s. */
  timeoutMs?: number;
  /** What else the user can do when no control plane answers (e.g. "or use --remote=false ..."). */
  otherwise?: string;
}

/**
 * GET `path` from the control plane as JSON. An error is the control plane's own `{"error"}`
 * when it gives one (it names the pod or proxy and the close ones), else says what answered.
 */
export async function controlPlaneGet<T>(cp: ControlPlaneRef, path: string, o: GetOptions = {}): Promise<{ value: T } | { error: string; status?: number }> {
  const timeoutMs = o.timeoutMs ?? 10_000;
  let status: number;
  let text: string;
  try {
    const res = await fetch(`${cp.url}${path}`, { signal: AbortSignal.timeout(timeoutMs) });
    status = res.status;
    text = await res.text();
  } catch (e) {
    const err = e as Error & { cause?: { code?: string; message?: string } };
    const cause = err.name === 'TimeoutError' ? `no answer in ${timeoutMs / 1000} s` : (err.cause?.code ?? err.cause?.message ?? err.message);
    return { error: noControlPlane(cp, cause, o.otherwise) };
  }
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  if (status === 200 && body !== undefined) return { value: body as T };
  const served = body as { error?: unknown } | undefined;
  if (served && typeof served.error === 'string') return { error: served.error, status };
  const what = path.split('?')[0];
  if (status === 200) return { error: `the control plane at ${cp.url} answered ${what} with something that is not JSON: ${text.slice(0, 200)}`, status };
  return { error: `the control plane at ${cp.url} answered HTTP ${status} for ${what}${status === 404 ? ' (an older tsmesh?)' : ''}`, status };
}
