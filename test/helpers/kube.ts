/**
 * A real Kubernetes API server for tests: etcd, kube-apiserver and optionally
 * kube-controller-manager (built by scripts/kube/build.mjs, started by src/kube/local/) on
 * loopback, in a temp dir removed at the end. Tests that need it fail (not skip) when the
 * binaries are missing: `npm test`'s pretest builds them.
 *
 *   test('...', async (t) => {
 *     const kube = await startKubeCluster(t, { controllerManager: true }); // closed after this test
 *     const r = await kube.kubectl(['apply', '-f', '-'], { input: yaml });
 *   });
 *
 * One cluster for a whole file: start it in `before` without `t` and close it in a top-level
 * `after` (an `after` registered inside a `before` hook runs when the hook ends).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startLocalCluster } from '../../src/kube/local/cluster.ts';
import { until } from './poll.ts';

export interface KubeCluster {
  /** Path to an admin kubeconfig (client certificate auth, group system:masters). */
  kubeconfig: string;
  /** https://127.0.0.1:<port> */
  server: string;
  /** The API server's serving CA (PEM). */
  caPem: string;
  /** Directory with kube-apiserver, kube-controller-manager, kubectl (and etcd when built). */
  binDir: string;
  /** Runs kubectl against the cluster (60 s at most, then killed). */
  kubectl(args: string[], opts?: { input?: string }): Promise<{ code: number; stdout: string; stderr: string }>;
  /** kubectl's stdout; throws with its stderr when it exits non-zero. */
  kubectlOk(args: string[], input?: string): Promise<string>;
  /**
   * Waits until the named CRDs (or all, with none named) are Established. A CRD the apiserver
   * has not yet given a status has no conditions list, and `kubectl wait` fails on that at once
   * instead of waiting, so the wait is asked again until it holds.
   */
  crdsEstablished(names?: string[]): Promise<void>;
  /** Stops and starts kube-apiserver: same etcd, same port. */
  restartApiServer(): Promise<void>;
  close(): Promise<void>;
}

const KUBECTL_TIMEOUT_MS = 60_000;

export async function startKubeCluster(
  t?: { after(fn: () => unknown): void },
  opts: { controllerManager?: boolean } = {},
): Promise<KubeCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'tsmesh-kube-'));
  let closed = false;
  const cluster = await startLocalCluster({ dir, controllerManager: opts.controllerManager }).catch((e: Error) => {
    rmSync(dir, { recursive: true, force: true });
    throw e;
  });
  const close = async () => {
    if (closed) return;
    closed = true;
    await cluster.close();
    rmSync(dir, { recursive: true, force: true });
  };
  t?.after(close);
  const kubectl: KubeCluster['kubectl'] = (args, o = {}) =>
    new Promise((resolve, reject) => {
      const child = spawn(cluster.binaries.kubectl, [`--kubeconfig=${cluster.kubeconfig}`, ...args], {
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      const timer = setTimeout(() => {
        stderr += `\n(kubectl ${args.join(' ')} killed after ${KUBECTL_TIMEOUT_MS} ms)`;
        child.kill('SIGKILL');
      }, KUBECTL_TIMEOUT_MS);
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.on('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
      child.on('close', (code) => {
        clearTimeout(timer);
        resolve({ code: code ?? -1, stdout, stderr });
      });
      child.stdin.end(o.input ?? '');
    });
  return {
    kubeconfig: cluster.kubeconfig,
    server: cluster.server,
    caPem: cluster.caPem,
    binDir: cluster.binaries.binDir,
    kubectl,
    kubectlOk: async (args, input) => {
      const r = await kubectl(args, input === undefined ? {} : { input });
      if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')}: ${r.stderr}`);
      return r.stdout;
    },
    crdsEstablished: async (names) => {
      const args = ['wait', '--for=condition=Established', '--timeout=60s', ...(names?.length ? names.map((n) => `crd/${n}`) : ['crd', '--all'])];
      await until(
        async () => {
          const r = await kubectl(args);
          if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')}: ${r.stderr}`);
          return true;
        },
        'CRDs Established',
        90_000,
        250,
      );
    },
    restartApiServer: () => cluster.restartApiServer(),
    close,
  };
}
