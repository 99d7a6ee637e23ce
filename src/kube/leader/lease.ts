/**
 * Lease-based leader election (client-go's leaderelection with a coordination.k8s.io/v1 Lease):
 * one replica holds the Lease and renews it; the others watch the record and take over once it has
 * not changed for leaseDuration (measured on their own clock, as client-go does, so clock skew
 * between replicas does not matter). Writes use the Lease's resourceVersion, so two candidates
 * cannot both win. A replica that closes gives the Lease up at once (client-go's ReleaseOnCancel).
 *
 * A leader stops acting as one when its own clock says the lease may have run out for the
 * others: each round (GET + PUT) is given renewDeadlineMs at most, a renewal counts from when its
 * round began (not when the PUT came back), and a timer at lastRenew + renewDeadlineMs steps down
 * even while a round is still hanging (client-go's RenewDeadline).
 *
 *   const le = new LeaderElector(client, { namespace: 'istio-system', name: 'istio-analyze-leader', identity: podName });
 *   le.onChange((leading) => ...); le.start();
 */
import { hostname } from 'node:os';
import { KubeApiError, type KubeClient } from '../client/client.ts';

/** Istio's election for the analysis controller, which writes status.validationMessages. */
export const ANALYZE_LEADER_LEASE = 'istio-analyze-leader';

export interface LeaderElectorOptions {
  namespace: string;
  name: string;
  /** This replica's name in the Lease (Istio: the pod name); default hostname-pid. */
  identity?: string;
  /** Defaults as Istio's: 30 s lease, 15 s renew deadline, 5 s retry period. */
  leaseDurationSeconds?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  log?: (line: string) => void;
}

interface Lease {
  apiVersion?: string;
  kind?: string;
  metadata: { name: string; namespace: string; resourceVersion?: string };
  spec: { holderIdentity?: string; leaseDurationSeconds?: number; acquireTime?: string; renewTime?: string; leaseTransitions?: number };
}

/** Kubernetes MicroTime: RFC 3339 with exactly six fractional digits. */
function microTime(d = new Date()): string {
  return d.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

export class LeaderElector {
  readonly identity: string;
  readonly #client: KubeClient;
  readonly #o: Required<Omit<LeaderElectorOptions, 'log' | 'identity'>> & Pick<LeaderElectorOptions, 'log'>;
  readonly #handlers = new Set<(leading: boolean) => void>();
  #leading = false;
  #timer: NodeJS.Timeout | undefined;
  #stopped = true;
  /** The record last seen and when (local clock): another holder's lease runs from then. */
  #observed: { key: string; at: number } | undefined;
  #lastRenew = 0;
  /** Fires at lastRenew + renewDeadlineMs while leading: the step-down that does not wait for a hung round. */
  #deadline: NodeJS.Timeout | undefined;
  #busy: Promise<void> = Promise.resolve();

  constructor(client: KubeClient, opts: LeaderElectorOptions) {
    this.#client = client;
    this.identity = opts.identity ?? `${hostname()}-${process.pid}`;
    this.#o = {
      namespace: opts.namespace,
      name: opts.name,
      leaseDurationSeconds: opts.leaseDurationSeconds ?? 30,
      renewDeadlineMs: opts.renewDeadlineMs ?? 15_000,
      retryPeriodMs: opts.retryPeriodMs ?? 5_000,
      log: opts.log,
    };
  }

  get leading(): boolean {
    return this.#leading;
  }

  onChange(handler: (leading: boolean) => void): () => void {
    this.#handlers.add(handler);
    return () => this.#handlers.delete(handler);
  }

  start(): void {
    if (!this.#stopped) return;
    this.#stopped = false;
    this.#tick();
  }

  /** Stops competing; a leader releases the Lease so another replica takes over without waiting. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    clearTimeout(this.#deadline);
    await this.#busy;
    if (!this.#leading) return;
    this.#setLeading(false);
    try {
      const lease = await this.#client.get<Lease>(this.#path());
      if (lease.spec.holderIdentity !== this.identity) return;
      lease.spec = { ...lease.spec, holderIdentity: '', leaseDurationSeconds: 1, renewTime: microTime() };
      await this.#client.request('PUT', this.#path(), lease);
    } catch (err) {
      this.#o.log?.(`leader election ${this.#o.name}: could not release the lease: ${(err as Error).message}`);
    }
  }

  #path(name = this.#o.name): string {
    return `/apis/coordination.k8s.io/v1/namespaces/${encodeURIComponent(this.#o.namespace)}/leases${name ? `/${encodeURIComponent(name)}` : ''}`;
  }

  #tick(): void {
    if (this.#stopped) return;
    const began = Date.now();
    this.#busy = withDeadline(this.#tryAcquireOrRenew(), this.#o.renewDeadlineMs, `leader election ${this.#o.name}: no answer from the API server within the renew deadline (${this.#o.renewDeadlineMs} ms)`).then(
      (ok) => {
        if (this.#stopped) return;
        if (ok) {
          this.#lastRenew = began;
          if (!this.#leading) this.#setLeading(true);
          this.#armDeadline();
        }
      },
      (err: Error) => void this.#o.log?.(err.message),
    );
    void this.#busy.then(() => {
      if (!this.#stopped) this.#timer = setTimeout(() => this.#tick(), this.#o.retryPeriodMs);
    });
  }

  /** Steps down once lastRenew + renewDeadlineMs passes with no renewal since (measured on this replica's clock). */
  #armDeadline(): void {
    clearTimeout(this.#deadline);
    const left = this.#lastRenew + this.#o.renewDeadlineMs - Date.now();
    const stepDown = () => {
      if (!this.#leading || this.#stopped) return;
      this.#o.log?.(`leader election ${this.#o.name}: lost (not renewed for ${this.#o.renewDeadlineMs} ms)`);
      this.#setLeading(false);
    };
    if (left <= 0) return stepDown();
    this.#deadline = setTimeout(stepDown, left);
  }

  /** One round: true when this replica holds the Lease after it. */
  async #tryAcquireOrRenew(): Promise<boolean> {
    const now = microTime();
    let lease: Lease | undefined;
    try {
      lease = await this.#client.get<Lease>(this.#path());
    } catch (err) {
      if (!(err instanceof KubeApiError && err.statusCode === 404)) return this.#failed(err);
    }
    const spec = { holderIdentity: this.identity, leaseDurationSeconds: this.#o.leaseDurationSeconds, acquireTime: now, renewTime: now, leaseTransitions: 0 };
    if (!lease) {
      try {
        await this.#client.request('POST', this.#path(''), { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: this.#o.name, namespace: this.#o.namespace }, spec });
        return true;
      } catch (err) {
        return this.#failed(err);
      }
    }
    const held = lease.spec.holderIdentity ?? '';
    const key = `${held}|${lease.spec.renewTime ?? ''}|${lease.metadata.resourceVersion ?? ''}`;
    if (this.#observed?.key !== key) this.#observed = { key, at: Date.now() };
    const duration = (lease.spec.leaseDurationSeconds ?? this.#o.leaseDurationSeconds) * 1000;
    if (held !== '' && held !== this.identity && Date.now() - this.#observed.at < duration) return false;
    const next: Lease = {
      ...lease,
      spec: {
        ...lease.spec,
        holderIdentity: this.identity,
        leaseDurationSeconds: this.#o.leaseDurationSeconds,
        renewTime: now,
        ...(held === this.identity ? {} : { acquireTime: now, leaseTransitions: (lease.spec.leaseTransitions ?? 0) + 1 }),
      },
    };
    try {
      await this.#client.request('PUT', this.#path(), next);
      return true;
    } catch (err) {
      return this.#failed(err);
    }
  }

  #failed(err: unknown): false {
    // 409: another replica wrote first; that is the election working, not a problem.
    if (!(err instanceof KubeApiError && err.statusCode === 409)) this.#o.log?.(`leader election ${this.#o.name}: ${(err as Error).message}`);
    return false;
  }

  #setLeading(leading: boolean): void {
    if (leading === this.#leading) return;
    this.#leading = leading;
    this.#o.log?.(`leader election ${this.#o.name}: ${this.identity} ${leading ? 'is now the leader' : 'stopped leading'}`);
    for (const h of [...this.#handlers]) h(leading);
  }
}

/** The promise's value, or a rejection once `ms` pass (the request itself is left to its own timeout). */
function withDeadline<T>(p: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms);
  });
  return Promise.race([p, deadline]).finally(() => clearTimeout(timer));
}
