/**
 * The node agent: what a kubelet (and, on this one-node cluster, the scheduler) does for the
 * demo. It registers a Node, heartbeats through its Lease in kube-node-lease, binds pods that no
 * node has to itself, runs the pods bound to it as local processes (pod_runner.ts) at addresses
 * from its pod net (pod_network.ts), and writes their status so that the controller manager's
 * EndpointSlice, Job and Deployment controllers see what they would see with a kubelet.
 * Deleted pods: their processes get SIGTERM, then the agent removes the pod object.
 */
import { mkdirSync, rmSync } from 'node:fs';
import { arch, hostname, release } from 'node:os';
import { join } from 'node:path';
import { Supervisor } from '../../demo/supervisor.ts';
import type { PodAddresses } from './containers.ts';
import { apiMessage, apiStatus, bindPod, finalizePodDeletion, nodeApi, patchNodeStatus, patchPodStatus, renewNodeLease, type NodeApi } from './kube_api.ts';
import { DEFAULT_APP_NET, DEFAULT_POD_NET, PodAddressPool, ensureLocalNet, type LocalRoute } from './pod_network.ts';
import { PodRunner } from './pod_runner.ts';
import { podStatus, type PodStatus } from './pod_status.ts';
import { SidecarLauncher, type ControlPlaneAddress } from './sidecar.ts';
import type { KubePod } from './types.ts';
import { watchPods, type PodWatch } from './watch_loop.ts';

export interface NodeAgentOptions {
  kubeconfig: string;
  /** Node name (default tsmesh-demo). */
  nodeName?: string;
  repoRoot: string;
  /** Bootstrap files, tokens and one log per container go here. */
  stateDir: string;
  /** Three octets and a dot: pod IPs (default 198.18.0., made local on lo) and app IPs (127.0.2.). */
  podNet?: string;
  appNet?: string;
  /** The node's address (status.hostIP, the Node's InternalIP). */
  hostIP?: string;
  region?: string;
  zone?: string;
  /** Where sidecars get xDS and certificates; may be set later (setControlPlane) when it starts after the node. */
  controlPlane?: ControlPlaneAddress;
  /** Bind pods no node has to this one (a one-node scheduler). Default true. */
  schedule?: boolean;
  log?: (line: string) => void;
  stopMs?: number;
}

const LEASE_SECONDS = 40;
const LEASE_RENEW_MS = 10_000;
/** The kubelet posts node status every 5 minutes once the Lease carries the heartbeat; we post every minute. */
const NODE_STATUS_MS = 60_000;
export const DEFAULT_NODE_NAME = 'tsmesh-demo';
const KUBELET_VERSION = 'v1.37.2';

interface PodEntry {
  uid: string | undefined;
  runner: PodRunner;
  addr: PodAddresses;
  status?: PodStatus;
  written?: string;
  writing: boolean;
  dirty: boolean;
  deleting: boolean;
}

export class NodeAgent {
  readonly nodeName: string;
  readonly api: NodeApi;
  readonly supervisor = new Supervisor();
  private readonly pool: PodAddressPool;
  private readonly hostIP: string;
  private readonly pods = new Map<string, PodEntry>();
  private readonly sidecars: SidecarLauncher;
  private controlPlane: ControlPlaneAddress | undefined;
  private watches: PodWatch[] = [];
  private timers: NodeJS.Timeout[] = [];
  private route: LocalRoute | undefined;
  private closed = false;
  private readonly log: (line: string) => void;
  private nodeUid: string | undefined;

  constructor(private readonly o: NodeAgentOptions) {
    this.nodeName = o.nodeName ?? DEFAULT_NODE_NAME;
    this.api = nodeApi(o.kubeconfig);
    this.pool = new PodAddressPool(o.podNet ?? DEFAULT_POD_NET, o.appNet ?? DEFAULT_APP_NET);
    this.hostIP = o.hostIP ?? '127.0.0.1';
    this.controlPlane = o.controlPlane;
    this.log = o.log ?? ((l) => process.stderr.write(`node ${this.nodeName}: ${l}\n`));
    this.sidecars = new SidecarLauncher(this.api, o.stateDir, o.repoRoot, () => this.controlPlane);
  }

  setControlPlane(cp: ControlPlaneAddress): void {
    this.controlPlane = cp;
  }

  /** Registers the Node and starts watching; resolves once the Node exists. */
  async start(): Promise<void> {
    mkdirSync(join(this.o.stateDir, 'logs'), { recursive: true });
    this.route = await ensureLocalNet(this.pool.podNet);
    if (this.pool.podNet.startsWith('127.')) {
      this.log(`warning: pod IPs in ${this.pool.podNet}0/24 are loopback addresses, which Kubernetes refuses in EndpointSlices: Services will have no endpoints`);
    }
    await this.registerNode();
    await this.heartbeat();
    this.timers.push(setInterval(() => void this.heartbeat(), LEASE_RENEW_MS));
    this.timers.push(setInterval(() => void this.postNodeStatus().catch((e) => this.log(`node status: ${apiMessage(e)}`)), NODE_STATUS_MS));
    this.watches.push(
      watchPods(this.api, `spec.nodeName=${this.nodeName}`, {
        onSync: (pods) => {
          const keys = new Set(pods.map(podKey));
          for (const p of pods) this.reconcile(p);
          for (const [k, e] of this.pods) if (!keys.has(k)) void this.podGone(k, e);
        },
        onEvent: (type, pod) => (type === 'DELETED' ? void this.podGone(podKey(pod), this.pods.get(podKey(pod))) : this.reconcile(pod)),
        onError: (m) => this.log(m),
      }),
    );
    if (this.o.schedule ?? true) {
      const bindAll = (pods: KubePod[]) => pods.forEach((p) => void this.bind(p));
      this.watches.push(
        watchPods(this.api, 'spec.nodeName=', {
          onSync: bindAll,
          onEvent: (type, pod) => type !== 'DELETED' && void this.bind(pod),
          onError: (m) => this.log(m),
        }),
      );
    }
  }

  private nodeLabels(): Record<string, string> {
    return {
      'kubernetes.io/hostname': this.nodeName,
      'kubernetes.io/os': 'linux',
      'kubernetes.io/arch': arch() === 'x64' ? 'amd64' : arch(),
      'topology.kubernetes.io/region': this.o.region ?? 'local',
      'topology.kubernetes.io/zone': this.o.zone ?? 'local-a',
    };
  }

  private async registerNode(): Promise<void> {
    try {
      const n = await this.api.core.createNode({ body: { apiVersion: 'v1', kind: 'Node', metadata: { name: this.nodeName, labels: this.nodeLabels() }, spec: {} } });
      this.nodeUid = n.metadata?.uid;
    } catch (err) {
      if (apiStatus(err) !== 409) throw new Error(`could not register Node ${this.nodeName}: ${apiMessage(err)}`);
      const n = await this.api.core.readNode({ name: this.nodeName });
      this.nodeUid = n.metadata?.uid;
    }
    await this.postNodeStatus();
  }

  private async postNodeStatus(): Promise<void> {
    const now = new Date().toISOString();
    const cond = (type: string, status: string, reason: string, message: string) => ({ type, status, reason, message, lastHeartbeatTime: now, lastTransitionTime: now });
    await patchNodeStatus(this.api, this.nodeName, {
      conditions: [
        cond('MemoryPressure', 'False', 'KubeletHasSufficientMemory', 'tsmesh node agent'),
        cond('DiskPressure', 'False', 'KubeletHasNoDiskPressure', 'tsmesh node agent'),
        cond('PIDPressure', 'False', 'KubeletHasSufficientPID', 'tsmesh node agent'),
        cond('Ready', 'True', 'KubeletReady', 'tsmesh node agent is posting ready status'),
      ],
      addresses: [
        { type: 'InternalIP', address: this.hostIP },
        { type: 'Hostname', address: this.nodeName },
      ],
      capacity: { cpu: '8', memory: '16Gi', pods: '254' },
      allocatable: { cpu: '8', memory: '16Gi', pods: '254' },
      nodeInfo: {
        machineID: '',
        systemUUID: '',
        bootID: '',
        kernelVersion: release(),
        osImage: `tsmesh node agent on ${hostname()}`,
        containerRuntimeVersion: 'tsmesh://processes',
        kubeletVersion: KUBELET_VERSION,
        kubeProxyVersion: '',
        operatingSystem: 'linux',
        architecture: this.nodeLabels()['kubernetes.io/arch'],
      },
    });
  }

  private async heartbeat(): Promise<void> {
    if (this.closed) return;
    try {
      await renewNodeLease(this.api, this.nodeName, LEASE_SECONDS, this.nodeUid);
    } catch (err) {
      this.log(`renewing Lease kube-node-lease/${this.nodeName}: ${apiMessage(err)}`);
    }
  }

  private async bind(pod: KubePod): Promise<void> {
    if (this.closed || pod.spec.nodeName || pod.metadata.deletionTimestamp) return;
    const schedulerName = (pod.spec as { schedulerName?: string }).schedulerName;
    if (schedulerName && schedulerName !== 'default-scheduler') return;
    try {
      await bindPod(this.api, pod.metadata.namespace, pod.metadata.name, pod.metadata.uid, this.nodeName);
    } catch (err) {
      // 409: bound meanwhile (a second event for the same pod); 404: gone.
      if (apiStatus(err) !== 409 && apiStatus(err) !== 404) this.log(`binding pod ${podKey(pod)}: ${apiMessage(err)}`);
    }
  }

  /** Starts a pod seen for the first time; stops one being deleted. */
  private reconcile(pod: KubePod): void {
    if (this.closed) return;
    const key = podKey(pod);
    let e = this.pods.get(key);
    if (e && pod.metadata.uid && e.uid !== pod.metadata.uid) {
      // Same name, new pod: the old one is gone.
      void this.podGone(key, e);
      e = undefined;
    }
    if (pod.metadata.deletionTimestamp) {
      if (e && !e.deleting) void this.deletePod(key, e, pod);
      else if (!e) void finalizePodDeletion(this.api, pod.metadata.namespace, pod.metadata.name, pod.metadata.uid).catch((err) => this.log(`removing pod ${key}: ${apiMessage(err)}`));
      return;
    }
    if (e) return;
    const phase = pod.status?.phase;
    // A pod that finished before (an agent restart) stays as it is.
    if (phase === 'Succeeded' || phase === 'Failed') return;
    const addr = this.pool.allocate();
    if (!addr) {
      this.log(`pod ${key}: no free pod address in ${this.pool.podNet}0/24`);
      return;
    }
    const entry: PodEntry = { uid: pod.metadata.uid, addr, writing: false, dirty: false, deleting: false, runner: undefined as unknown as PodRunner };
    entry.runner = new PodRunner(pod, addr, {
      repoRoot: this.o.repoRoot,
      logDir: join(this.o.stateDir, 'logs'),
      supervisor: this.supervisor,
      proxyLaunch: (p, a) => this.sidecars.launch(p, a),
      onChange: () => void this.writeStatus(key, entry),
      log: this.log,
      ...(this.o.stopMs !== undefined ? { stopMs: this.o.stopMs } : {}),
    });
    this.pods.set(key, entry);
    this.log(`pod ${key}: starting at ${addr.podIP}`);
    void this.writeStatus(key, entry);
    void entry.runner.run().catch((err) => this.log(`pod ${key}: ${(err as Error).stack ?? err}`));
  }

  /** Writes the pod's status when it changed; one write at a time per pod, the latest wins. */
  private async writeStatus(key: string, e: PodEntry): Promise<void> {
    if (e.writing) {
      e.dirty = true;
      return;
    }
    e.writing = true;
    try {
      do {
        e.dirty = false;
        if (this.pods.get(key) !== e || e.deleting) return;
        const r = e.runner;
        const status = podStatus({ records: r.records, restartPolicy: r.pod.spec.restartPolicy ?? 'Always', podIP: e.addr.podIP, hostIP: this.hostIP, startTime: r.startTime, previous: e.status, now: new Date().toISOString() });
        const json = JSON.stringify(status);
        if (json === e.written) continue;
        try {
          await patchPodStatus(this.api, r.pod.metadata.namespace, r.pod.metadata.name, status);
          e.status = status;
          e.written = json;
        } catch (err) {
          if (apiStatus(err) === 404) return;
          this.log(`pod ${key}: writing status: ${apiMessage(err)}`);
          await new Promise((res) => setTimeout(res, 500));
          e.dirty = true;
        }
      } while (e.dirty && !this.closed);
    } finally {
      e.writing = false;
    }
  }

  /** Graceful deletion: stop the processes (SIGTERM, the grace period, SIGKILL), then remove the pod. */
  private async deletePod(key: string, e: PodEntry, pod: KubePod): Promise<void> {
    e.deleting = true;
    const grace = pod.metadata.deletionGracePeriodSeconds ?? pod.spec.terminationGracePeriodSeconds ?? 30;
    await e.runner.stop(grace * 1000);
    this.forget(key, e);
    this.log(`pod ${key}: stopped (deleted)`);
    try {
      await finalizePodDeletion(this.api, pod.metadata.namespace, pod.metadata.name, pod.metadata.uid);
    } catch (err) {
      this.log(`removing pod ${key}: ${apiMessage(err)}`);
    }
  }

  /** The pod object is gone (deleted with grace 0 by someone else): stop what runs. */
  private async podGone(key: string, e: PodEntry | undefined): Promise<void> {
    if (!e) return;
    e.deleting = true;
    this.forget(key, e);
    await e.runner.stop(0);
  }

  private forget(key: string, e: PodEntry): void {
    if (this.pods.get(key) === e) this.pods.delete(key);
    this.pool.release(e.addr.index);
  }

  /** The pods running here and their addresses (for messages and tests). */
  podAddresses(): Array<{ key: string; podIP: string; appIP: string }> {
    return [...this.pods].map(([key, e]) => ({ key, podIP: e.addr.podIP, appIP: e.addr.appIP }));
  }

  /** Stops every pod's processes and the watches; the Node object stays (as a stopped kubelet's does). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const w of this.watches) w.close();
    for (const t of this.timers) clearInterval(t);
    await Promise.all([...this.pods.values()].map((e) => e.runner.stop(0)));
    await this.supervisor.stopAll({ timeoutMs: this.o.stopMs ?? 3000 });
    this.pods.clear();
    const dir = this.sidecars.socketDirectory();
    if (dir) rmSync(dir, { recursive: true, force: true });
    this.route?.remove();
  }
}

function podKey(p: KubePod): string {
  return `${p.metadata.namespace}/${p.metadata.name}`;
}
