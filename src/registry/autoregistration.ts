/**
 * Workloads that exist because a proxy is connected (Istio's WorkloadEntry auto-registration):
 * while registered, a proxy is a workload that Service selectors pick; on unregister it is gone.
 *
 * With `workloadGroup`, the WorkloadGroup in the proxy's namespace is the template, merged at read
 * time so an edited group applies to proxies already connected. Precedence follows Istio: the
 * proxy's own labels > group metadata labels > group template labels; the proxy's serviceAccount,
 * network, locality and ports win over the template's. A group that does not exist (yet) is not an
 * error here: the proxy registers with its own fields. The control plane refuses such proxies
 * before they get here, as Istio does (src/controlplane/autoregistration.ts).
 *
 * A registered proxy runs tsmesh's sidecar, so it accepts Istio mTLS: it carries the
 * `security.istio.io/tlsMode: istio` label unless its labels say otherwise, as injected pods do.
 */
import type { Locality, Workload } from './model.ts';
import type { RegistrySource, SourceItem } from './source.ts';
import { cleanLabels, mergeLabels, type Labels } from './labels.ts';
import { localityFromLabels, parseLocality } from './locality.ts';
import { parsePorts, type GroupTemplate } from './workloadentry.ts';
import { TLS_MODE_LABEL } from './serviceentry.ts';

export interface ProxyRegistration {
  /** Workload name (pod-like), e.g. "reviews-v1-1". */
  name: string;
  namespace: string;
  ip: string;
  labels?: Labels;
  serviceAccount?: string;
  /** Named ports the workload listens on (port name → number). */
  ports?: Record<string, number>;
  /** "region/zone/subzone" or the parsed form. */
  locality?: string | Locality;
  network?: string;
  /** Name of a WorkloadGroup in the same namespace to take the template from. */
  workloadGroup?: string;
  weight?: number;
  /**
   * Health at registration (default healthy). A proxy whose agent runs a WorkloadGroup probe
   * starts unhealthy: it receives traffic once its first report says healthy, as Istio's agent
   * sends nothing before its probe first passes.
   */
  healthy?: boolean;
}

export interface RegistrationHandle {
  readonly name: string;
  readonly namespace: string;
  /** Idempotent; a handle replaced by a newer registration of the same name does nothing. */
  unregister(): void;
  /** Health as reported by the proxy's readiness probe; unhealthy endpoints stay listed, marked. */
  setHealthy(healthy: boolean): void;
}

interface Entry {
  reg: ProxyRegistration;
  healthy: boolean;
  token: symbol;
  /** The entry as a registry item, made on first read and dropped when the entry changes. */
  item?: SourceItem;
}

export type GroupLookup = (namespace: string, name: string) => GroupTemplate | undefined;

export const AUTOREGISTRATION_SOURCE = 'autoregistration';

export class AutoRegistration implements RegistrySource {
  readonly name = AUTOREGISTRATION_SOURCE;
  private readonly entries = new Map<string, Entry>();
  private readonly handlers = new Set<() => void>();
  /** Keys (`namespace/name`) changed since the last takeChanges(); undefined: everything. */
  private pending: Set<string> | undefined;

  constructor(private readonly groups: GroupLookup = () => undefined) {}

  register(reg: ProxyRegistration): RegistrationHandle {
    if (!reg.name || !reg.namespace || !reg.ip) throw new Error('registerProxy: name, namespace and ip are required');
    const key = `${reg.namespace}/${reg.name}`;
    const entry: Entry = { reg: { ...reg }, healthy: reg.healthy ?? true, token: Symbol(key) };
    this.entries.set(key, entry);
    this.changed(key);
    const current = () => this.entries.get(key)?.token === entry.token;
    return {
      name: reg.name,
      namespace: reg.namespace,
      unregister: () => {
        if (!current()) return;
        this.entries.delete(key);
        this.changed(key);
      },
      setHealthy: (healthy: boolean) => {
        if (!current() || entry.healthy === healthy) return;
        entry.healthy = healthy;
        entry.item = undefined;
        this.changed(key);
      },
    };
  }

  services() {
    return [];
  }
  endpoints() {
    return [];
  }

  /** Made afresh from the entries and their groups (item() keeps what it made until a change). */
  workloads(): Workload[] {
    return [...this.entries.keys()].sort().map((k) => this.toWorkload(this.entries.get(k)!));
  }

  item(key: string): SourceItem | undefined {
    const e = this.entries.get(key);
    if (!e) return undefined;
    e.item ??= { services: [], endpoints: [], workloads: [this.toWorkload(e)] };
    return e.item;
  }
  itemKeys(): Iterable<string> {
    return this.entries.keys();
  }
  takeChanges(): Iterable<string> | undefined {
    const p = this.pending;
    this.pending = new Set();
    return p;
  }

  /**
   * WorkloadGroup `namespace/name` changed: proxies registered with it read it again. Quiet (no
   * onChange): the registry calls this while it applies the group's own change.
   */
  groupChanged(namespace: string, name: string): void {
    for (const [key, e] of this.entries) {
      if (e.reg.namespace !== namespace || e.reg.workloadGroup !== name) continue;
      e.item = undefined;
      this.pending?.add(key);
    }
  }

  onChange(handler: () => void): () => void {
    this.handlers.add(handler);
    return () => this.handlers.delete(handler);
  }

  private toWorkload(e: Entry): Workload {
    const r = e.reg;
    const g = r.workloadGroup ? this.groups(r.namespace, r.workloadGroup) : undefined;
    const labels = mergeLabels({ [TLS_MODE_LABEL]: 'istio' }, g?.labels, cleanLabels(r.labels));
    const locality = typeof r.locality === 'string' ? parseLocality(r.locality) : r.locality;
    const w: Workload = {
      name: r.name,
      namespace: r.namespace,
      address: r.ip,
      labels,
      locality: locality && Object.keys(locality).length ? { ...locality } : labelLocality(labels, g?.locality),
      weight: r.weight && r.weight > 0 ? r.weight : g?.weight ?? 1,
      healthy: e.healthy,
      source: `${AUTOREGISTRATION_SOURCE}/${r.namespace}/${r.name}`,
    };
    const sa = r.serviceAccount ?? g?.serviceAccount;
    if (sa) w.serviceAccount = sa;
    const network = r.network ?? g?.network;
    if (network) w.network = network;
    const ports = parsePorts({ ...(g?.ports ?? {}), ...(r.ports ?? {}) });
    if (ports) w.ports = ports;
    return w;
  }

  private changed(key: string): void {
    this.pending?.add(key);
    for (const h of [...this.handlers]) h();
  }
}

/** No locality registered: the labels' (as Istio reads a pod's), else the group's. */
function labelLocality(labels: Labels, group: Locality | undefined): Locality {
  const fromLabels = localityFromLabels(labels);
  return Object.keys(fromLabels).length ? fromLabels : { ...(group ?? {}) };
}
