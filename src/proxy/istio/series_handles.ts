/**
 * The series one finished stream records into, cached per listener by the identity of its label
 * tuple's cached parts (the peers' and the service's label objects, see stats_labels.ts) and a
 * short key of the small enumerations (protocol, code, gRPC status, flags, security). The common
 * request then costs a few map lookups instead of building and hashing the whole series key once
 * per metric. A stream's new series are admitted together under the series cap, all or none;
 * only admitted sets are cached, so a refused tuple is asked again (and counted) next time. Metrics with CEL dimensions or removed labels
 * depend on more than the tuple and are resolved per stream. Entries live as long as the label
 * objects they hang from (weak keys), so peers or clusters that come and go are not pinned.
 */
import type { StreamInfo } from '../interfaces.ts';
import type { LabelledRegistry, Series } from './metrics_registry.ts';
import type { MetricPlan } from './stats_config.ts';
import type { LabelInput, PeerLabels, ServiceLabels } from './stats_labels.ts';

const SEP = '\u0001';

type Slots = (Series | undefined)[];
/** A stream refused by the series cap: records nothing. */
const NONE: Slots = [];

export class SeriesHandles {
  private readonly cache = new WeakMap<PeerLabels, WeakMap<PeerLabels, WeakMap<ServiceLabels, Map<string, Slots>>>>();
  /** Indexes of plans resolved per stream (tagOverrides). */
  private readonly perStream: number[] = [];
  /** The last tuple resolved and its slots: consecutive streams mostly share one. */
  private last: LabelInput | undefined;
  private lastSlots: Slots = [];
  /** Where a stream's new series are admitted together (all or none). */
  private readonly registry: LabelledRegistry | undefined;

  /**
   * `plans` in recording order; `grpcOnly[i]`: plan i is recorded for gRPC streams only (the
   * message counts), so an HTTP stream never creates its series.
   */
  constructor(
    private readonly plans: readonly (MetricPlan | undefined)[],
    private readonly grpcOnly: readonly boolean[],
  ) {
    plans.forEach((p, i) => (p?.perStream ? this.perStream.push(i) : undefined));
    this.registry = plans.find((p) => p !== undefined)?.family.registry;
  }

  /** Runs `fn` as one stream's admission: false when the cap refused its new series (all removed). */
  private admitted(fn: () => void): boolean {
    const r = this.registry;
    if (!r) return fn(), true;
    r.begin();
    try {
      fn();
    } catch (e) {
      r.commit();
      throw e;
    }
    return r.commit();
  }

  /** The series of every plan for this stream (undefined: dropped metric, not gRPC, or past the cap). */
  resolve(x: LabelInput, info: StreamInfo, grpc: boolean): Slots {
    const l = this.last;
    if (l === undefined || !sameTuple(l, x)) {
      const found = this.lookup(x, info, grpc);
      if (found !== undefined) return found;
    }
    const hit = this.lastSlots;
    if (this.perStream.length === 0) return hit;
    const out = hit.slice();
    const ok = this.admitted(() => {
      for (const i of this.perStream) if (grpc || !this.grpcOnly[i]) out[i] = this.plans[i]!.series(x, info);
    });
    return ok ? out : NONE;
  }

  /** Finds the tuple's slots and remembers them (undefined), or resolves a new tuple (its slots). */
  private lookup(x: LabelInput, info: StreamInfo, grpc: boolean): Slots | undefined {
    let byDst = this.cache.get(x.src);
    if (!byDst) this.cache.set(x.src, (byDst = new WeakMap()));
    let bySvc = byDst.get(x.dst);
    if (!bySvc) byDst.set(x.dst, (bySvc = new WeakMap()));
    let byTail = bySvc.get(x.svc);
    if (!byTail) bySvc.set(x.svc, (byTail = new Map()));
    const tail = x.protocol + SEP + x.code + SEP + x.grpc + SEP + x.flags + SEP + x.security;
    const hit = byTail.get(tail);
    if (hit) {
      this.last = x;
      this.lastSlots = hit;
      return undefined;
    }
    // In recording order, one series() per plan, admitted together under the cap: a refused
    // stream records nothing and its tuple is asked again next time (each refusal counted).
    const out: Slots = [];
    let complete = true;
    const ok = this.admitted(() => {
      for (let i = 0; i < this.plans.length; i++) {
        const p = this.plans[i];
        const s = p && (grpc || !this.grpcOnly[i]) ? p.series(x, info) : undefined;
        if (p && s === undefined && !p.perStream && (grpc || !this.grpcOnly[i])) complete = false;
        out.push(s);
      }
    });
    if (!ok) return NONE;
    if (complete) {
      // Per-stream slots are resolved again on every hit.
      byTail.set(tail, out);
      this.last = x;
      this.lastSlots = out;
    }
    return out;
  }
}

/** Same label tuple (the reporter is the listener's). */
function sameTuple(a: LabelInput, b: LabelInput): boolean {
  return a.src === b.src && a.dst === b.dst && a.svc === b.svc && a.code === b.code && a.grpc === b.grpc && a.flags === b.flags && a.protocol === b.protocol && a.security === b.security;
}
