/**
 * `tsmesh demo --kube`: the demo as a Kubernetes node. Starts a real API server and controller
 * manager (src/kube/local/), the control plane in Kubernetes mode, and the node agent
 * (src/kube/node/) that plays kubelet and scheduler; then prints the kubeconfig, a kubectl line
 * and the ingress gateway's URL, and waits for Ctrl-C. What it puts on the cluster is what
 * `tsmesh install` would (kube_objects.ts): Istio's CRDs, the injector and validator webhook
 * configurations (served by the control plane on 15017, Istio's port) and the
 * istio-ingressgateway Deployment, which the node runs as a gateway proxy. Workloads arrive by
 * kubectl (`kubectl apply -f bookinfo.yaml`, as on any cluster). Loaded only with --kube, so the
 * file-based demo never loads Kubernetes code.
 *
 * The handle also gives tests control a user has with kubectl and kill: each control-plane
 * replica (kill, start again on the same ports) and the API server (restart).
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Writable } from 'node:stream';
import { tsmeshCommand } from '../common/self_command.ts';
import { startLocalCluster, type LocalCluster } from '../kube/local/cluster.ts';
import { findKubeBinaries } from '../kube/local/bin_dir.ts';
import { KubeClient } from '../kube/client/client.ts';
import { manifestYaml } from '../kube/install/manifest.ts';
import { WEBHOOK_PORT } from '../kube/webhook/start.ts';
import { NodeAgent } from '../kube/node/agent.ts';
import type { ControlPlaneAddress } from '../kube/node/sidecar.ts';
import { DEFAULT_POD_NET } from '../kube/node/pod_network.ts';
import { watchAncestors } from './parent_watch.ts';
import { demoClusterObjects, INGRESS_GATEWAY_HTTP_PORT, INGRESS_GATEWAY_PODS } from './kube_objects.ts';
import { CONTROLPLANE_HOST } from './plan.ts';
import { startServiceForwarder } from './service_forwarder.ts';
import { preferredPort } from './ports.ts';
import { httpProbe, lazyProbe, logLineProbe, waitReady } from './readiness.ts';
import { CONTROLPLANE_READY } from './run.ts';
import { Supervisor, type ManagedProcess } from './supervisor.ts';

export interface KubeDemoOptions {
  repoRoot: string;
  stateDir: string;
  /** Pod IPs (default 198.18.0., made local on lo) and app IPs behind sidecars (default 127.0.2.). */
  podNet?: string;
  appNet?: string;
  out?: Writable;
  handleSignals?: boolean;
  /** Control-plane replicas (default 1), sharing one CA; leader election picks the status writer. */
  replicas?: number;
  /** Run the istio-ingressgateway Deployment (default true). */
  gateway?: boolean;
}

/** One control-plane replica of the demo. */
export interface KubeDemoControlPlane {
  readonly logFile: string;
  readonly running: boolean;
  /** Sends `signal` (default SIGKILL) and waits for it to exit (10 s at most). */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Starts it again on the ports it had; resolves when it is ready. */
  start(): Promise<void>;
}

export interface KubeDemoHandle {
  readonly started: Promise<boolean>;
  readonly exitCode: Promise<number>;
  /** Set once started: the admin kubeconfig. */
  kubeconfig(): string | undefined;
  /** Set once started and the gateway pod is ready: http://<gateway pod IP>:8080. */
  gatewayUrl(): string | undefined;
  controlPlane(i: number): KubeDemoControlPlane;
  restartApiServer(): Promise<void>;
  stop(): Promise<void>;
}

const CONTROLPLANE_TIMEOUT_MS = 90_000;
const GATEWAY_TIMEOUT_MS = 90_000;

/** The ports a replica got on its first start; it takes the same ones again when restarted. */
interface ReplicaPorts {
  xds: number;
  http: number;
  secure: number;
  webhook: number;
}

/** True when this build's `tsmesh controlplane` has the Kubernetes mode (`--kubeconfig`). */
export function startKubeDemo(o: KubeDemoOptions): KubeDemoHandle {
  const out = o.out ?? process.stdout;
  const print = (l = '') => out.write(`${l}\n`);
  const stateDir = resolve(o.stateDir);
  const sup = new Supervisor();
  const replicaCount = Math.max(1, o.replicas ?? 1);
  let cluster: LocalCluster | undefined;
  let agent: NodeAgent | undefined;
  let gatewayUrl: string | undefined;
  let stopping: Promise<void> | undefined;
  let resolveExit!: (c: number) => void;
  const exitCode = new Promise<number>((r) => (resolveExit = r));
  const cleanups: Array<() => void> = [];
  const replicas: Array<{ proc?: ManagedProcess; ports?: ReplicaPorts; starts: number; logFile: string }> = [];
  const cpState = join(stateDir, 'controlplane');

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

  /**
   * Starts replica i (its first start: ports from the OS; later starts: the same ports, so
   * sidecars and the webhook forwarder find it again).
   */
  const startReplica = async (i: number, kubeconfig: string): Promise<ReplicaPorts> => {
    const r = (replicas[i] ??= { starts: 0, logFile: join(stateDir, 'logs', i === 0 ? 'controlplane.log' : `controlplane-${i}.log`) });
    if (r.proc?.running) throw new Error(`control plane ${i} is running; kill it first`);
    const logFile = r.starts === 0 ? r.logFile : r.logFile.replace(/\.log$/, `.restart-${r.starts}.log`);
    r.starts++;
    const p = r.ports;
    const cmd = tsmeshCommand(
      [
        'controlplane', '--kubeconfig', kubeconfig,
        '--grpc-port', String(p?.xds ?? 0), '--http-port', String(p?.http ?? 0), '--secure-grpc-port', String(p?.secure ?? 0),
        '--httpsAddr', `${CONTROLPLANE_HOST}:${p?.webhook ?? 0}`,
        '--address', CONTROLPLANE_HOST, '--state-dir', cpState,
      ],
      o.repoRoot,
    );
    // Each replica has its own Lease identity (the default is hostname-pid, unique already).
    const proc = sup.start({ name: `control plane ${i}`, command: cmd.command, args: cmd.args, cwd: o.repoRoot, logFile, env: { ...cmd.env, POD_NAME: `istiod-${i}` } });
    r.proc = proc;
    const ports: ReplicaPorts = { xds: 0, http: 0, secure: 0, webhook: 0 };
    const ready = await waitReady(
      [
        logLineProbe(logFile, CONTROLPLANE_READY, '"tsmesh controlplane ready" in its log', (m) => {
          ports.xds = Number(m[1]);
          ports.http = Number(m[2]);
          ports.secure = Number(m[3]);
        }),
        logLineProbe(logFile, WEBHOOKS_READY, '"admission webhooks on" in its log', (m) => (ports.webhook = Number(m[1]))),
        lazyProbe(() => httpProbe(`http://${CONTROLPLANE_HOST}:${ports.http}/ready`), 'GET /ready'),
      ],
      { timeoutMs: CONTROLPLANE_TIMEOUT_MS, giveUp: () => (proc.running ? undefined : `control plane ${i} ${proc.describeExit()}`) },
    );
    if (!ready.ready) throw new Error(`control plane ${i} failed: ${ready.reason} (log: ${logFile})`);
    r.ports ??= ports;
    return ports;
  };

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
    rmSync(cpState, { recursive: true, force: true });
    mkdirSync(kubeDir, { recursive: true });
    print('starting etcd, kube-apiserver and kube-controller-manager…');
    cluster = await startLocalCluster({ dir: kubeDir, binDir: binaries.binDir, controllerManager: true, log: (l) => print(`  ${l}`) });
    const kubeconfig = cluster.kubeconfig;
    const kubectl = `${binaries.kubectl} --kubeconfig ${kubeconfig}`;
    const gateway = o.gateway ?? true;

    // What tsmesh install would apply (kube_objects.ts), the webhooks at the control plane's
    // address: registered before it starts, so it patches their caBundle when it does.
    const webhookPort = (await preferredPort(CONTROLPLANE_HOST, WEBHOOK_PORT)).port || WEBHOOK_PORT;
    const objects = demoClusterObjects({ webhookUrl: `https://${CONTROLPLANE_HOST}:${webhookPort}`, gateway });
    const setup = spawnSync(binaries.kubectl, ['--kubeconfig', kubeconfig, 'apply', '--server-side', '--field-manager=tsmesh-demo', '-f', '-'], {
      input: manifestYaml(objects),
      encoding: 'utf8',
      timeout: 120_000,
    });
    if (setup.status !== 0) {
      print(`✖ applying Istio's CRDs, webhooks and gateway failed: ${setup.stderr.trim() || setup.error?.message}`);
      return false;
    }
    print(`✔ Istio CRDs, namespace istio-system, webhook configurations${gateway ? ' and istio-ingressgateway' : ''} applied`);

    // The control plane in Kubernetes mode: config and registry from the API server.
    let controlPlane: ControlPlaneAddress;
    try {
      // Replica 0 first: it makes the CA the others load from the shared state dir.
      const first = await startReplica(0, kubeconfig);
      const rest = await Promise.all(Array.from({ length: replicaCount - 1 }, (_, k) => startReplica(k + 1, kubeconfig)));
      // The webhook configurations' URL: every replica behind it, as istiod's Service.
      const forwarder = await startServiceForwarder(CONTROLPLANE_HOST, webhookPort, () => replicas.map((r) => (r.proc?.running ? (r.ports?.webhook ?? 0) : 0)));
      cleanups.push(() => void forwarder.close());
      const all = [first, ...rest];
      // Sidecars get certificates from its CA with a TokenRequest token (audience istio-ca) that
      // it checks by TokenReview; the root comes from istio-ca-root-cert, which the control plane
      // publishes from its CA in Secret istio-ca-secret (shared by every replica).
      controlPlane = {
        xds: { host: CONTROLPLANE_HOST, port: first.xds },
        ...(all.length > 1 ? { xdsReplicas: all.map((p) => ({ host: CONTROLPLANE_HOST, port: p.xds })) } : {}),
        // Every replica's CA, as a gRPC address list: a pod started while one replica is down
        // still gets its certificate (Istio's sidecars reach them all behind istiod's Service).
        ca: { address: all.length > 1 ? `ipv4:${all.map((p) => `${CONTROLPLANE_HOST}:${p.secure}`).join(',')}` : `${CONTROLPLANE_HOST}:${first.secure}` },
      };
      for (const [i, p] of all.entries()) {
        print(`✔ control plane ${all.length > 1 ? `${i} ` : ''}(Kubernetes mode) ready: xDS ${CONTROLPLANE_HOST}:${p.xds}, HTTP ${CONTROLPLANE_HOST}:${p.http}, webhooks https://${CONTROLPLANE_HOST}:${p.webhook}`);
      }
    } catch (err) {
      print(`✖ ${(err as Error).message}`);
      return false;
    }

    agent = new NodeAgent({
      kubeconfig,
      repoRoot: o.repoRoot,
      stateDir,
      ...(o.podNet ? { podNet: o.podNet } : {}),
      ...(o.appNet ? { appNet: o.appNet } : {}),
      ...(controlPlane ? { controlPlane } : {}),
      log: (l) => print(`node ${agent?.nodeName ?? ''}: ${l}`),
    });
    await agent.start();
    print(`✔ node ${agent.nodeName} ready (pod IPs ${o.podNet ?? DEFAULT_POD_NET}0/24)`);
    if (gateway && controlPlane) {
      const ip = await gatewayPodIP(KubeClient.fromFile(kubeconfig), GATEWAY_TIMEOUT_MS);
      if (ip) {
        gatewayUrl = `http://${ip}:${INGRESS_GATEWAY_HTTP_PORT}`;
        print(`✔ istio-ingressgateway ready: ${gatewayUrl} (Gateway servers on port 80 listen on ${INGRESS_GATEWAY_HTTP_PORT})`);
      } else {
        print(`warning: istio-ingressgateway not ready in ${GATEWAY_TIMEOUT_MS / 1000} s: ${kubectl} -n istio-system describe pods -l ${INGRESS_GATEWAY_PODS.selector}`);
      }
    }
    print('');
    print(`kubeconfig: ${kubeconfig}`);
    print(`kubectl:    ${kubectl} get nodes`);
    print('');
    print('Then, as on any cluster (Istio\'s samples, unmodified):');
    print(`  ${kubectl} label namespace default istio-injection=enabled`);
    print(`  ${kubectl} apply -f <istio>/samples/bookinfo/platform/kube/bookinfo.yaml`);
    print(`  ${kubectl} apply -f <istio>/samples/bookinfo/networking/bookinfo-gateway.yaml`);
    print(`  ${kubectl} get pods -o wide`);
    if (gatewayUrl) print(`  curl ${gatewayUrl}/productpage`);
    print('Ctrl-C stops the node, the control plane and the cluster (the cluster\'s data goes with it).');
    return true;
  })().catch((err) => {
    print(`tsmesh demo --kube: ${(err as Error).message}`);
    return false;
  });
  void started.then((ok) => {
    if (!ok) void stop(1);
  });

  const controlPlaneOf = (i: number): KubeDemoControlPlane => {
    const r = () => {
      const x = replicas[i];
      if (!x) throw new Error(`no control plane ${i} (replicas: ${replicas.length})`);
      return x;
    };
    return {
      get logFile() {
        return r().proc?.logFile ?? r().logFile;
      },
      get running() {
        return r().proc?.running ?? false;
      },
      async kill(signal: NodeJS.Signals = 'SIGKILL') {
        const p = r().proc;
        if (!p?.running) return;
        p.stopping = true;
        p.signalGroup(signal);
        await Promise.race([p.exited, new Promise((res) => setTimeout(res, 10_000).unref())]);
        if (p.running) p.signalGroup('SIGKILL');
        await p.exited;
      },
      async start() {
        if (!cluster) throw new Error('the demo has not started');
        await startReplica(i, cluster.kubeconfig);
      },
    };
  };

  return {
    started,
    exitCode,
    kubeconfig: () => cluster?.kubeconfig,
    gatewayUrl: () => gatewayUrl,
    controlPlane: controlPlaneOf,
    restartApiServer: async () => {
      if (!cluster) throw new Error('the demo has not started');
      await cluster.restartApiServer();
    },
    stop: () => stop(0),
  };
}

/** "admission webhooks on https://host:port" from tsmesh controlplane (src/cli/controlplane.ts). */
const WEBHOOKS_READY = /admission webhooks on https:\/\/[^\s]+:(\d+)/;

/** The gateway pod's IP once it is Running and Ready (polled; undefined after `timeoutMs`). */
async function gatewayPodIP(client: KubeClient, timeoutMs: number): Promise<string | undefined> {
  const path = `/api/v1/namespaces/${INGRESS_GATEWAY_PODS.namespace}/pods?labelSelector=${encodeURIComponent(INGRESS_GATEWAY_PODS.selector)}`;
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      const list = await client.get(path);
      for (const p of list.items ?? []) {
        const ready = (p.status?.conditions ?? []).some((c: { type: string; status: string }) => c.type === 'Ready' && c.status === 'True');
        if (p.status?.phase === 'Running' && ready && p.status.podIP) return p.status.podIP as string;
      }
    } catch {
      // The API server restarting: try again.
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  return undefined;
}

