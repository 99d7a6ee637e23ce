/**
 * The registry snapshot kept current one change at a time: it gives exactly what aggregate.ts's
 * buildSnapshot gives for the same sources, but a change re-reads only the source items it names
 * (one resource, one registered proxy) and recomputes only the hostnames those items touch:
 *   - a Service/ServiceEntry item: its hostnames (every definition of a hostname is ranked again);
 *   - a workload: the hostnames whose selector could pick it, found through the first label of
 *     each selector in the workload's namespace;
 *   - a host's selected workloads come from an index by namespace and label, not a scan.
 * What a change cannot narrow (new discoverySelectors, new namespace labels, a source added or
 * removed) is a full build: the Registry makes a new IncrementalAggregate for it.
 */
import type { Endpoint, RegistryEvent, Service, Workload } from './model.ts';
import { isIncremental, type RegistrySource, type SourceItem } from './source.ts';
import type { Labels } from './labels.ts';
import { selectorMatches } from './labels.ts';
import { NamespaceFilter } from './namespaces.ts';
import { workloadEndpoints } from './selection.ts';
import { canonical } from './canonical.ts';
import { cmp, compareWorkloads, endpointKey, portEndpoints, rank, serviceAccountsOf, withVip, type AggregateOptions, type Conflict, type Fingerprint, type RegistrySnapshot } from './aggregate.ts';

/** Where a service or workload came from: source index, item key, position in the item. */
interface Origin {
  src: number;
  key: string;
  idx: number;
}
interface Candidate extends Origin {
  svc: Service;
}
interface WorkloadRef extends Origin {
  w: Workload;
  /** In a discovered namespace, so in `refs` and the snapshot's workloads. */
  listed: boolean;
}
/** The served definition of one hostname. */
interface HostState {
  /** The winning definition as its source gave it, and as served (with a VIP, maybe). */
  original: Service;
  service: Service;
  epKeys: string[];
}

/** The one item of a source that is not incremental: all of it. */
const WHOLE = '';

/** Source order: the whole-registry build sees services and workloads in this order. */
function byOrigin(a: Origin, b: Origin): number {
  return a.src - b.src || cmp(a.key, b.key) || a.idx - b.idx;
}
function rankCandidates(a: Candidate, b: Candidate): number {
  return rank(a, b) || byOrigin(a, b);
}
function compareRefs(a: WorkloadRef, b: WorkloadRef): number {
  return compareWorkloads(a.w, b.w) || byOrigin(a, b);
}
function labelKey(namespace: string, k: string, v: string): string {
  return `${namespace}\u0000${k}\u0000${v}`;
}

/** First index in sorted `list` whose element is not before `x`. */
function lowerBound<T>(list: readonly T[], x: T, order: (a: T, b: T) => number): number {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (order(list[mid]!, x) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function mergedNamespaceLabels(sources: readonly RegistrySource[]): Map<string, Labels> {
  const nsLabels = new Map<string, Labels>();
  for (const s of sources) for (const [ns, l] of s.namespaceLabels?.() ?? []) nsLabels.set(ns, { ...(nsLabels.get(ns) ?? {}), ...l });
  return nsLabels;
}

export interface IncrementalOptions extends AggregateOptions {
  /** Every changed key a source reports, before later sources are read (a WorkloadGroup edit). */
  onChangedKey?: (source: RegistrySource, key: string) => void;
}

export class IncrementalAggregate {
  private readonly filter: NamespaceFilter;
  private readonly nsLabelsText: string;
  /** Per source: its items as last applied, and the namespace labels object last seen. */
  private readonly applied: Array<Map<string, SourceItem>>;
  private readonly nsSeen: Array<ReadonlyMap<string, Labels> | undefined>;
  private readonly byHost = new Map<string, Candidate[]>();
  /** Hostnames of selector-bearing services, by namespace and their selector's first label. */
  private readonly selecting = new Map<string, Map<string, number>>();
  /** A source's own endpoints by `${src}|${hostname}|${namespace}`, then by item key. */
  private readonly own = new Map<string, Map<string, Endpoint[]>>();
  /** Workloads by namespace and label. */
  private readonly byLabel = new Map<string, Set<WorkloadRef>>();
  /** Workloads of discovered namespaces in snapshot order: the snapshot's workloads, one for one. */
  private readonly refs: WorkloadRef[] = [];
  /** The snapshot's workloads as this update changes them (a copy of the last, made on first change). */
  private workloads: Workload[] | undefined;
  /** The same, by source and item key, to remove one without a search. */
  private readonly refsByItem = new Map<string, Map<Workload, WorkloadRef>>();
  private readonly hosts = new Map<string, HostState>();
  private readonly conflictsByHost = new Map<string, Conflict>();
  private snap: RegistrySnapshot;
  /** Hostnames whose served Service object the last update replaced, added or removed. */
  replaced: string[] = [];
  /** Set while applying: what this update touched. */
  private dirty = new Set<string>();
  private workloadContentChanged = false;

  constructor(
    private readonly sources: readonly RegistrySource[],
    private readonly opts: IncrementalOptions = {},
  ) {
    const nsLabels = mergedNamespaceLabels(sources);
    this.nsLabelsText = canonical([...nsLabels].sort(([a], [b]) => cmp(a, b)));
    this.filter = new NamespaceFilter(opts.mesh?.discoverySelectors, nsLabels);
    this.nsSeen = sources.map((s) => s.namespaceLabels?.());
    this.applied = sources.map(() => new Map());
    this.snap = { services: [], endpoints: new Map(), workloads: [], conflicts: [], fingerprints: new Map() };
    sources.forEach((s, src) => {
      // Everything is read now; what the source had pending is in it (but a key may still say
      // something to later sources: a WorkloadGroup to registered proxies).
      if (isIncremental(s)) {
        for (const key of s.takeChanges() ?? []) opts.onChangedKey?.(s, key);
        for (const key of s.itemKeys()) this.apply(src, key, undefined, s.item(key), true);
      } else {
        this.apply(src, WHOLE, undefined, wholeItem(s), true);
      }
    });
    this.refs.sort(compareRefs);
    this.workloads = this.refs.map((r) => r.w);
    this.finish();
  }

  snapshot(): RegistrySnapshot {
    return this.snap;
  }

  /** The served Service of `hostname`. */
  service(hostname: string): Service | undefined {
    return this.hosts.get(hostname)?.service;
  }

  /**
   * Reads what changed in every incremental source, and all of each `notified` source that is
   * not incremental. Returns what changed, or 'rebuild' when discovery itself changed (namespace
   * labels): then nothing was applied and a new IncrementalAggregate must be made.
   */
  update(notified: ReadonlySet<RegistrySource>): RegistryEvent | undefined | 'rebuild' {
    // Namespace labels first: they decide what every other change means.
    let nsMoved = false;
    this.sources.forEach((s, src) => {
      const seen = s.namespaceLabels?.();
      if (seen !== this.nsSeen[src]) nsMoved = true;
    });
    if (nsMoved) {
      const merged = mergedNamespaceLabels(this.sources);
      if (canonical([...merged].sort(([a], [b]) => cmp(a, b))) !== this.nsLabelsText) return 'rebuild';
      this.sources.forEach((s, src) => (this.nsSeen[src] = s.namespaceLabels?.()));
    }
    this.sources.forEach((s, src) => {
      if (isIncremental(s)) {
        const taken = s.takeChanges();
        const keys = taken ?? new Set([...this.applied[src]!.keys(), ...s.itemKeys()]);
        for (const key of keys) {
          this.opts.onChangedKey?.(s, key);
          this.apply(src, key, this.applied[src]!.get(key), s.item(key), false);
        }
      } else if (notified.has(s)) {
        this.apply(src, WHOLE, this.applied[src]!.get(WHOLE), wholeItem(s), false);
      }
    });
    return this.finish();
  }

  /** Whether some served Service of a selecting source picks a workload with these labels here. */
  selectsWorkload(namespace: string, labels: Labels): boolean {
    for (const [k, v] of Object.entries(labels)) {
      for (const host of this.selecting.get(labelKey(namespace, k, v))?.keys() ?? []) {
        const svc = this.hosts.get(host)?.service;
        if (svc && svc.namespace === namespace && selectorMatches(svc.selector, labels)) return true;
      }
    }
    return false;
  }

  // ---------- applying one item ----------

  private apply(src: number, key: string, prev: SourceItem | undefined, next: SourceItem | undefined, initial: boolean): void {
    if (prev === next) return;
    const source = this.sources[src]!;
    if (next) this.applied[src]!.set(key, next);
    else this.applied[src]!.delete(key);

    prev?.services.forEach((svc) => {
      const list = this.byHost.get(svc.hostname);
      const i = list?.findIndex((c) => c.svc === svc && c.src === src) ?? -1;
      if (i >= 0) list!.splice(i, 1);
      if (list?.length === 0) this.byHost.delete(svc.hostname);
      if (source.selectsWorkloads) this.indexSelector(svc, -1);
      this.dirty.add(svc.hostname);
    });
    next?.services.forEach((svc, idx) => {
      const list = this.byHost.get(svc.hostname) ?? [];
      list.push({ svc, src, key, idx });
      this.byHost.set(svc.hostname, list);
      if (source.selectsWorkloads) this.indexSelector(svc, 1);
      this.dirty.add(svc.hostname);
    });

    for (const ep of prev?.endpoints ?? []) {
      const k = `${src}|${ep.service}|${ep.namespace}`;
      const m = this.own.get(k);
      m?.delete(key);
      if (m?.size === 0) this.own.delete(k);
      this.dirty.add(ep.service);
    }
    for (const ep of next?.endpoints ?? []) {
      const k = `${src}|${ep.service}|${ep.namespace}`;
      const m = this.own.get(k) ?? new Map<string, Endpoint[]>();
      this.own.set(k, m);
      const list = m.get(key) ?? [];
      list.push(ep);
      m.set(key, list);
      this.dirty.add(ep.service);
    }

    const before = prev?.workloads ?? [];
    const after = next?.workloads ?? [];
    const kept = new Set(after);
    const gone = before.filter((w) => !kept.has(w));
    const had = new Set(before);
    for (const w of gone) this.removeWorkload(w, src, key);
    after.forEach((w, idx) => {
      if (!had.has(w)) this.addWorkload({ w, src, key, idx, listed: this.filter.selected(w.namespace) }, initial);
    });
    if (gone.length > 0 || after.some((w) => !had.has(w))) {
      // A registration repeated with the same fields is a new object, not a change.
      const seen = (list: readonly Workload[]) => canonical(list.filter((w) => this.filter.selected(w.namespace)));
      if (!this.workloadContentChanged && seen(before) !== seen(after)) this.workloadContentChanged = true;
    }
  }

  private indexSelector(svc: Service, delta: 1 | -1): void {
    const first = svc.selector ? Object.keys(svc.selector)[0] : undefined;
    if (first === undefined) return;
    const k = labelKey(svc.namespace, first, String(svc.selector![first]));
    const m = this.selecting.get(k) ?? new Map<string, number>();
    const n = (m.get(svc.hostname) ?? 0) + delta;
    if (n > 0) m.set(svc.hostname, n);
    else m.delete(svc.hostname);
    if (m.size > 0) this.selecting.set(k, m);
    else this.selecting.delete(k);
  }

  /** Hostnames whose selector could pick `w`: every one needs its first label. */
  private dirtySelecting(w: Workload): void {
    for (const [k, v] of Object.entries(w.labels)) {
      for (const host of this.selecting.get(labelKey(w.namespace, k, v))?.keys() ?? []) this.dirty.add(host);
    }
  }

  private addWorkload(ref: WorkloadRef, initial: boolean): void {
    for (const [k, v] of Object.entries(ref.w.labels)) {
      const lk = labelKey(ref.w.namespace, k, v);
      const set = this.byLabel.get(lk) ?? new Set<WorkloadRef>();
      set.add(ref);
      this.byLabel.set(lk, set);
    }
    const ik = `${ref.src}\u0000${ref.key}`;
    const mine = this.refsByItem.get(ik) ?? new Map<Workload, WorkloadRef>();
    mine.set(ref.w, ref);
    this.refsByItem.set(ik, mine);
    if (ref.listed) {
      // The first build sorts once at the end.
      if (initial) this.refs.push(ref);
      else {
        const i = lowerBound(this.refs, ref, compareRefs);
        this.refs.splice(i, 0, ref);
        (this.workloads ??= this.snap.workloads.slice()).splice(i, 0, ref.w);
      }
    }
    this.dirtySelecting(ref.w);
  }

  private removeWorkload(w: Workload, src: number, key: string): void {
    const ik = `${src}\u0000${key}`;
    const mine = this.refsByItem.get(ik);
    const ref = mine?.get(w);
    if (ref) {
      mine!.delete(w);
      if (mine!.size === 0) this.refsByItem.delete(ik);
      for (const [k, v] of Object.entries(w.labels)) {
        const lk = labelKey(w.namespace, k, v);
        const set = this.byLabel.get(lk);
        set?.delete(ref);
        if (set?.size === 0) this.byLabel.delete(lk);
      }
      let i = ref.listed ? lowerBound(this.refs, ref, compareRefs) : this.refs.length;
      while (i < this.refs.length && this.refs[i] !== ref) i++;
      if (i < this.refs.length) {
        this.refs.splice(i, 1);
        (this.workloads ??= this.snap.workloads.slice()).splice(i, 1);
      }
    }
    this.dirtySelecting(w);
  }

  // ---------- recomputing what was touched ----------

  /** Recomputes the dirty hostnames into a new snapshot; returns the change, if any. */
  private finish(): RegistryEvent | undefined {
    const prev = this.snap;
    let services: Service[] | undefined;
    let endpoints: Map<string, Endpoint[]> | undefined;
    let fingerprints: Map<string, Fingerprint> | undefined;
    let conflictsMoved = false;
    const touched: string[] = [];
    let serviceChanged = false;
    let accountsChanged = false;
    this.replaced = [];

    for (const host of [...this.dirty].sort(cmp)) {
      const before = this.hosts.get(host);
      const beforeFp = prev.fingerprints.get(host);
      const beforeConflict = this.conflictsByHost.get(host);
      const list = (this.byHost.get(host) ?? []).filter((c) => this.filter.selected(c.svc.namespace));
      endpoints ??= new Map(prev.endpoints);
      fingerprints ??= new Map(prev.fingerprints);
      for (const k of before?.epKeys ?? []) endpoints.delete(k);

      if (list.length === 0) {
        if (before) {
          services ??= [...prev.services];
          services.splice(this.servicePosition(services, host), 1);
          this.hosts.delete(host);
          fingerprints.delete(host);
          this.replaced.push(host);
        }
        if (this.conflictsByHost.delete(host)) conflictsMoved = true;
      } else {
        list.sort(rankCandidates);
        const win = list[0]!;
        const svc = before && before.original === win.svc ? before.service : withVip(win.svc, this.opts.vipAllocator);
        if (list.length > 1) {
          const c: Conflict = { hostname: host, kept: win.svc.source ?? '', ignored: list.slice(1).map((x) => x.svc.source ?? '') };
          if (!beforeConflict || canonical(beforeConflict) !== canonical(c)) conflictsMoved = true;
          this.conflictsByHost.set(host, c);
        } else if (this.conflictsByHost.delete(host)) {
          conflictsMoved = true;
        }

        const eps = this.ownEndpoints(win, svc);
        if (this.sources[win.src]!.selectsWorkloads && svc.selector) for (const r of this.selected(svc)) eps.push(...workloadEndpoints(svc, r.w));
        const perPort = portEndpoints(svc, eps);
        const epKeys = svc.ports.map((sp) => endpointKey(host, sp.port));
        epKeys.forEach((k, i) => endpoints!.set(k, perPort[i]!));

        if (before?.service !== svc) {
          services ??= [...prev.services];
          const at = this.servicePosition(services, host);
          if (before) services[at] = svc;
          else services.splice(at, 0, svc);
          this.replaced.push(host);
        }
        this.hosts.set(host, { original: win.svc, service: svc, epKeys });
        fingerprints.set(host, {
          service: before?.service === svc && beforeFp ? beforeFp.service : canonical(svc),
          endpoints: canonical(perPort),
          serviceAccounts: serviceAccountsOf(perPort),
        });
      }

      const afterFp = fingerprints.get(host);
      if (beforeFp?.service !== afterFp?.service) {
        serviceChanged = true;
        touched.push(host);
      } else if (beforeFp?.endpoints !== afterFp?.endpoints) {
        touched.push(host);
        if (beforeFp?.serviceAccounts !== afterFp?.serviceAccounts) accountsChanged = true;
      }
    }

    const workloadsMoved = this.workloadContentChanged;
    const next: RegistrySnapshot = {
      services: services ?? prev.services,
      endpoints: endpoints ?? prev.endpoints,
      workloads: this.workloads ?? prev.workloads,
      conflicts: conflictsMoved ? [...this.conflictsByHost.values()].sort((a, b) => cmp(a.hostname, b.hostname)) : prev.conflicts,
      fingerprints: fingerprints ?? prev.fingerprints,
    };
    this.snap = next;
    this.dirty = new Set();
    this.workloads = undefined;
    this.workloadContentChanged = false;
    if (touched.length === 0 && !workloadsMoved) return undefined;
    const event: RegistryEvent = { services: touched, endpointsOnly: !serviceChanged };
    if (accountsChanged && !serviceChanged) event.serviceAccountsChanged = true;
    return event;
  }

  /** Where `host` is, or would go, in the services list (sorted by hostname, one per hostname). */
  private servicePosition(services: readonly Service[], host: string): number {
    let lo = 0;
    let hi = services.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (cmp(services[mid]!.hostname, host) < 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** The winner's source's own endpoints for this hostname in its namespace, in source order. */
  private ownEndpoints(win: Candidate, svc: Service): Endpoint[] {
    const byItem = this.own.get(`${win.src}|${svc.hostname}|${svc.namespace}`);
    if (!byItem) return [];
    const keys = [...byItem.keys()].sort(cmp);
    const out: Endpoint[] = [];
    for (const k of keys) out.push(...byItem.get(k)!);
    return out;
  }

  /** Workloads `svc` selects, in snapshot order, from the smallest label set its selector names. */
  private selected(svc: Service): WorkloadRef[] {
    const sel = svc.selector!;
    let best: Set<WorkloadRef> | undefined;
    for (const [k, v] of Object.entries(sel)) {
      const set = this.byLabel.get(labelKey(svc.namespace, k, String(v)));
      if (!set) return [];
      if (!best || set.size < best.size) best = set;
    }
    if (!best) return [];
    return [...best].filter((r) => r.w.namespace === svc.namespace && selectorMatches(sel, r.w.labels)).sort(compareRefs);
  }
}

function wholeItem(s: RegistrySource): SourceItem {
  return { services: s.services(), endpoints: s.endpoints(), workloads: s.workloads() };
}
