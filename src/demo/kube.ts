/**
 * `tsmesh demo --kube`: the demo as a Kubernetes node. Starts a real API server and controller
 * manager (src/kube/local/), the control plane in Kubernetes mode, and the node agent
 * (src/kube/node/) that plays kubelet and scheduler; then prints the kubeconfig and a kubectl
 * line and waits for Ctrl-C. It applies nothing itself: in this mode kubectl is how workloads
 * arrive (`kubectl apply -f bookinfo.yaml`, as on any cluster), and what the user applies is
 * what runs. Loaded only with --kube, so the file-based demo never loads Kubernetes code.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Writable } from 'node:stream';
import { tsmeshCommand } from '../common/self_command.ts';
import { startLocalCluster, type LocalCluster } from '../kube/local/cluster.ts';
import { findKubeBinaries } from '../kube/local/bin_dir.ts';
import { CA_STATE_FILES } from '../ca/authority.ts';
import { istioCrds } from '../kube/crds/index.ts';
import { manifestYaml } from '../kube/install/manifest.ts';
import type { KubeObject } from '../kube/install/types.ts';
import { NodeAgent } from '../kube/node/agent.ts';
import type { ControlPlaneAddress } from '../kube/node/sidecar.ts';
import { DEFAULT_POD_NET } from '../kube/node/pod_network.ts';
import { watchAncestors } from './parent_watch.ts';
import { CONTROLPLANE_HOST } from './plan.ts';
import { httpProbe, lazyProbe, logLineProbe, waitReady } from './readiness.ts';
import { CONTROLPLANE_READY } from './run.ts';
import { Supervisor } from './supervisor.ts';

export interface KubeDemoOptions {
  repoRoot: string;
  stateDir: string;
  /** Pod IPs (default 198.18.0., made local on lo) and app IPs behind sidecars (default 127.0.2.). */
  podNet?: string;
  appNet?: string;
  out?: Writable;
  handleSignals?: boolean;
}

export interface KubeDemoHandle {
  readonly started: Promise<boolean>;
  readonly exitCode: Promise<number>;
  stop(): Promise<void>;
}

const CONTROLPLANE_TIMEOUT_MS = 90_000;

/** True when this build's `tsmesh controlplane` has the Kubernetes mode (`--kubeconfig`). */
function controlPlaneHasKubeMode(repoRoot: string): boolean {
  const cmd = tsmeshCommand(['controlplane', '--help'], repoRoot);
  const r = spawnSync(cmd.command, cmd.args, { cwd: repoRoot, encoding: 'utf8', timeout: 30_000 });
  return /--kubeconfig/.test(`${r.stdout}${r.stderr}`);
}

export function startKubeDemo(o: KubeDemoOptions): KubeDemoHandle {
  const out = o.out ?? process.stdout;
  const print = (l = '') => out.write(`${l}\n`);
  const stateDir = resolve(o.stateDir);
  const sup = new Supervisor();
  let cluster: LocalCluster | undefined;
  let agent: NodeAgent | undefined;
  let stopping: Promise<void> | undefined;
  let resolveExit!: (c: number) => void;
  const exitCode = new Promise<number>((r) => (resolveExit = r));
  const cleanups: Array<() => void> = [];

  const stop = (code = 0): Promise<void> =>
    (stopping ??= (async () => {
      const any = cluster !== undefined;
      if (any) print('stopping…');
      await agent?.close().catch(() => undefined);
      await sup.stopAll({ timeoutMs: 3000 });
      await cluster?.close().catch(() => undefined);
      for (const c of cleanups.splice(0)) c();
      if (any) print('stopped');
      resolveExit(code);
    })());

  if (o.handleSignals) {
    const onSignal = () => void stop(0);
    for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(s, onSignal);
    const unwatch = watchAncestors((why) => {
      print(`${why}: stopping`);
      void stop(0);
    });
    cleanups.push(() => {
      unwatch();
      for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.off(s, onSignal);
    });
  }

  const started = (async (): Promise<boolean> => {
    let binaries;
    try {
      binaries = findKubeBinaries();
    } catch (err) {
      print(`tsmesh demo --kube: ${(err as Error).message}`);
      return false;
    }
    const kubeDir = join(stateDir, 'kube');
    rmSync(kubeDir, { recursive: true, force: true });
    mkdirSync(kubeDir, { recursive: true });
    print('starting etcd, kube-apiserver and kube-controller-manager…');
    cluster = await startLocalCluster({ dir: kubeDir, binDir: binaries.binDir, controllerManager: true, log: (l) => print(`  ${l}`) });
    const kubectl = `${binaries.kubectl} --kubeconfig ${cluster.kubeconfig}`;

    // Istio's CRDs (generated from the schemas tsmesh validates with) and its namespace, as
    // `tsmesh install` would create them: Istio's networking samples then apply with kubectl.
    const setup = spawnSync(binaries.kubectl, ['--kubeconfig', cluster.kubeconfig, 'apply', '--server-side', '--field-manager=tsmesh-demo', '-f', '-'], {
      input: manifestYaml([{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'istio-system' } }, ...(istioCrds() as unknown as KubeObject[])]),
      encoding: 'utf8',
      timeout: 120_000,
    });
    if (setup.status !== 0) {
      print(`✖ applying Istio's CRDs failed: ${setup.stderr.trim() || setup.error?.message}`);
      return false;
    }
    print(`✔ Istio CRDs and namespace istio-system applied`);

    // The control plane in Kubernetes mode: config and registry from the API server.
    let controlPlane: ControlPlaneAddress | undefined;
    if (controlPlaneHasKubeMode(o.repoRoot)) {
      const logFile = join(stateDir, 'logs', 'controlplane.log');
      const cpState = join(stateDir, 'controlplane');
      const cmd = tsmeshCommand(['controlplane', '--kubeconfig', cluster.kubeconfig, '--grpc-port', '0', '--http-port', '0', '--secure-grpc-port', '0', '--address', CONTROLPLANE_HOST, '--state-dir', cpState], o.repoRoot);
      const p = sup.start({ name: 'control plane', command: cmd.command, args: cmd.args, cwd: o.repoRoot, logFile });
      let xds = 0;
      let http = 0;
      let secure = 0;
      const r = await waitReady(
        [
          logLineProbe(logFile, CONTROLPLANE_READY, '"tsmesh controlplane ready" in its log', (m) => {
            xds = Number(m[1]);
            http = Number(m[2]);
            secure = Number(m[3]);
          }),
          lazyProbe(() => httpProbe(`http://${CONTROLPLANE_HOST}:${http}/ready`), 'GET /ready'),
        ],
        { timeoutMs: CONTROLPLANE_TIMEOUT_MS, giveUp: () => (p.running ? undefined : `the control plane ${p.describeExit()}`) },
      );
      if (!r.ready) {
        print(`✖ control plane failed: ${r.reason} (log: ${logFile})`);
        return false;
      }
      // Sidecars get certificates from its CA with a TokenRequest token (audience istio-ca) that
      // it checks by TokenReview; its root is in its state dir, as in the file-based demo.
      controlPlane = { xds: { host: CONTROLPLANE_HOST, port: xds }, ca: { address: `${CONTROLPLANE_HOST}:${secure}`, rootCertFile: join(cpState, 'ca', CA_STATE_FILES.rootCert) } };
      print(`✔ control plane (Kubernetes mode) ready: xDS ${CONTROLPLANE_HOST}:${xds}, HTTP ${CONTROLPLANE_HOST}:${http}`);
    } else {
      // INTEGRATION POINT (issue 15): `tsmesh controlplane --kubeconfig` is not in this build yet;
      // pods run, but injected sidecars wait with a reason saying no control plane is known.
      print('warning: this build has no `tsmesh controlplane --kubeconfig`: pods run, sidecars wait for a control plane');
    }

    agent = new NodeAgent({
      kubeconfig: cluster.kubeconfig,
      repoRoot: o.repoRoot,
      stateDir,
      ...(o.podNet ? { podNet: o.podNet } : {}),
      ...(o.appNet ? { appNet: o.appNet } : {}),
      ...(controlPlane ? { controlPlane } : {}),
      log: (l) => print(`node ${agent?.nodeName ?? ''}: ${l}`),
    });
    await agent.start();
    print(`✔ node ${agent.nodeName} ready (pod IPs ${o.podNet ?? DEFAULT_POD_NET}0/24)`);
    print('');
    print(`kubeconfig: ${cluster.kubeconfig}`);
    print(`kubectl:    ${kubectl} get nodes`);
    print('');
    print('Then, as on any cluster (Istio\'s samples, unmodified):');
    print(`  ${kubectl} label namespace default istio-injection=enabled`);
    print(`  ${kubectl} apply -f <istio>/samples/bookinfo/platform/kube/bookinfo.yaml`);
    print(`  ${kubectl} get pods -o wide`);
    print('Ctrl-C stops the node, the control plane and the cluster (the cluster\'s data goes with it).');
    return true;
  })().catch((err) => {
    print(`tsmesh demo --kube: ${(err as Error).message}`);
    return false;
  });
  void started.then((ok) => {
    if (!ok) void stop(1);
  });
  return { started, exitCode, stop: () => stop(0) };
}
