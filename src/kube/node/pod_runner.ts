/**
 * One pod's containers as local processes, in the kubelet's order: init containers one after the
 * other (each must exit 0), native sidecars (restartPolicy Always init containers) started and
 * kept running before the next init container, then the regular containers together. Regular
 * containers are restarted per the pod's restartPolicy; when a Job's pod has no regular
 * container left to run, its native sidecars are stopped and the pod completes. Every change
 * of state calls `onChange`; readiness is probed while containers run.
 */
import { constants } from 'node:os';
import { join } from 'node:path';
import { httpProbe, tcpProbe, type Probe } from '../../demo/readiness.ts';
import type { ManagedProcess, Supervisor } from '../../demo/supervisor.ts';
import { appContainerLaunch, containerRole, hasIstioProxy, isNativeSidecar, type PodAddresses } from './containers.ts';
import type { ContainerRecord, ContainerState, KubeContainer, KubePod } from './types.ts';

/** A process to start for one container, and how to tell it is ready. */
export interface ContainerLaunch {
  command: string;
  args: string[];
  env?: Record<string, string>;
  probes: Probe[];
  description: string;
}

export interface PodRunnerOptions {
  repoRoot: string;
  logDir: string;
  supervisor: Supervisor;
  /** The istio-proxy container's process (sidecar.ts), or an error shown as its waiting reason. */
  proxyLaunch(pod: KubePod, addr: PodAddresses): Promise<ContainerLaunch | { error: string }>;
  onChange(): void;
  log(line: string): void;
  /** SIGTERM → SIGKILL when a pod is stopped (capped by the pod's terminationGracePeriodSeconds). */
  stopMs?: number;
  probeIntervalMs?: number;
}

const RESTART_BACKOFF_MS = [1000, 2000, 5000, 10_000];
const INIT_DONE = 'no capture on this node: pods share the host network on loopback; the sidecar runs in NONE interception mode';

const now = () => new Date().toISOString();

interface Slot {
  spec: KubeContainer;
  record: ContainerRecord;
  proc?: ManagedProcess;
  probes: Probe[];
}

export class PodRunner {
  readonly records: ContainerRecord[] = [];
  private readonly slots: Slot[] = [];
  private stopping = false;
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly sidecar: boolean;
  readonly startTime = now();

  constructor(readonly pod: KubePod, readonly addr: PodAddresses, private readonly o: PodRunnerOptions) {
    this.sidecar = hasIstioProxy(pod);
    for (const c of pod.spec.initContainers ?? []) this.addSlot(c, true);
    for (const c of pod.spec.containers) this.addSlot(c, false);
  }

  private addSlot(spec: KubeContainer, init: boolean): void {
    const record: ContainerRecord = {
      name: spec.name,
      image: spec.image ?? '',
      init,
      nativeSidecar: init && isNativeSidecar(spec),
      state: { waiting: { reason: 'PodInitializing' } },
      ready: false,
      started: false,
      restartCount: 0,
    };
    this.records.push(record);
    this.slots.push({ spec, record, probes: [] });
  }

  get key(): string {
    return `${this.pod.metadata.namespace}/${this.pod.metadata.name}`;
  }

  /** Runs the pod to its end (or until stop()); resolves when nothing more will start. */
  async run(): Promise<void> {
    const probeTimer = setInterval(() => void this.probe(), this.o.probeIntervalMs ?? 500);
    this.timers.add(probeTimer);
    for (const s of this.slots.filter((s) => s.record.init)) {
      if (this.stopping) return;
      const role = containerRole(s.spec);
      if (role === 'istio-init') {
        s.record.state = { terminated: { exitCode: 0, reason: 'Completed', message: INIT_DONE, startedAt: now(), finishedAt: now() } };
        this.o.onChange();
        continue;
      }
      if (s.record.nativeSidecar) {
        if (!(await this.start(s))) return;
        // The next init container starts once this one has started (ready, for Istio's proxy:
        // its startupProbe is what holds the application until the proxy is up).
        if (!(await this.until(() => (role === 'istio-proxy' ? s.record.ready : s.record.started) || !s.proc?.running))) return;
        continue;
      }
      for (;;) {
        if (!(await this.start(s))) return;
        const exit = await s.proc!.exited;
        if (this.stopping) return;
        this.terminated(s, exit.code, exit.signal);
        if (exit.code === 0) break;
        if (this.pod.spec.restartPolicy === 'Never') return;
        await this.backoff(s);
      }
    }
    await Promise.all(this.slots.filter((s) => !s.record.init).map((s) => this.runRegular(s)));
    if (this.stopping) return;
    // Only containers that will not restart get here (restartPolicy Never/OnFailure): a Job's pod.
    const sidecars = this.slots.filter((s) => s.record.nativeSidecar && s.proc?.running);
    await this.stopSlots(sidecars);
    this.o.onChange();
    this.clearTimers();
  }

  private async runRegular(s: Slot): Promise<void> {
    for (;;) {
      if (!(await this.start(s))) return;
      const exit = await s.proc!.exited;
      if (this.stopping) return;
      this.terminated(s, exit.code, exit.signal);
      const policy = this.pod.spec.restartPolicy ?? 'Always';
      if (policy === 'Never' || (policy === 'OnFailure' && exit.code === 0)) return;
      await this.backoff(s);
    }
  }

  /** Starts the container's process; false when it cannot run (its waiting reason says why). */
  private async start(s: Slot): Promise<boolean> {
    const launch = await this.launch(s.spec);
    if (this.stopping) return false;
    if ('error' in launch) {
      s.record.state = { waiting: { reason: 'CreateContainerError', message: launch.error } };
      this.o.log(`${this.key}: container ${s.spec.name}: ${launch.error}`);
      this.o.onChange();
      return false;
    }
    const file = join(this.o.logDir, `${this.pod.metadata.namespace}_${this.pod.metadata.name}_${s.spec.name}.log`);
    const p = this.o.supervisor.start({ name: `${this.key}/${s.spec.name}`, command: launch.command, args: launch.args, env: launch.env, cwd: this.o.repoRoot, logFile: file });
    s.proc = p;
    s.probes = launch.probes;
    s.record.state = { running: { startedAt: now() } };
    s.record.containerID = `tsmesh://${p.pid}`;
    s.record.started = true;
    s.record.ready = false;
    // A native sidecar that exits is restarted (it is meant to run as long as the pod).
    if (s.record.nativeSidecar) {
      void p.exited.then(async (exit) => {
        if (this.stopping || s.proc !== p) return;
        this.terminated(s, exit.code, exit.signal);
        await this.backoff(s);
        if (!this.stopping) await this.start(s);
      });
    }
    this.o.onChange();
    return true;
  }

  private async launch(c: KubeContainer): Promise<ContainerLaunch | { error: string }> {
    if (containerRole(c) === 'istio-proxy') return this.o.proxyLaunch(this.pod, this.addr);
    const l = appContainerLaunch(this.pod, c, this.addr, this.o.repoRoot, this.sidecar);
    if ('error' in l) return l;
    const host = this.sidecar ? this.addr.appIP : this.addr.podIP;
    // Ready once it serves, when it has a port to serve on; else once running (as with no readinessProbe).
    const probes = (c.ports ?? []).length === 0 ? [] : [l.healthPath ? httpProbe(`http://${host}:${l.port}${l.healthPath}`) : tcpProbe(host, l.port)];
    return { command: l.command, args: l.args, env: l.env, probes, description: l.description };
  }

  private terminated(s: Slot, code: number | null, signal: NodeJS.Signals | null): void {
    const running = 'running' in s.record.state ? s.record.state.running.startedAt : undefined;
    const exitCode = code ?? 128 + signalNumber(signal);
    const state: ContainerState = { terminated: { exitCode, reason: exitCode === 0 ? 'Completed' : 'Error', ...(running ? { startedAt: running } : {}), finishedAt: now() } };
    s.record.state = state;
    s.record.ready = false;
    s.record.containerID = undefined;
    this.o.onChange();
  }

  private async backoff(s: Slot): Promise<void> {
    const ms = RESTART_BACKOFF_MS[Math.min(s.record.restartCount, RESTART_BACKOFF_MS.length - 1)]!;
    s.record.lastState = s.record.state;
    s.record.state = { waiting: { reason: 'CrashLoopBackOff', message: `back-off ${ms / 1000}s restarting failed container=${s.spec.name} pod=${this.pod.metadata.name}` } };
    s.record.restartCount++;
    this.o.onChange();
    await this.sleep(ms);
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.timers.delete(t);
        resolve();
      }, ms);
      this.timers.add(t);
    });
  }

  /** Waits (polling) for `cond`; false when the pod is being stopped. */
  private async until(cond: () => boolean): Promise<boolean> {
    while (!this.stopping && !cond()) await this.sleep(100);
    return !this.stopping;
  }

  private probing = false;

  private async probe(): Promise<void> {
    if (this.probing || this.stopping) return;
    this.probing = true;
    try {
      let changed = false;
      for (const s of this.slots) {
        if (!s.proc?.running || !('running' in s.record.state)) continue;
        const ok = (await Promise.all(s.probes.map((p) => p.check()))).every(Boolean);
        if (ok !== s.record.ready && s.proc?.running && !this.stopping) {
          s.record.ready = ok;
          changed = true;
        }
      }
      if (changed) this.o.onChange();
    } finally {
      this.probing = false;
    }
  }

  /** Stops every process: regular containers first, then native sidecars (the kubelet's order). */
  async stop(graceMs?: number): Promise<void> {
    this.stopping = true;
    this.clearTimers();
    const ms = Math.min(graceMs ?? Infinity, this.o.stopMs ?? 5000);
    await this.stopSlots(this.slots.filter((s) => !s.record.nativeSidecar), ms);
    await this.stopSlots(this.slots.filter((s) => s.record.nativeSidecar), ms);
  }

  private async stopSlots(slots: Slot[], ms = this.o.stopMs ?? 5000): Promise<void> {
    await Promise.all(
      slots.map(async (s) => {
        const p = s.proc;
        if (!p || (!p.running && !p.groupAlive())) return;
        s.proc = undefined; // its exit is ours, not a crash to restart
        await this.o.supervisor.stop(p, { timeoutMs: ms });
        const e = p.exitInfo;
        // A sidecar stopped by SIGTERM at the end of a Job completed its job.
        const code = e?.code ?? 0;
        s.record.state = { terminated: { exitCode: code, reason: code === 0 ? 'Completed' : 'Error', ...('running' in s.record.state ? { startedAt: s.record.state.running.startedAt } : {}), finishedAt: now() } };
        s.record.ready = false;
        s.record.containerID = undefined;
      }),
    );
  }

  private clearTimers(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }
}

function signalNumber(signal: NodeJS.Signals | null): number {
  return signal ? (constants.signals[signal] ?? 0) : 0;
}
