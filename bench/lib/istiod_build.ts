/**
 * Istio's own control plane for the side-by-side run: `pilot-discovery` built from Istio's Go
 * module with the machine's Go toolchain, once, into a cache outside the repository
 * (~/.cache/tsmesh-bench/istio/<version>/, with its own GOCACHE and GOMODCACHE beside it so a
 * second build is a cache hit). A cold build compiles ~2,000 packages: minutes on 2 cores, so
 * progress is printed while it runs. Nothing of Istio's is committed; nothing here asserts.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

/** The Istio module version the bench builds (a pseudo-version of Istio's master, 1.31 line). */
export const ISTIO_MODULE_VERSION = 'v0.0.0-20260827124520-eed52ebb66ad';
const PKG = 'istio.io/istio/pilot/cmd/pilot-discovery';

export type IstiodBuild = { ok: true; binary: string; version: string; builtNow: boolean; seconds: number } | { ok: false; reason: string };

/** Where build outputs live: TSMESH_BENCH_CACHE, else ~/.cache/tsmesh-bench. */
export function cacheRoot(): string {
  return process.env.TSMESH_BENCH_CACHE || join(homedir(), '.cache', 'tsmesh-bench');
}

function goBinary(): string | undefined {
  if (process.env.GO && existsSync(process.env.GO)) return process.env.GO;
  if (existsSync('/usr/local/go/bin/go')) return '/usr/local/go/bin/go';
  for (const dir of (process.env.PATH ?? '').split(':')) if (dir && existsSync(join(dir, 'go'))) return join(dir, 'go');
  return undefined;
}

/**
 * Returns the cached pilot-discovery, building it first if it is not there. Bounded by
 * `timeoutS`; on failure says why (no Go, module proxy unreachable, compile error...) so the
 * bench can print it instead of istiod's figures.
 */
export async function ensureIstiod(timeoutS: number, log: (line: string) => void = console.log): Promise<IstiodBuild> {
  const root = cacheRoot();
  const binDir = join(root, 'istio', ISTIO_MODULE_VERSION);
  const binary = join(binDir, 'pilot-discovery');
  if (existsSync(binary)) return { ok: true, binary, version: ISTIO_MODULE_VERSION, builtNow: false, seconds: 0 };
  mkdirSync(binDir, { recursive: true });
  // One build at a time: a second bench started meanwhile waits for the first one's binary.
  const lock = join(binDir, '.building');
  const holder = lockHolder(lock);
  if (holder) return waitForOther(binary, holder, timeoutS, log);
  writeFileSync(lock, String(process.pid));
  try {
    return await build(root, binDir, binary, timeoutS, log);
  } finally {
    rmSync(lock, { force: true });
  }
}

/** The pid in the lock file if that process is still alive. */
function lockHolder(lock: string): number | undefined {
  try {
    const pid = Number(readFileSync(lock, 'utf8').trim());
    if (!pid) return undefined;
    process.kill(pid, 0);
    return pid;
  } catch {
    return undefined;
  }
}

async function waitForOther(binary: string, pid: number, timeoutS: number, log: (line: string) => void): Promise<IstiodBuild> {
  const t0 = performance.now();
  log(`istiod: another build (pid ${pid}) is running; waiting for it`);
  let next = 15;
  while ((performance.now() - t0) / 1000 < timeoutS) {
    if (existsSync(binary)) return { ok: true, binary, version: ISTIO_MODULE_VERSION, builtNow: true, seconds: (performance.now() - t0) / 1000 };
    try {
      process.kill(pid, 0);
    } catch {
      return { ok: false, reason: `the build run by pid ${pid} ended without producing ${binary}` };
    }
    await new Promise((r) => setTimeout(r, 1000));
    if ((performance.now() - t0) / 1000 > next) {
      log(`istiod: still waiting for pid ${pid}'s build, ${next} s`);
      next += 15;
    }
  }
  return { ok: false, reason: `the build run by pid ${pid} did not finish within ${timeoutS} s` };
}

async function build(root: string, binDir: string, binary: string, timeoutS: number, log: (line: string) => void): Promise<IstiodBuild> {
  const go = goBinary();
  if (!go) return { ok: false, reason: 'no Go toolchain found (looked at $GO, /usr/local/go/bin/go and $PATH); Istio 1.31 needs Go >= 1.24' };

  // Build into a scratch GOBIN and rename: an interrupted build never leaves a binary behind.
  const scratch = join(binDir, `.build-${process.pid}`);
  mkdirSync(scratch, { recursive: true });
  const env = {
    ...process.env,
    GOBIN: scratch,
    GOCACHE: join(root, 'gocache'),
    GOMODCACHE: join(root, 'gomodcache'),
    GOFLAGS: '-mod=mod',
    GOTOOLCHAIN: 'local',
  };
  log(`istiod: building ${PKG}@${ISTIO_MODULE_VERSION} with ${go} into ${binDir} (cold: many minutes on 2 cores; cached afterwards)`);
  const t0 = performance.now();
  const result = await new Promise<{ code: number | null; tail: string; timedOut: boolean }>((resolve) => {
    const child = spawn(go, ['install', '-v', `${PKG}@${ISTIO_MODULE_VERSION}`], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let tail = '';
    let packages = 0;
    let downloads = 0;
    const onData = (d: Buffer) => {
      const text = d.toString();
      tail = (tail + text).slice(-4000);
      for (const line of text.split('\n')) {
        if (line.startsWith('go: downloading')) downloads++;
        else if (line.trim() && !line.startsWith('go:')) packages++; // -v names each package as it is built
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    const progress = setInterval(() => {
      log(`istiod: building... ${Math.round((performance.now() - t0) / 1000)} s, ${downloads} modules downloaded, ${packages} packages compiled`);
    }, 15_000);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutS * 1000);
    child.on('close', (code) => {
      clearInterval(progress);
      clearTimeout(timer);
      resolve({ code, tail, timedOut });
    });
    child.on('error', (e) => {
      clearInterval(progress);
      clearTimeout(timer);
      resolve({ code: -1, tail: String(e), timedOut: false });
    });
  });
  const seconds = (performance.now() - t0) / 1000;
  const built = join(scratch, 'pilot-discovery');
  if (result.code === 0 && existsSync(built)) {
    renameSync(built, binary);
    rmSync(scratch, { recursive: true, force: true });
    log(`istiod: built in ${seconds.toFixed(0)} s`);
    return { ok: true, binary, version: ISTIO_MODULE_VERSION, builtNow: true, seconds };
  }
  rmSync(scratch, { recursive: true, force: true });
  const why = result.timedOut ? `did not finish within ${timeoutS} s (BENCH_ISTIOD_BUILD_TIMEOUT_S)` : `exited with ${result.code}`;
  return { ok: false, reason: `go install ${PKG}@${ISTIO_MODULE_VERSION} ${why}:\n${result.tail.trim().split('\n').slice(-15).join('\n')}` };
}
