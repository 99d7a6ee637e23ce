/**
 * `tsmesh demo`: the control plane, one app + sidecar per Deployment pod, and the ingress
 * gateway, as child processes on loopback, started in that order (each needs the one before),
 * each part's readiness shown as it comes; then the URLs, then wait for Ctrl-C and stop them all.
 */
import { mkdirSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Writable } from 'node:stream';
import { gatewayBootstrap, sidecarBootstrap, writeBootstrap } from '../agent/bootstrap.ts';
import { displayPath, writeConfigDir } from './config_copy.ts';
import { CONTROLPLANE_HOST, GATEWAY_HOST, INGRESS_LABELS, makePlan, type DemoPlan, type PlanOptions, type PodPlan } from './plan.ts';
import { SIDECAR_ADMIN_PORT, SIDECAR_OUTBOUND_PORT } from './ports.ts';
import { Progress } from './progress.ts';
import { systemClock, type Clock } from '../common/clock.ts';
import { watchAncestors } from './parent_watch.ts';
import { httpProbe, lazyProbe, logLineProbe, tcpProbe, waitReady, type Probe } from './readiness.ts';
import { DEFAULT_STATE_DIR, pidAlive, readState, removeState, stateFilePath, writeState, type DemoState } from './state.ts';
import { Supervisor, lastWarning, type ManagedProcess } from './supervisor.ts';
import { nextSteps } from './summary.ts';
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
export const CONTROLPLANE_READY = /tsmesh controlplane ready: xds grpc [^\s,]+:(\d+), http [^\s,]+:(\d+)/;
export const PROXY_READY = /tsmesh proxy ready: admin [^\s,]+:(\d+)/;

// Stopping must be over within 5 s of the signal (or of the launcher going away): proxies drain
// for at most PROXY_DRAIN_S, and whatever still runs after stopMs is killed.
const DEFAULT_TIMEOUTS: DemoTimeouts = { controlplaneMs: 60_000, podMs: 60_000, gatewayMs: 60_000, stopMs: 3500 };
/** The demo's proxies drain for this long on SIGTERM (Envoy's default is 5 s, too long for Ctrl-C). */
const PROXY_DRAIN_S = '2';

export function startDemo(o: DemoOptions): DemoHandle {
  return new Demo(o).handle();
}

class Demo {
  private readonly clock: Clock;
  private readonly sup: Supervisor;
  private readonly out: Writable & { isTTY?: boolean };
  private readonly stateDir: string;
  private readonly t: DemoTimeouts;
  private readonly launcher: Launcher;
  private stopping: Promise<void> | undefined;
  private up = false;
  private resolveExit!: (code: number) => void;
  private readonly exitCode = new Promise<number>((r) => (this.resolveExit = r));
  private readonly cleanups: Array<() => void> = [];

  constructor(private readonly o: DemoOptions) {
    this.clock = o.clock ?? systemClock;
    this.sup = new Supervisor({ clock: this.clock });
    this.out = o.out ?? process.stdout;
    this.stateDir = resolve(o.stateDir ?? DEFAULT_STATE_DIR);
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
        const n = this.sup.list().filter((p) => p.running || p.groupAlive()).length;
        if (n > 0) this.print(`stopping ${n} process${n === 1 ? '' : 'es'}…`);
        await this.sup.stopAll({ timeoutMs: this.t.stopMs });
        const st = readState(stateFilePath(this.stateDir));
        if (st && st.pid === process.pid) removeState(this.stateDir);
        if (n > 0) this.print('stopped');
        for (const c of this.cleanups.splice(0)) c();
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

    const progress = new Progress(this.out, Boolean(this.out.isTTY), this.clock);
    try {
      const cp = await this.startControlPlane(plan, configDir, progress);
      if (!cp) return undefined;
      const pods = await Promise.all(plan.pods.map((p) => this.startPod(plan, p, progress)));
      if (pods.some((p) => !p)) return undefined;
      const gw = await this.startGateway(plan, progress);
      if (!gw) return undefined;
      progress.done();

      const state: DemoState = {
        pid: process.pid,
        startedAt: new Date().toISOString(),
        stateDir: this.stateDir,
        configDir,
        controlplane: { http: `http://${CONTROLPLANE_HOST}:${plan.httpPort}`, grpc: `${CONTROLPLANE_HOST}:${plan.xdsPort}`, pid: cp.pid },
        gateway: {
          url: plan.gatewayPort ? `http://${GATEWAY_HOST}:${plan.gatewayPort}` : '',
          port: plan.gatewayPort ?? 0,
          admin: `http://${GATEWAY_HOST}:${plan.gatewayAdminPort}`,
          pid: gw.pid,
        },
        pods: plan.pods.map((p) => ({
          name: p.slot.name,
          namespace: p.slot.deployment.namespace,
          deployment: p.slot.deployment.name,
          podIP: p.slot.podIP,
          appIP: p.slot.appIP,
          appPort: p.launch.port,
          admin: `http://${p.slot.appIP}:${SIDECAR_ADMIN_PORT}`,
          bootstrap: this.bootstrapFile(p.slot.name),
        })),
        processes: this.sup.list().map((p) => ({ name: p.name, pid: p.pid, log: p.logFile })),
      };
      if (this.isStopping) return undefined;
      writeState(this.stateDir, state);
      this.up = true;
      this.print(nextSteps({ state, plan, repoRoot: this.o.repoRoot, stateDir: this.stateDir, defaultStateDir: resolve(DEFAULT_STATE_DIR) }));
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

  private spawn(name: string, cmd: { command: string; args: string[] }, logName: string, env?: Record<string, string>): ManagedProcess {
    const p = this.sup.start({ name, command: cmd.command, args: cmd.args, cwd: this.o.repoRoot, env, logFile: join(this.stateDir, 'logs', `${logName}.log`) });
    void p.exited.then(() => {
      if (this.up && !p.stopping && !this.isStopping) this.print(`✖ ${name} exited unexpectedly: ${p.describeExit()}, log at ${displayPath(p.logFile)}`);
    });
    return p;
  }

  /** Waits for the probes while `procs` run; reports the result on `progress`. */
  private async ready(label: string, progress: Progress, procs: ManagedProcess[], probes: Probe[], timeoutMs: number, doneText: string | (() => string)): Promise<boolean> {
    const r = await waitReady(probes, {
      clock: this.clock,
      timeoutMs,
      giveUp: () => {
        if (this.isStopping) return 'stopped';
        const dead = procs.find((p) => !p.running);
        return dead ? `${dead.name} ${dead.describeExit()}` : undefined;
      },
    });
    if (r.ready) {
      progress.ok(label, typeof doneText === 'string' ? doneText : doneText());
      return true;
    }
    if (this.isStopping) return false;
    const culprit = procs.find((p) => !p.running) ?? procs.at(-1)!;
    // A timeout alone says little; the proxy's last complaint (a NACK...) usually says why.
    const hint = culprit.running ? lastWarning(culprit.logFile) : undefined;
    progress.fail(label, hint ? `${r.reason}; its log says: ${hint}` : r.reason, displayPath(culprit.logFile));
    // The caller stops everything once its siblings have settled, so every failure gets its line.
    return false;
  }

  private async startControlPlane(plan: DemoPlan, configDir: string, progress: Progress): Promise<ManagedProcess | undefined> {
    const args = ['--config', configDir, '--grpc-port', String(plan.xdsPort), '--http-port', String(plan.httpPort), '--address', CONTROLPLANE_HOST];
    if (this.o.meshFile) args.push('--mesh', resolve(this.o.meshFile));
    const name = 'control plane';
    progress.begin(name);
    const p = this.spawn(name, this.launcher.controlplane(args), 'controlplane');
    // Its ready line says where it listens (the ports it was given, or those port 0 got it).
    const probes = [
      logLineProbe(p.logFile, CONTROLPLANE_READY, '"tsmesh controlplane ready" in its log', (m) => {
        plan.xdsPort = Number(m[1]);
        plan.httpPort = Number(m[2]);
      }),
      lazyProbe(() => httpProbe(`http://${CONTROLPLANE_HOST}:${plan.httpPort}/ready`), 'GET /ready'),
    ];
    const ok = await this.ready(name, progress, [p], probes, this.t.controlplaneMs, () => `(xDS ${CONTROLPLANE_HOST}:${plan.xdsPort}, HTTP ${CONTROLPLANE_HOST}:${plan.httpPort}) ready`);
    return ok ? p : undefined;
  }

  private async startPod(plan: DemoPlan, pod: PodPlan, progress: Progress): Promise<boolean> {
    const { slot, launch } = pod;
    const d = slot.deployment;
    const file = this.bootstrapFile(slot.name);
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
      }),
    );
    progress.begin(slot.name);
    const app = this.spawn(slot.name, { command: launch.command, args: launch.args }, `${slot.name}.app`, launch.env);
    const proxy = this.spawn(`${slot.name} sidecar`, this.launcher.proxy(['--bootstrap', file, '--concurrency', '1', '--drain-time-s', PROXY_DRAIN_S]), `${slot.name}.sidecar`);
    const appProbe = launch.healthPath ? httpProbe(`http://${slot.appIP}:${launch.port}${launch.healthPath}`) : tcpProbe(slot.appIP, launch.port);
    // In the mesh means: app up, proxy configured, and its listeners bound (a NACKed listener is not).
    const probes = [
      appProbe,
      httpProbe(`http://${slot.appIP}:${SIDECAR_ADMIN_PORT}/ready`),
      tcpProbe(slot.appIP, SIDECAR_OUTBOUND_PORT),
      ...pod.inboundPorts.map((port) => tcpProbe(slot.podIP, port)),
    ];
    return this.ready(slot.name, progress, [app, proxy], probes, this.t.podMs, `(${slot.podIP}) ready`);
  }

  private async startGateway(plan: DemoPlan, progress: Progress): Promise<ManagedProcess | undefined> {
    const name = INGRESS_LABELS.app;
    const file = this.bootstrapFile(name);
    writeBootstrap(file, gatewayBootstrap({ bindAddress: GATEWAY_HOST, adminPort: plan.gatewayAdminPort, xds: { host: CONTROLPLANE_HOST, port: plan.xdsPort }, labels: INGRESS_LABELS }));
    progress.begin(name);
    const p = this.spawn(name, this.launcher.proxy(['--bootstrap', file, '--concurrency', '1', '--drain-time-s', PROXY_DRAIN_S]), name);
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
