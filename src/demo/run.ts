/**
 * `tsmesh demo`: the control plane, one app + sidecar per Deployment pod, and the ingress
 * gateway, as child processes on loopback, started in that order (each needs the one before),
 * each part's readiness shown as it comes; then the URLs, then wait for Ctrl-C and stop them all.
 */
import { mkdirSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Writable } from 'node:stream';
import { gatewayBootstrap, sidecarBootstrap, writeBootstrap } from '../agent/bootstrap.ts';
import { prometheusAnnotationsEnv, READINESS_PORT, STATUS_PORT } from '../agent/status_server.ts';
import type { Config } from '../api/types.ts';
import { deploymentInfo } from '../registry/deployments.ts';
import { displayPath, writeConfigDir } from './config_copy.ts';
import { DeploymentWatcher, podTemplateKey, type DesiredPod } from './live.ts';
import { CONTROLPLANE_HOST, GATEWAY_HOST, INGRESS_LABELS, makePlan, planPod, podFileStem, podLabel, type DemoPlan, type PlanOptions, type PodPlan } from './plan.ts';
import { removePodEntry, writePodEntry } from './pod_entry.ts';
import { APP_NET, MAX_PODS, POD_NET, SIDECAR_ADMIN_PORT, SIDECAR_OUTBOUND_PORT, checkPort, describeBindProblem, podPorts, preferredPort, type PodSlot } from './ports.ts';
import { Progress } from './progress.ts';
import { systemClock, type Clock } from '../common/clock.ts';
import { watchAncestors } from './parent_watch.ts';
import { httpProbe, lazyProbe, logLineProbe, tcpProbe, waitReady, type Probe } from './readiness.ts';
import { DEFAULT_STATE_DIR, pidAlive, readState, removeState, stateFilePath, writeState, type DemoPodState, type DemoState } from './state.ts';
import { Supervisor, lastWarning, type ManagedProcess } from './supervisor.ts';
import { nextSteps } from './summary.ts';
import { DemoIdentity } from './identity.ts';
import { writeDemoMesh } from './tracing_mesh.ts';
import { tsmeshCommand, type Command } from '../common/self_command.ts';


/** How to run tsmesh's own commands; tests substitute stand-ins. */
export interface Launcher {
  controlplane(args: string[]): Command;
  proxy(args: string[]): Command;
}

export function tsmeshLauncher(repoRoot: string): Launcher {
  const run = (sub: string) => (args: string[]) => tsmeshCommand([sub, ...args], repoRoot);
  return { controlplane: run('controlplane'), proxy: run('proxy') };
}

export interface DemoTimeouts {
  controlplaneMs: number;
  podMs: number;
  gatewayMs: number;
  /** SIGTERM → SIGKILL. */
  stopMs: number;
}

export interface DemoOptions extends PlanOptions {
  stateDir?: string;
  out?: Writable & { isTTY?: boolean };
  launcher?: Launcher;
  timeouts?: Partial<DemoTimeouts>;
  /**
   * Stop everything on SIGINT/SIGTERM/SIGHUP, and when the process that started the demo goes
   * away or is signalled (src/demo/parent_watch.ts). The CLI does; tests call stop().
   */
  handleSignals?: boolean;
  clock?: Clock;
  /** `--addons`: extra servers started once the mesh is up ('prometheus'). */
  addons?: readonly string[];
}

export interface DemoHandle {
  /** The state once every part is ready; undefined if the demo did not come up. */
  readonly started: Promise<DemoState | undefined>;
  /** Resolves with the exit code once everything has stopped. */
  readonly exitCode: Promise<number>;
  /** Stops every process (idempotent); the demo then exits 0. */
  stop(): Promise<void>;
  readonly supervisor: Supervisor;
}

/** The lines `tsmesh controlplane` and `tsmesh proxy` print once they listen, with their ports. */
export const CONTROLPLANE_READY = /tsmesh controlplane ready: xds grpc [^\s,]+:(\d+), http [^\s,]+:(\d+), secure grpc [^\s,]+:(\d+)/;
export const PROXY_READY = /tsmesh proxy ready: admin [^\s,]+:(\d+)/;

// Stopping must be over within 5 s of the signal (or of the launcher going away): proxies drain
// for at most PROXY_DRAIN_S, and whatever still runs after stopMs is killed.
const DEFAULT_TIMEOUTS: DemoTimeouts = { controlplaneMs: 60_000, podMs: 60_000, gatewayMs: 60_000, stopMs: 3500 };
/** The demo's proxies drain for this long on SIGTERM (Envoy's default is 5 s, too long for Ctrl-C). */
const PROXY_DRAIN_S = '2';

export function startDemo(o: DemoOptions): DemoHandle {
  return new Demo(o).handle();
}

/** A pod the demo runs (or tried to): its plan, its processes, and where it stands. */
interface RunningPod {
  pod: PodPlan;
  /** The pod template it was made from (src/demo/live.ts replaces the pod when it changes). */
  template: string;
  procs: ManagedProcess[];
  ready: boolean;
  /** Its start failed: kept (without processes) so that it is not retried until its Deployment changes. */
  failed: boolean;
  stopped: boolean;
}

function podKey(slot: Pick<PodSlot, 'name' | 'deployment'>): string {
  return `${slot.deployment.namespace}/${slot.name}`;
}

class Demo {
  private readonly clock: Clock;
  private readonly sup: Supervisor;
  private readonly out: Writable & { isTTY?: boolean };
  private readonly stateDir: string;
  /** Workload identities: the control plane's CA state, a token and an SDS socket per proxy. */
  private readonly identity: DemoIdentity;
  private readonly t: DemoTimeouts;
  private readonly launcher: Launcher;
  private stopping: Promise<void> | undefined;
  private up = false;
  private resolveExit!: (code: number) => void;
  private readonly exitCode = new Promise<number>((r) => (this.resolveExit = r));
  private readonly cleanups: Array<() => void> = [];
  /** Every pod, by `<namespace>/<name>`, from the first plan and from Deployments applied later. */
  private readonly pods = new Map<string, RunningPod>();
  private plan: DemoPlan | undefined;
  private configDir = '';
  /** demo.json without its pods and processes, once everything first started. */
  private baseState: Omit<DemoState, 'pods' | 'processes'> | undefined;
  private watcher: DeploymentWatcher | undefined;

  constructor(private readonly o: DemoOptions) {
    this.clock = o.clock ?? systemClock;
    this.sup = new Supervisor({ clock: this.clock });
    this.out = o.out ?? process.stdout;
    this.stateDir = resolve(o.stateDir ?? DEFAULT_STATE_DIR);
    this.identity = new DemoIdentity(this.stateDir);
    this.t = { ...DEFAULT_TIMEOUTS, ...o.timeouts };
    this.launcher = o.launcher ?? tsmeshLauncher(o.repoRoot);
  }

  handle(): DemoHandle {
    if (this.o.handleSignals) this.installSignals();
    const started = this.run().then(
      (state) => {
        if (!state) void this.finish(1);
        return state;
      },
      (err) => {
        this.print(`tsmesh demo: ${err instanceof Error ? err.stack ?? err.message : String(err)}`);
        void this.finish(1);
        return undefined;
      },
    );
    return { started, exitCode: this.exitCode, stop: () => this.finish(0), supervisor: this.sup };
  }

  private print(line = ''): void {
    this.out.write(line + '\n');
  }

  private get isStopping(): boolean {
    return this.stopping !== undefined;
  }

  /** Stops everything once, then resolves the exit code. */
  private finish(code: number): Promise<void> {
    if (!this.stopping) {
      this.stopping = (async () => {
        this.watcher?.close();
        const n = this.sup.list().filter((p) => p.running || p.groupAlive()).length;
        if (n > 0) this.print(`stopping ${n} process${n === 1 ? '' : 'es'}…`);
        await this.sup.stopAll({ timeoutMs: this.t.stopMs });
        const st = readState(stateFilePath(this.stateDir));
        if (st && st.pid === process.pid) removeState(this.stateDir);
        if (n > 0) this.print('stopped');
        for (const c of this.cleanups.splice(0)) c();
        this.identity.close();
        this.resolveExit(code);
      })();
    }
    return this.stopping;
  }

  private installSignals(): void {
    const onSignal = () => {
      if (this.isStopping) {
        this.print('stopping now (SIGKILL)');
        this.sup.killAll();
        return;
      }
      this.print('');
      void this.finish(0);
    };
    // Last resort if this process dies some other way: no child outlives it.
    const onExit = () => this.sup.killAll();
    for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(s, onSignal);
    process.on('exit', onExit);
    // npm (npx) forwards no signal to us: notice it or its shell going away or being signalled.
    const unwatch = watchAncestors((why) => {
      if (this.isStopping) return;
      this.print(`${why}: stopping`);
      void this.finish(0);
    }, { clock: this.clock });
    this.cleanups.push(() => {
      unwatch();
      for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.off(s, onSignal);
      process.off('exit', onExit);
    });
  }

  private async run(): Promise<DemoState | undefined> {
    const stateFile = stateFilePath(this.stateDir);
    const prev = readState(stateFile);
    if (prev && prev.pid !== process.pid && pidAlive(prev.pid)) {
      this.print(`a demo is already running with state in ${displayPath(this.stateDir)} (pid ${prev.pid}): stop it (Ctrl-C in its terminal, or kill ${prev.pid}) or use another --state-dir`);
      return undefined;
    }
    if (prev) {
      const left = prev.processes.filter((p) => pidAlive(p.pid));
      if (left.length > 0) this.print(`warning: processes of an earlier demo are still running: ${left.map((p) => `${p.name} (kill -- -${p.pid})`).join(', ')}`);
      removeState(this.stateDir);
    }

    const planned = await makePlan(this.o);
    if (!planned.ok) {
      for (const e of planned.errors) this.print(e);
      this.resolveExitOnce(planned.exitCode);
      return undefined;
    }
    const plan = planned.plan;
    for (const n of plan.notes) this.print(n);

    const configDir = join(this.stateDir, 'config');
    const logDir = join(this.stateDir, 'logs');
    rmSync(logDir, { recursive: true, force: true });
    rmSync(join(this.stateDir, 'bootstrap'), { recursive: true, force: true });
    mkdirSync(logDir, { recursive: true });
    const files = writeConfigDir(configDir, plan.configs);
    this.print(`config: ${files.length} resources copied to ${displayPath(configDir)}`);

    this.plan = plan;
    this.configDir = configDir;
    const templates = new Map(plan.configs.filter((c) => c.kind === 'Deployment').map((c) => [`${c.metadata.namespace}/${c.metadata.name}`, podTemplateKey(c)]));
    const progress = new Progress(this.out, Boolean(this.out.isTTY), this.clock);
    try {
      const cp = await this.startControlPlane(plan, configDir, progress);
      if (!cp) return undefined;
      const pods = await Promise.all(plan.pods.map((p) => this.startPod(plan, p, templates.get(`${p.slot.deployment.namespace}/${p.slot.deployment.name}`)!, progress)));
      if (pods.some((p) => !p)) return undefined;
      const gw = await this.startGateway(plan, progress);
      if (!gw) return undefined;
      const prometheus = this.o.addons?.includes('prometheus') ? await this.startPrometheus(plan, progress) : undefined;
      if (this.o.addons?.includes('prometheus') && !prometheus) return undefined;
      progress.done();

      this.baseState = {
        pid: process.pid,
        startedAt: new Date().toISOString(),
        stateDir: this.stateDir,
        configDir,
        controlplane: { http: `http://${CONTROLPLANE_HOST}:${plan.httpPort}`, grpc: `${CONTROLPLANE_HOST}:${plan.xdsPort}`, pid: cp.pid, zipkin: `http://${CONTROLPLANE_HOST}:${plan.zipkinPort}` },
        gateway: {
          url: plan.gatewayPort ? `http://${GATEWAY_HOST}:${plan.gatewayPort}` : '',
          port: plan.gatewayPort ?? 0,
          admin: `http://${GATEWAY_HOST}:${plan.gatewayAdminPort}`,
          pid: gw.pid,
        },
        ...(prometheus ? { addons: { prometheus } } : {}),
      };
      if (this.isStopping) return undefined;
      const state = this.currentState();
      writeState(this.stateDir, state);
      this.up = true;
      this.print(nextSteps({ state, plan, repoRoot: this.o.repoRoot, stateDir: this.stateDir, defaultStateDir: resolve(DEFAULT_STATE_DIR) }));
      // From now on, Deployments applied or deleted start and stop pods.
      this.watcher = new DeploymentWatcher(configDir, {
        current: () => this.pods,
        start: (pod, configs) => this.startLivePod(pod, configs),
        stop: (key, why) => this.stopPod(key, why),
      });
      this.watcher.start();
      return state;
    } finally {
      progress.done();
    }
  }

  private resolveExitOnce(code: number): void {
    // Nothing was started: finish() with this code stops nothing and removes nothing.
    void this.finish(code);
  }

  private bootstrapFile(name: string): string {
    return join(this.stateDir, 'bootstrap', `${name}.json`);
  }

  /** demo.json as things stand: every pod started (ready or not), every process running. */
  private currentState(): DemoState {
    const pods: DemoPodState[] = [];
    for (const r of this.pods.values()) {
      if (r.failed || r.stopped) continue;
      const { slot, launch, sidecar } = r.pod;
      pods.push({
        name: slot.name,
        namespace: slot.deployment.namespace,
        deployment: slot.deployment.name,
        podIP: slot.podIP,
        appIP: sidecar ? slot.appIP : slot.podIP,
        appPort: launch.port,
        admin: sidecar ? `http://${slot.appIP}:${SIDECAR_ADMIN_PORT}` : '',
        bootstrap: sidecar ? this.bootstrapFile(podFileStem(slot)) : '',
        sidecar,
        ready: r.ready,
      });
    }
    return { ...this.baseState!, pods, processes: this.sup.list().filter((p) => p.running).map((p) => ({ name: p.name, pid: p.pid, log: p.logFile })) };
  }

  /** Rewrites demo.json once the demo is up (before, run() writes it once everything started). */
  private saveState(): void {
    if (!this.up || this.isStopping) return;
    writeState(this.stateDir, this.currentState());
  }

  /** A pod of a Deployment applied while the demo runs: the next free addresses, then as at start. */
  private startLivePod(want: DesiredPod, configs: readonly Config[]): void {
    const plan = this.plan!;
    const used = new Set([...this.pods.values()].map((r) => r.pod.slot.index));
    let index = 1;
    while (used.has(index)) index++;
    const info = deploymentInfo(want.deployment);
    const slot: PodSlot = { name: want.name, deployment: info, index, podIP: (this.o.podNet ?? POD_NET) + index, appIP: (this.o.appNet ?? APP_NET) + index };
    const label = podLabel(slot);
    const failed = (why: string) => {
      this.pods.set(want.key, { pod: { slot, sidecar: false, injection: '', inboundPorts: [], launch: { command: '', args: [], env: {}, port: 0, description: '' } }, template: want.template, procs: [], ready: false, failed: true, stopped: false });
      this.print(`✖ ${label} failed: ${why}`);
    };
    if (index > MAX_PODS) return failed(`no free pod address: the demo has room for ${MAX_PODS} pods in ${this.o.podNet ?? POD_NET}0/24`);
    const planned = planPod(want.deployment, slot, configs, this.o.repoRoot);
    if ('error' in planned) return failed(planned.error);
    // Reserve the addresses now: another pod starting meanwhile must not take them.
    const entry: RunningPod = { pod: planned, template: want.template, procs: [], ready: false, failed: false, stopped: false };
    this.pods.set(want.key, entry);
    void (async () => {
      for (const p of podPorts(slot, planned.sidecar)) {
        const c = await checkPort(p.host, p.port);
        if (!c.free) {
          this.pods.delete(want.key);
          return failed(describeBindProblem(p.host, p.port, c.code));
        }
      }
      if (entry.stopped || this.isStopping) return;
      const progress = new Progress(this.out, Boolean(this.out.isTTY), this.clock);
      try {
        const ok = await this.startPod(plan, planned, want.template, progress, entry);
        if (!ok && !entry.stopped && !this.isStopping) {
          entry.failed = true;
          await Promise.all(entry.procs.map((p) => this.sup.stop(p, { timeoutMs: this.t.stopMs })));
          entry.procs = [];
          this.saveState();
        }
      } finally {
        progress.done();
      }
    })();
  }

  /** Stops one pod: out of the mesh first (its WorkloadEntry, or its sidecar's stream), then its processes. */
  private async stopPod(key: string, why: string): Promise<void> {
    const r = this.pods.get(key);
    if (!r) return;
    r.stopped = true;
    if (!r.failed && !r.pod.sidecar) removePodEntry(this.configDir, r.pod.slot);
    const had = r.procs.length > 0;
    await Promise.all(r.procs.map((p) => this.sup.stop(p, { timeoutMs: this.t.stopMs })));
    if (this.pods.get(key) === r) this.pods.delete(key);
    if (had && !this.isStopping) this.print(`■ ${podLabel(r.pod.slot)} stopped: ${why}`);
    this.saveState();
  }

  /** `tsmesh proxy`'s arguments for a pod's sidecar: the one place they are built. */
  private sidecarArgs(_pod: PodPlan, bootstrap: string): string[] {
    // pilot-agent's status server on the pod IP: 15021 readiness, 15020 merged metrics.
    return ['--bootstrap', bootstrap, '--concurrency', '1', '--drain-time-s', PROXY_DRAIN_S, '--status-port', String(STATUS_PORT), '--readiness-port', String(READINESS_PORT)];
  }

  private spawn(name: string, cmd: Command, logName: string, extraEnv?: Record<string, string>): ManagedProcess {
    const env = cmd.env || extraEnv ? { ...cmd.env, ...extraEnv } : undefined;
    const p = this.sup.start({ name, command: cmd.command, args: cmd.args, cwd: this.o.repoRoot, env, logFile: join(this.stateDir, 'logs', `${logName}.log`) });
    void p.exited.then(() => {
      if (this.up && !p.stopping && !this.isStopping) this.print(`✖ ${name} exited unexpectedly: ${p.describeExit()}, log at ${displayPath(p.logFile)}`);
    });
    return p;
  }

  /** Waits for the probes while `procs` run; reports the result on `progress`. */
  private async ready(label: string, progress: Progress, procs: ManagedProcess[], probes: Probe[], timeoutMs: number, doneText: string | (() => string), cancelled = () => false): Promise<boolean> {
    const r = await waitReady(probes, {
      clock: this.clock,
      timeoutMs,
      giveUp: () => {
        if (this.isStopping || cancelled()) return 'stopped';
        const dead = procs.find((p) => !p.running);
        return dead ? `${dead.name} ${dead.describeExit()}` : undefined;
      },
    });
    if (r.ready) {
      progress.ok(label, typeof doneText === 'string' ? doneText : doneText());
      return true;
    }
    if (this.isStopping || cancelled()) {
      progress.cancel(label);
      return false;
    }
    const culprit = procs.find((p) => !p.running) ?? procs.at(-1)!;
    // A timeout alone says little; the proxy's last complaint (a NACK...) usually says why.
    const hint = culprit.running ? lastWarning(culprit.logFile) : undefined;
    progress.fail(label, hint ? `${r.reason}; its log says: ${hint}` : r.reason, displayPath(culprit.logFile));
    // The caller stops everything once its siblings have settled, so every failure gets its line.
    return false;
  }

  private async startControlPlane(plan: DemoPlan, configDir: string, progress: Progress): Promise<ManagedProcess | undefined> {
    const args = ['--config', configDir, '--grpc-port', String(plan.xdsPort), '--http-port', String(plan.httpPort), '--secure-grpc-port', String(plan.secureGrpcPort), '--state-dir', this.identity.controlplaneStateDir, '--address', CONTROLPLANE_HOST];
    // Istio's demo profile: every sidecar and the gateway trace 100% to the embedded collector.
    args.push('--zipkin-port', String(plan.zipkinPort));
    args.push('--mesh', writeDemoMesh(join(this.stateDir, 'mesh.json'), this.o.meshFile ? resolve(this.o.meshFile) : undefined, { host: CONTROLPLANE_HOST, port: plan.zipkinPort }));
    const name = 'control plane';
    progress.begin(name);
    const p = this.spawn(name, this.launcher.controlplane(args), 'controlplane');
    // Its ready line says where it listens (the ports it was given, or those port 0 got it).
    const probes = [
      logLineProbe(p.logFile, CONTROLPLANE_READY, '"tsmesh controlplane ready" in its log', (m) => {
        plan.xdsPort = Number(m[1]);
        plan.httpPort = Number(m[2]);
        plan.secureGrpcPort = Number(m[3]);
      }),
      lazyProbe(() => httpProbe(`http://${CONTROLPLANE_HOST}:${plan.httpPort}/ready`), 'GET /ready'),
    ];
    const ok = await this.ready(name, progress, [p], probes, this.t.controlplaneMs, () => `(xDS ${CONTROLPLANE_HOST}:${plan.xdsPort}, HTTP ${CONTROLPLANE_HOST}:${plan.httpPort}) ready`);
    return ok ? p : undefined;
  }

  /**
   * Starts one pod: its app, and its sidecar unless injection is off. Ready means: app up, and
   * for a sidecar, proxy configured and its listeners bound (a NACKed listener is not). A pod
   * without a sidecar then joins the mesh as a WorkloadEntry (src/demo/pod_entry.ts).
   */
  private async startPod(plan: DemoPlan, pod: PodPlan, template: string, progress: Progress, entry?: RunningPod): Promise<boolean> {
    const { slot, launch } = pod;
    const d = slot.deployment;
    const label = podLabel(slot);
    const stem = podFileStem(slot);
    const r: RunningPod = entry ?? { pod, template, procs: [], ready: false, failed: false, stopped: false };
    this.pods.set(podKey(slot), r);
    progress.begin(label);
    const app = this.spawn(label, { command: launch.command, args: launch.args }, `${stem}.app`, launch.env);
    r.procs.push(app);
    const appHost = pod.sidecar ? slot.appIP : slot.podIP;
    const appProbe = launch.healthPath ? httpProbe(`http://${appHost}:${launch.port}${launch.healthPath}`) : tcpProbe(appHost, launch.port);
    const probes = [appProbe];
    if (pod.sidecar) {
      const file = this.bootstrapFile(stem);
      writeBootstrap(
        file,
        sidecarBootstrap({
          pod: slot.name,
          namespace: d.namespace,
          podIP: slot.podIP,
          appIP: slot.appIP,
          app: d.labels.app ?? d.name,
          labels: d.labels,
          serviceAccount: d.serviceAccount ?? 'default',
          workloadName: d.name,
          ports: d.ports,
          containerPorts: d.containerPorts,
          adminPort: SIDECAR_ADMIN_PORT,
          outboundPort: SIDECAR_OUTBOUND_PORT,
          xds: { host: CONTROLPLANE_HOST, port: plan.xdsPort },
          sdsSocket: this.identity.sdsSocket(stem),
        }),
      );
      const identity = await this.identity.agentArgs(plan, { namespace: d.namespace, serviceAccount: d.serviceAccount ?? 'default', pod: slot.name }, stem);
      const promAnnotations = prometheusAnnotationsEnv(d.annotations);
      r.procs.push(this.spawn(`${label} sidecar`, this.launcher.proxy([...this.sidecarArgs(pod, file), ...identity]), `${stem}.sidecar`, promAnnotations ? { ISTIO_PROMETHEUS_ANNOTATIONS: promAnnotations } : undefined));
      probes.push(httpProbe(`http://${slot.appIP}:${SIDECAR_ADMIN_PORT}/ready`), tcpProbe(slot.appIP, SIDECAR_OUTBOUND_PORT), ...pod.inboundPorts.map((port) => tcpProbe(slot.podIP, port)));
    }
    this.saveState();
    const ok = await this.ready(label, progress, r.procs, probes, this.t.podMs, pod.sidecar ? `(${slot.podIP}) ready` : `(${slot.podIP}, no sidecar: ${pod.injection}) ready`, () => r.stopped);
    if (ok && !r.stopped) {
      if (!pod.sidecar) writePodEntry(this.configDir, slot);
      r.ready = true;
      this.saveState();
    }
    return ok;
  }

  /**
   * `--addons prometheus`: Debian's Prometheus scraping the control plane and every pod's merged
   * metrics (src/demo/addons/prometheus.ts), supervised with the rest; resolves with its URL.
   */
  private async startPrometheus(plan: DemoPlan, progress: Progress): Promise<string | undefined> {
    const name = 'prometheus';
    progress.begin(name);
    const { preparePrometheus } = await import('./addons/prometheus.ts');
    const prepared = await preparePrometheus({ stateDir: this.stateDir, controlplane: `http://${CONTROLPLANE_HOST}:${plan.httpPort}`, host: CONTROLPLANE_HOST });
    if ('error' in prepared) {
      progress.fail(name, prepared.error, displayPath(join(this.stateDir, 'logs')));
      return undefined;
    }
    // Pods applied later join its targets (file_sd), as Kubernetes discovery would add them.
    this.cleanups.push(() => prepared.targets.stop());
    const p = this.spawn(name, prepared.command, name);
    const ok = await this.ready(name, progress, [p], [httpProbe(`${prepared.url}/-/ready`)], this.t.controlplaneMs, () => `(${prepared.url}) ready, scraping the control plane and ${prepared.targets.targets()} proxies`);
    return ok ? prepared.url : undefined;
  }

  private async startGateway(plan: DemoPlan, progress: Progress): Promise<ManagedProcess | undefined> {
    const name = INGRESS_LABELS.app;
    const file = this.bootstrapFile(name);
    writeBootstrap(file, gatewayBootstrap({ bindAddress: GATEWAY_HOST, adminPort: plan.gatewayAdminPort, xds: { host: CONTROLPLANE_HOST, port: plan.xdsPort }, labels: INGRESS_LABELS, sdsSocket: this.identity.sdsSocket(name) }));
    progress.begin(name);
    const identity = await this.identity.agentArgs(plan, { namespace: 'istio-system', serviceAccount: `${name}-service-account`, pod: `${name}-1` }, name);
    // The gateway shares 127.0.0.1 with whatever else runs there: the default demo takes Istio's
    // ports when free; a second demo (its own --pod-net, as tests run them side by side) takes
    // any, so two starting at once never race for 15020. Its ready line names the ports it got.
    const istioPorts = (this.o.podNet ?? POD_NET) === POD_NET;
    const port = async (p: number) => String(istioPorts ? (await preferredPort(GATEWAY_HOST, p)).port : 0);
    const status = ['--status-port', await port(STATUS_PORT), '--readiness-port', await port(READINESS_PORT)];
    const p = this.spawn(name, this.launcher.proxy(['--bootstrap', file, '--concurrency', '1', '--drain-time-s', PROXY_DRAIN_S, ...status, ...identity]), name);
    // Ready means listening where the Gateways say, not only that the admin answers (at the port
    // its ready line names: the one it was given, or the one port 0 got it).
    const probes = [
      logLineProbe(p.logFile, PROXY_READY, '"tsmesh proxy ready" in its log', (m) => (plan.gatewayAdminPort = Number(m[1]))),
      lazyProbe(() => httpProbe(`http://${GATEWAY_HOST}:${plan.gatewayAdminPort}/ready`), 'GET /ready'),
      ...[...new Set(plan.gatewayPorts.map((g) => g.port))].map((port) => tcpProbe(GATEWAY_HOST, port)),
    ];
    const where = plan.gatewayPort ? `(${GATEWAY_HOST}:${plan.gatewayPort}) ` : '';
    const ok = await this.ready(name, progress, [p], probes, this.t.gatewayMs, `${where}ready`);
    return ok ? p : undefined;
  }
}
