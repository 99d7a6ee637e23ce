/**
 * The Kubernetes istiod runs against in the side-by-side bench: etcd and Kubernetes' own
 * kube-apiserver on loopback (src/kube/local, binaries from `node scripts/kube/build.mjs`), no
 * controller manager, scheduler or kubelet. This Istio version panics at start-up without a
 * Kubernetes client (its ServiceEntry registry takes namespaces from the Kubernetes multicluster
 * controller), so it gets an empty but real cluster: the mesh's namespaces and istio-system,
 * nothing else. The mesh itself still comes from the bench's YAML directory (--configDir), as it
 * does for tsmesh. One cluster per istiod start, stopped with it, so tsmesh's phases run without it.
 */
import { execFile } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { startLocalCluster, type LocalCluster } from '../../src/kube/local/cluster.ts';
import { manifestYaml } from '../../src/kube/install/manifest.ts';
import type { KubeObject } from '../../src/kube/install/types.ts';
import { cpuSeconds } from './procs.ts';

export interface IstiodCluster {
  kubeconfig: string;
  server: string;
  /** Seconds from start until the API server was ready and the namespaces applied. */
  startS: number;
  /** CPU seconds used so far by etcd and kube-apiserver together (they share istiod's 2 cores). */
  cpuSeconds(): number;
  /** Log files of etcd and kube-apiserver, for a failure message. */
  logs: Record<string, string>;
  close(): Promise<void>;
}

/** Starts etcd + kube-apiserver in `dir` and creates `namespaces` (plus istio-system); throws saying what failed. */
export async function startIstiodCluster(dir: string, namespaces: string[], timeoutMs: number): Promise<IstiodCluster> {
  const t0 = performance.now();
  let cluster: LocalCluster;
  try {
    cluster = await startLocalCluster({ dir, readyTimeoutMs: timeoutMs });
  } catch (e) {
    throw new Error(`the local Kubernetes API server for istiod did not start: ${(e as Error).message}`);
  }
  try {
    const ns = [...new Set(['istio-system', ...namespaces])].map((name) => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } }) as KubeObject);
    await kubectl(cluster, ['apply', '--server-side', '--field-manager=tsmesh-bench', '-f', '-'], manifestYaml(ns), timeoutMs);
  } catch (e) {
    await cluster.close();
    throw e;
  }
  const pids = clusterPids(dir);
  return {
    kubeconfig: cluster.kubeconfig,
    server: cluster.server,
    startS: (performance.now() - t0) / 1000,
    cpuSeconds: () => pids.reduce((a, pid) => a + cpuSeconds(pid), 0),
    logs: cluster.logs,
    close: () => cluster.close(),
  };
}

function kubectl(cluster: LocalCluster, args: string[], input: string, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(cluster.binaries.kubectl, ['--kubeconfig', cluster.kubeconfig, ...args], { timeout: timeoutMs, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err) reject(new Error(`kubectl ${args.join(' ')} against the bench's API server failed: ${stderr.trim() || err.message}`));
      else resolve(stdout);
    });
    child.stdin!.end(input);
  });
}

/**
 * Pids of the programs whose command line names `dir` (etcd's --data-dir, kube-apiserver's
 * --cert-dir): the launcher does not expose them, and /proc is what the bench measures with.
 */
function clusterPids(dir: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmd = readFileSync(join('/proc', entry, 'cmdline'), 'utf8');
      if (cmd.includes(dir) && !cmd.startsWith('setpriv')) pids.push(Number(entry));
    } catch {
      /* gone */
    }
  }
  return pids;
}
