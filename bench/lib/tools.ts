/**
 * The system tools the proxy benchmark compares against (Debian's nginx, HAProxy, wrk, and h2load
 * from nghttp2-client for HTTP/2 and gRPC):
 * found by absolute path (Debian puts nginx and haproxy in /usr/sbin, which a non-root PATH often
 * lacks), installed with apt-get when missing and we are root (as scripts/pretest.mjs does for
 * the tests), and otherwise reported missing so the bench can skip that peer with a message.
 */
import { spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

export type Tool = 'nginx' | 'haproxy' | 'wrk' | 'h2load';

/** Debian package that provides each tool. */
const PACKAGE: Record<Tool, string> = { nginx: 'nginx-light', haproxy: 'haproxy', wrk: 'wrk', h2load: 'nghttp2-client' };

const EXTRA_DIRS = ['/usr/sbin', '/sbin', '/usr/local/sbin', '/usr/bin', '/usr/local/bin'];

function which(name: string): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(delimiter).filter(Boolean), ...EXTRA_DIRS];
  for (const d of dirs) {
    const p = join(d, name);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      /* not here */
    }
  }
  return undefined;
}

export interface Tools {
  /** Absolute path per tool, or undefined when it could not be had. */
  path: Partial<Record<Tool, string>>;
  /** Why a tool is missing, for the skip message. */
  why: Partial<Record<Tool, string>>;
}

let found: Tools | undefined;

/** Finds nginx, HAProxy, wrk and h2load, installing the missing ones once per run when running as root. */
export function ensureTools(): Tools {
  if (found) return found;
  const all: Tool[] = ['nginx', 'haproxy', 'wrk', 'h2load'];
  const path: Tools['path'] = {};
  for (const t of all) path[t] = which(t);
  let missing = all.filter((t) => !path[t]);
  const why: Tools['why'] = {};
  if (missing.length && process.getuid?.() === 0 && process.env.BENCH_NO_INSTALL !== '1') {
    const pkgs = missing.map((t) => PACKAGE[t]);
    console.log(`bench: installing ${pkgs.join(' ')} (apt-get)`);
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    spawnSync('apt-get', ['update', '-q'], { stdio: 'inherit', env });
    const r = spawnSync('apt-get', ['install', '-y', '-q', ...pkgs], { stdio: 'inherit', env });
    if (r.status !== 0) for (const t of missing) why[t] = `apt-get install ${PACKAGE[t]} failed (exit ${r.status ?? r.signal})`;
    for (const t of missing) path[t] = which(t);
    missing = missing.filter((t) => !path[t]);
  }
  for (const t of missing) why[t] ??= process.getuid?.() === 0 ? `not installed (apt-get install -y ${PACKAGE[t]})` : `not installed; as root: apt-get install -y ${PACKAGE[t]}`;
  return (found = { path, why });
}
