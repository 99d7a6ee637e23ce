/**
 * Proxy auto-registration (Istio's WorkloadEntry auto-registration) as the control plane feeds
 * it to the registry: batched. Every connecting sidecar registers, and each registry update ends
 * in a push: here registrations arriving together reach the registry as one change, and updates
 * are spaced so they take at most a fifth of the time.
 *
 * A registration that no Service selects changes no endpoint, so it asks for no prompt update:
 * the registry takes it (takeChanges) on its next update for any reason (a config change, a
 * selected proxy), or after `idleMs`, so that a burst of sidecars connecting is not left for the
 * next endpoint change to absorb on its way to the proxies.
 */
import { AutoRegistration, TLS_MODE_LABEL, type ProxyRegistration, type RegistrationHandle, type RegistrySource, type SourceItem } from '../registry/index.ts';
import type { GroupLookup } from '../registry/autoregistration.ts';
import type { GroupTemplate } from '../registry/workloadentry.ts';
import { parseSpiffeId } from '../ca/spiffe.ts';
import { cleanLabels, mergeLabels, type Labels } from '../registry/labels.ts';

/**
 * Why a proxy naming WorkloadGroup `namespace/name` (ISTIO_META_AUTO_REGISTER_GROUP) may not
 * register through it, or undefined when it may. The group must exist, as Istio requires. When
 * the xDS stream carries a verified identity (a client certificate on :15012), it must be the
 * group's: its namespace and template.serviceAccount (Kubernetes' `default` when unset). Over
 * plaintext there is no identity, and the node's metadata is all there is to go on.
 */
export function groupRegistrationProblem(namespace: string, name: string, group: GroupTemplate | undefined, verifiedIdentity: string | undefined): string | undefined {
  if (!group) return `WorkloadGroup ${namespace}/${name} (AUTO_REGISTER_GROUP) does not exist; create it, then restart the proxy`;
  if (verifiedIdentity === undefined) return undefined;
  const id = parseSpiffeId(verifiedIdentity);
  const sa = group.serviceAccount ?? 'default';
  if (!id || id.namespace !== namespace || id.serviceAccount !== sa) return `the connection's identity ${verifiedIdentity} is not WorkloadGroup ${namespace}/${name}'s (namespace ${namespace}, service account ${sa})`;
  return undefined;
}

/** Whether some Service selects a workload of this namespace and these labels now. */
export type SelectedNow = (namespace: string, labels: Labels) => boolean;

export class BatchedAutoRegistration implements RegistrySource {
  readonly name = 'autoregistration';
  readonly #inner: AutoRegistration;
  readonly #handlers = new Set<() => void>();
  #timer: ReturnType<typeof setTimeout> | undefined;
  /** When #timer fires (performance.now() time). */
  #due = 0;
  /** When the last notification ended, and how long its handlers (the update) took. */
  #lastEnd = 0;
  #lastMs = 0;
  /** Notifications delivered (each is one registry update), for tests and debug. */
  flushes = 0;

  /**
   * `selected`: the registry's current view of which workloads Services select (default: all).
   * `delayMs`: how long a first change waits for others to join it.
   * `idleMs`: how long a change no Service selects may wait.
   * `groups`: the WorkloadGroups proxies name (Istio's ISTIO_META_AUTO_REGISTER_GROUP), read as
   * the template of their workload.
   */
  constructor(
    private readonly selected: SelectedNow = () => true,
    private readonly delayMs = 50,
    private readonly idleMs = 1000,
    private readonly groups: GroupLookup = () => undefined,
  ) {
    this.#inner = new AutoRegistration(groups);
  }

  register(reg: ProxyRegistration): RegistrationHandle {
    const inner = this.#inner.register(reg);
    // The labels AutoRegistration gives the workload (its WorkloadGroup's under its own).
    const group = reg.workloadGroup ? this.groups(reg.namespace, reg.workloadGroup) : undefined;
    const labels = mergeLabels({ [TLS_MODE_LABEL]: 'istio' }, group?.labels, cleanLabels(reg.labels));
    const notify = () => this.#schedule(this.selected(reg.namespace, labels) ? this.delayMs : this.idleMs);
    notify();
    return {
      name: inner.name,
      namespace: inner.namespace,
      unregister: () => {
        inner.unregister();
        notify();
      },
      setHealthy: (healthy: boolean) => {
        inner.setHealthy(healthy);
        notify();
      },
    };
  }

  services(): [] {
    return [];
  }

  endpoints(): [] {
    return [];
  }

  workloads() {
    return this.#inner.workloads();
  }

  item(key: string): SourceItem | undefined {
    return this.#inner.item(key);
  }

  itemKeys(): Iterable<string> {
    return this.#inner.itemKeys();
  }

  /** The registry read every change: nothing is left for a pending notification to deliver. */
  takeChanges(): Iterable<string> | undefined {
    this.close();
    return this.#inner.takeChanges();
  }

  /**
   * WorkloadGroup `namespace/name` changed (labels, ports, service account...): the proxies
   * registered through it are read again on the next update, as Istio re-renders their entries.
   */
  groupChanged(namespace: string, name: string): void {
    this.#inner.groupChanged(namespace, name);
    this.#schedule(this.delayMs);
  }

  onChange(handler: () => void): () => void {
    this.#handlers.add(handler);
    return () => this.#handlers.delete(handler);
  }

  close(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #schedule(delayMs: number): void {
    const now = performance.now();
    // Spaced by four times the last update: at most a fifth of the time goes to updating.
    const due = Math.max(now + delayMs, this.#lastEnd + 4 * this.#lastMs);
    if (this.#timer !== undefined) {
      if (this.#due <= due) return;
      clearTimeout(this.#timer);
    }
    this.#due = due;
    this.#timer = setTimeout(() => this.#flush(), due - now);
    this.#timer.unref?.();
  }

  #flush(): void {
    this.#timer = undefined;
    this.flushes++;
    const t0 = performance.now();
    for (const h of [...this.#handlers]) h();
    this.#lastEnd = performance.now();
    this.#lastMs = this.#lastEnd - t0;
  }
}
