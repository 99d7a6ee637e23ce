/**
 * Deployments applied or deleted while the demo runs. The control plane's apply API writes each
 * resource into the demo's config directory; the demo follows that directory (as kubelet follows
 * the API server) and brings its pods in line: a new Deployment's pods start, a deleted one's
 * stop, a changed pod template replaces its pods, a changed replica count adds or removes some.
 * Like Kubernetes, a Namespace's labels are read when a pod starts: relabelling a namespace does
 * not restart the pods already running in it.
 */
import { FileConfigStore } from '../api/file-store.ts';
import type { Config } from '../api/types.ts';
import { deploymentInfo } from '../registry/deployments.ts';

/** One pod a Deployment asks for. */
export interface DesiredPod {
  /** `<namespace>/<pod name>`. */
  key: string;
  /** Pod name: the Deployment's name, -2, -3... for further replicas (as allocatePods names them). */
  name: string;
  replica: number;
  deployment: Config;
  /** What the pod is made from: a change means a new pod. */
  template: string;
}

/** The pods `deployments` ask for, in namespace/name order. */
export function desiredPods(deployments: readonly Config[]): DesiredPod[] {
  const out: DesiredPod[] = [];
  for (const d of deployments) {
    if (d.kind !== 'Deployment') continue;
    const info = deploymentInfo(d);
    const template = podTemplateKey(d);
    for (let r = 0; r < info.replicas; r++) {
      const name = r === 0 ? info.name : `${info.name}-${r + 1}`;
      out.push({ key: `${info.namespace}/${name}`, name, replica: r, deployment: d, template });
    }
  }
  return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

/** The identity of a pod template: namespace and spec.template, keys sorted (a YAML round trip keeps it). */
export function podTemplateKey(d: Config): string {
  return `${d.metadata.namespace}/${d.metadata.name} ${canonicalJson(d.spec?.template ?? {})}`;
}

function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (v && typeof v === 'object') {
    return `{${Object.keys(v as object)
      .sort()
      .filter((k) => (v as Record<string, unknown>)[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${canonicalJson((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}

/** What the demo does with pods; the watcher only decides which. */
export interface PodHost {
  /** Pods running or starting, by key, with the template they were made from. */
  current(): ReadonlyMap<string, { template: string }>;
  /** Starts one pod (returns at once; the host reports readiness). `configs`: everything served now. */
  start(pod: DesiredPod, configs: readonly Config[]): void;
  /** Stops one pod; resolves once its processes are gone. */
  stop(key: string, why: string): Promise<void>;
}

export class DeploymentWatcher {
  private store: FileConfigStore | undefined;
  private unwatch: (() => void) | undefined;
  private running: Promise<void> = Promise.resolve();
  private again = false;
  private busy = false;
  private closed = false;

  constructor(
    private readonly configDir: string,
    private readonly host: PodHost,
  ) {}

  /** Reads the directory, reconciles once, then follows it. */
  start(): void {
    // Problems in the directory are the control plane's to report (it logs them); stay quiet here.
    this.store = new FileConfigStore(this.configDir, { logger: () => undefined });
    this.unwatch = this.store.watch((events) => {
      if (events.some((e) => e.config.kind === 'Deployment')) this.reconcile();
    });
    this.reconcile();
  }

  /** Resolves when no reconcile is running or queued (for tests and stop). */
  idle(): Promise<void> {
    return this.running;
  }

  close(): void {
    this.closed = true;
    this.unwatch?.();
    this.store?.close();
  }

  /** One reconcile at a time; changes arriving meanwhile run one more. */
  private reconcile(): void {
    if (this.busy) {
      this.again = true;
      return;
    }
    this.busy = true;
    this.running = (async () => {
      do {
        this.again = false;
        if (this.closed || !this.store) break;
        await this.reconcileOnce(this.store.all());
      } while (this.again);
      this.busy = false;
    })();
  }

  private async reconcileOnce(configs: readonly Config[]): Promise<void> {
    const desired = desiredPods(configs.filter((c) => c.kind === 'Deployment'));
    const want = new Map(desired.map((p) => [p.key, p]));
    const stops: Promise<void>[] = [];
    for (const [key, pod] of this.host.current()) {
      const w = want.get(key);
      if (!w) stops.push(this.host.stop(key, 'its Deployment is gone'));
      else if (w.template !== pod.template) stops.push(this.host.stop(key, 'its pod template changed'));
    }
    // Stop first: a replaced pod's name (and its address) is free again for its successor.
    await Promise.all(stops);
    if (this.closed) return;
    const current = this.host.current();
    for (const pod of desired) if (!current.has(pod.key)) this.host.start(pod, configs);
  }
}
