/**
 * Runs Istio's pilot-discovery (istiod's discovery half) on loopback: config from the bench's
 * YAML directory (--configDir: its file store watches the folder with fsnotify, rereads it
 * 250 ms after the last event, then debounces pushes by PILOT_DEBOUNCE_AFTER, 100 ms), services
 * and endpoints from its ServiceEntry registry, plaintext ADS on a free port as istiod's 15010,
 * HTTP (readiness, debug) and monitoring on free ports, no TLS ports. Readiness is istiod's own
 * /ready. This Istio version panics at start-up without a Kubernetes client, so it runs against
 * a real, empty local cluster (istiod_cluster.ts: etcd + kube-apiserver, started with istiod and
 * stopped with it); the Kubernetes registry it then adds finds only the `kubernetes` Service.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort } from './ports.ts';
import { startIstiodCluster, type IstiodCluster } from './istiod_cluster.ts';
import { sleep, stopGroup, type Started } from './procs.ts';

/**
 * Environment istiod runs with. PILOT_MAX_REQUESTS_PER_SECOND lifts its new-stream rate limit
 * (default on 2 cores: 25 per second, so 2,000 proxies would queue 80 s before being served: a
 * reconnect-storm guard, not work); the push throttle and debounce stay at istiod's defaults.
 * BENCH_ISTIOD_ENV="K=V,K=V" overrides or adds (e.g. PILOT_MAX_REQUESTS_PER_SECOND=0 for the default).
 */
export function istiodEnv(): Record<string, string> {
  const env: Record<string, string> = {
    POD_NAMESPACE: 'istio-system',
    POD_NAME: 'istiod-bench',
    PILOT_MAX_REQUESTS_PER_SECOND: '100000',
  };
  for (const kv of (process.env.BENCH_ISTIOD_ENV ?? '').split(',').map((s) => s.trim()).filter(Boolean)) {
    const eq = kv.indexOf('=');
    if (eq > 0) env[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  return env;
}

export interface RunningIstiod {
  cp: Started;
  grpcPort: number;
  httpPort: number;
  /** The Kubernetes istiod reads (its CPU is reported beside istiod's). */
  kube: IstiodCluster;
  /** performance.now() when pilot-discovery itself was spawned (after the cluster was up). */
  spawnedAt: number;
}

/** Starts pilot-discovery on `configDir`; resolves once /ready answers 200, or throws with its log tail. */
export async function startIstiod(binary: string, configDir: string, workDir: string, timeoutMs: number, namespaces: string[]): Promise<RunningIstiod> {
  mkdirSync(workDir, { recursive: true });
  const kube = await startIstiodCluster(join(workDir, 'kube'), namespaces, timeoutMs);
  const [grpcPort, httpPort, monitoringPort, ctrlzPort] = [await freePort(), await freePort(), await freePort(), await freePort()];
  // Istio's defaults, written out: no mesh config file would also mean defaults, but istiod then
  // looks for ./etc/istio/config/mesh relative to its working directory.
  const meshFile = join(workDir, 'mesh.yaml');
  writeFileSync(meshFile, `rootNamespace: istio-system\ntrustDomain: cluster.local\ndefaultConfig:\n  discoveryAddress: 127.0.0.1:${grpcPort}\n`);
  const networksFile = join(workDir, 'meshNetworks.yaml');
  writeFileSync(networksFile, 'networks: {}\n');
  const args = [
    'discovery',
    `--configDir=${configDir}`,
    '--registries=Kubernetes',
    `--kubeconfig=${kube.kubeconfig}`,
    `--meshConfig=${meshFile}`,
    `--networksConfig=${networksFile}`,
    '--domain=cluster.local',
    '--clusterID=Kubernetes',
    '--namespace=istio-system',
    `--grpcAddr=127.0.0.1:${grpcPort}`,
    '--secureGRPCAddr=',
    `--httpAddr=127.0.0.1:${httpPort}`,
    '--httpsAddr=',
    `--monitoringAddr=127.0.0.1:${monitoringPort}`,
    '--ctrlz_address=127.0.0.1',
    `--ctrlz_port=${ctrlzPort}`,
    '--keepaliveMaxServerConnectionAge=24h',
    '--shutdownDuration=1s',
  ];
  const spawnedAt = performance.now();
  const cp = spawnIn(workDir, binary, args, istiodEnv(), () => kube.close());
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (cp.proc.exitCode !== null || Date.now() > deadline) {
      await cp.stop();
      const how = cp.proc.exitCode !== null ? `exited with ${cp.proc.exitCode}` : `not ready after ${timeoutMs / 1000} s`;
      throw new Error(`istiod ${how}${panicSummary(cp.output())}:\n${cp.output().slice(-3000)}`);
    }
    try {
      const r = await fetch(`http://127.0.0.1:${httpPort}/ready`, { signal: AbortSignal.timeout(2000) });
      if (r.status === 200) break;
    } catch {
      /* not listening yet */
    }
    await sleep(100);
  }
  return { cp, grpcPort, httpPort, kube, spawnedAt };
}

/** istiod's log lines since `sinceEpochMs` that say what a push did (for the propagation summary). */
export function istiodPushLines(log: string, sinceEpochMs: number): string[] {
  return log
    .split('\n')
    .filter((l) => /Push debounce stable|XDS: (Incremental )?Pushing|Push Status:/.test(l))
    .filter((l) => {
      // Each line starts with an RFC 3339 timestamp (microseconds; Date.parse keeps milliseconds).
      const t = Date.parse(l.split(/\s/)[0] ?? '');
      return Number.isNaN(t) || t >= Math.floor(sinceEpochMs) - 1;
    })
    .map((l) => l.replace(/^\S+\s+info\s+(ads\s+)?/, '').slice(0, 160));
}

/**
 * Like procs.start, in `cwd`: istiod writes files relative to its working directory
 * (./var/run/secrets/..., ./etc/...), which must land in the bench's scratch folder, not the repo.
 */
function spawnIn(cwd: string, cmd: string, args: string[], env: Record<string, string>, after: () => Promise<void> | undefined): Started {
  const proc = spawn(cmd, args, { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let out = '';
  const onData = (d: Buffer) => {
    out += d.toString();
    if (out.length > 400_000) out = out.slice(-200_000);
  };
  proc.stdout!.on('data', onData);
  proc.stderr!.on('data', onData);
  const stop = async () => {
    await stopGroup(proc);
    await after();
  };
  return { proc, name: 'istiod', output: () => out, stop };
}

/** "panic: <what> at <first frame> (<file:line>)" from a Go panic in istiod's output, or ''. */
export function panicSummary(out: string): string {
  const i = out.indexOf('panic: ');
  if (i < 0) return '';
  const lines = out.slice(i).split('\n');
  const what = lines[0]!.trim();
  // The first frame below "goroutine N [running]:" is where it happened; the next one says who called it.
  const g = lines.findIndex((l) => /^goroutine \d+ \[running\]:/.test(l));
  const frames: string[] = [];
  for (let k = g + 1; g >= 0 && k + 1 < lines.length && frames.length < 2; k += 2) {
    const fn = lines[k]!.trim().replace(/\([^()]*\)$/, '');
    const at = lines[k + 1]!.trim().replace(/ \+0x[0-9a-f]+$/, '').replace(/^.*\/(istio\.io\/istio@[^/]+\/|pkg\/mod\/)/, '');
    frames.push(`${fn} (${at})`);
  }
  return `: ${what}${frames.length ? ` in ${frames.join(', called from ')}` : ''}`;
}
