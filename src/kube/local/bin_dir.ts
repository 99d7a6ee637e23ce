/**
 * Where the Kubernetes binaries of a local cluster are: built by `node scripts/kube/build.mjs`
 * from k8s.io/kubernetes (tsmesh ships none of them), into a cache outside the repository.
 */
import { accessSync, constants } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

/** The Kubernetes release the build script builds and the launcher expects. */
export const KUBE_VERSION = 'v1.37.2';

/**
 * The programs a local cluster runs. etcd is built too (v3.6): Debian's etcd-server (3.4.23) runs,
 * but lacks what the API server's watch cache asks of etcd (RequestWatchProgress, 3.4.31+), so it
 * is only the fallback when the bin dir has none.
 */
export const KUBE_BINARIES = ['kube-apiserver', 'kube-controller-manager', 'kubectl'] as const;

/** The build script's output: $TSMESH_KUBE_BIN_DIR, else ~/.cache/tsmesh-kube/<version>/bin. */
export function defaultKubeBinDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.TSMESH_KUBE_BIN_DIR || join(homedir(), '.cache', 'tsmesh-kube', KUBE_VERSION, 'bin');
}

function executable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The first executable `name` on $PATH, or undefined. */
export function onPath(name: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  for (const dir of (env.PATH ?? '').split(':')) {
    if (dir && executable(join(dir, name))) return join(dir, name);
  }
  return undefined;
}

/** Paths of the programs a local cluster runs. */
export interface KubeBinaries {
  binDir: string;
  kubeApiserver: string;
  kubeControllerManager: string;
  kubectl: string;
  /** The bin dir's etcd, else the first on $PATH. */
  etcd: string;
}

/**
 * Finds the binaries, or throws saying how to build them. `binDir` defaults to
 * defaultKubeBinDir().
 */
export function findKubeBinaries(binDir = defaultKubeBinDir(), env: NodeJS.ProcessEnv = process.env): KubeBinaries {
  const missing = KUBE_BINARIES.filter((b) => !executable(join(binDir, b)));
  const etcd = executable(join(binDir, 'etcd')) ? join(binDir, 'etcd') : onPath('etcd', env);
  if (missing.length > 0 || !etcd) {
    const what = [...missing, ...(etcd ? [] : ['etcd'])].join(', ');
    throw new Error(
      `Kubernetes binaries missing in ${binDir}: ${what}. Build them with \`node scripts/kube/build.mjs\` ` +
        `(needs Go 1.26 and the Go module proxy; about 15-20 minutes the first time on 2 cores, cached after), ` +
        `or point TSMESH_KUBE_BIN_DIR at a directory holding kube-apiserver, kube-controller-manager and kubectl ` +
        `${KUBE_VERSION} and etcd.`,
    );
  }
  return {
    binDir,
    kubeApiserver: join(binDir, 'kube-apiserver'),
    kubeControllerManager: join(binDir, 'kube-controller-manager'),
    kubectl: join(binDir, 'kubectl'),
    etcd,
  };
}
