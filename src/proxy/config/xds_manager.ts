/**
 * Applies xDS resources to the proxy (Envoy's CDS/EDS/LDS/RDS/SDS subscriptions plus its init
 * manager). Every update is validated first — schema (codec normalize) for resources that did
 * not come off the wire, every set field against the support table, semantic checks, routes
 * compiled and listeners built — and rejected as a whole with one message naming every bad
 * resource and field (the NACK); the previous config keeps serving.
 * Initialization follows Envoy: static clusters, then CDS and the clusters' warming (EDS), then
 * LDS and the listeners' warming (RDS, SDS), each first fetch bounded by initial_fetch_timeout.
 */
import { normalize } from '../../xds/codec.ts';
import { TYPE, type EnvoyJson } from '../../xds/types.ts';
import type { StatsStore } from '../stats/stats_store.ts';
import type { ClusterManagerImpl } from '../upstream/cluster_manager.ts';
import type { ListenerManager } from '../listener/listener_manager.ts';
import type { ListenerImpl } from '../listener/listener_impl.ts';
import { socketAddress } from '../upstream/eds.ts';
import { log } from '../logger.ts';
import type { RouteConfigProviderImpl } from './route_config_provider.ts';
import { inlineRoutesOfListener } from './route_config_provider.ts';
import type { SecretManager } from './secret_manager.ts';
import { DECODERS } from './validation.ts';
import type { FieldFinding } from './support_walker.ts';

export type ApplyResult = { ok: true } | { ok: false; error: string };

/** One accepted change of one type, as forwarded to workers. */
export interface AcceptedChange {
  typeUrl: string;
  version: string;
  upserts: [string, EnvoyJson][];
  removed: string[];
}

const STAT: Record<string, string> = { [TYPE.CLUSTER]: 'cluster_manager.cds', [TYPE.ENDPOINT]: 'cluster_manager.eds', [TYPE.LISTENER]: 'listener_manager.lds', [TYPE.ROUTE]: 'http.rds', [TYPE.SECRET]: 'sds' };

export function resourceName(typeUrl: string, r: EnvoyJson): string {
  return typeUrl === TYPE.ENDPOINT ? r.cluster_name : r.name;
}

export class XdsManager {
  /** version_info of the last accepted update per type (config_dump). */
  readonly versions = new Map<string, string>();
  /** Resources this manager applied dynamically, by type then name. */
  readonly dynamic = new Map<string, Map<string, EnvoyJson>>();
  /** What validation decoded (built listener, compiled routes) and the fields it ignores, per resource object. */
  private readonly decoded = new WeakMap<EnvoyJson, { result: unknown; ignored: FieldFinding[] }>();
  private readonly acceptedHandlers = new Set<(c: AcceptedChange) => void>();

  constructor(
    readonly store: StatsStore,
    readonly clusters: ClusterManagerImpl,
    readonly listeners: ListenerManager,
    readonly routes: RouteConfigProviderImpl,
    readonly secrets: SecretManager,
  ) {
    for (const p of Object.values(STAT)) for (const s of ['update_attempt', 'update_success', 'update_rejected']) store.counter(`${p}.${s}`);
  }

  onAccepted(h: (c: AcceptedChange) => void): () => void {
    this.acceptedHandlers.add(h);
    return () => this.acceptedHandlers.delete(h);
  }

  /**
   * Validates a proposed set of resources of one type by decoding each once (validation.ts:
   * support walk, semantic checks, routes compiled, listeners built); `removed` names those
   * going away (used for the duplicate-address check). What was decoded is kept for `apply`.
   */
  validate(typeUrl: string, upserts: [string, EnvoyJson][], removed: string[] = []): ApplyResult {
    const errs: string[] = [];
    const decoder = DECODERS[typeUrl];
    if (!decoder) return { ok: false, error: `unsupported resource type ${typeUrl}` };
    const ctx = { buildListener: (l: EnvoyJson) => this.listeners.build(l, this.versions.get(typeUrl) ?? '') };
    for (const [name, r] of upserts) {
      const d = decoder.decode(r, ctx);
      if (d.valid) {
        this.decoded.set(r, { result: d.result, ignored: d.ignored });
      } else errs.push(...d.errors);
      const own = decoder.name(r);
      if (own !== name) errs.push(`resource ${name}: name does not match the resource's own name ${own}`);
    }
    if (typeUrl === TYPE.LISTENER) errs.push(...this.duplicateAddresses(upserts, removed));
    return errs.length ? { ok: false, error: errs.join('; ') } : { ok: true };
  }

  /**
   * `validate`, then, for listeners, binding the addresses new listeners need (ListenerManager
   * .reserve): an address in use NACKs the update naming the listener and the address
   * (TSMESH_ERR_ADDRESS_IN_USE) while the current listeners keep serving. For the ADS client,
   * whose validator may be async.
   */
  async validateAndReserve(typeUrl: string, upserts: [string, EnvoyJson][], removed: string[] = []): Promise<ApplyResult> {
    const r = this.validate(typeUrl, upserts, removed);
    if (!r.ok || typeUrl !== TYPE.LISTENER) return r;
    const built = upserts.map(([, c]) => this.decoded.get(c)?.result).filter((l): l is ListenerImpl => l !== undefined);
    const errors = await this.listeners.reserve(built);
    return errors.length ? { ok: false, error: errors.join('; ') } : r;
  }

  private duplicateAddresses(upserts: [string, EnvoyJson][], removed: string[]): string[] {
    const byName = new Map<string, EnvoyJson>();
    for (const [n, l] of this.listeners.active) byName.set(n, l.config);
    for (const n of removed) byName.delete(n);
    for (const [n, r] of upserts) byName.set(n, r);
    const seen = new Map<string, string>();
    const errs: string[] = [];
    for (const [n, l] of byName) {
      const sa = socketAddress(l.address);
      if (!sa || sa.port === 0 || l.bind_to_port === false) continue;
      const k = `${sa.ip}:${sa.port}`;
      if (seen.has(k)) errs.push(`listener ${n}: address ${k} is already used by listener ${seen.get(k)}`);
      seen.set(k, n);
    }
    return errs;
  }

  /** Applies validated changes. Call `validate` first (or use `update`). */
  apply(typeUrl: string, upserts: [string, EnvoyJson][], removed: string[], version: string, isStatic = false): void {
    this.versions.set(typeUrl, version);
    const dyn = this.dynamic.get(typeUrl) ?? new Map<string, EnvoyJson>();
    this.dynamic.set(typeUrl, dyn);
    for (const [name, r] of upserts) {
      if (!isStatic) dyn.set(name, r);
      this.countIgnored(typeUrl, name, this.decoded.get(r)?.ignored ?? []);
      switch (typeUrl) {
        case TYPE.CLUSTER:
          this.clusters.addOrUpdate(r, version, isStatic);
          break;
        case TYPE.ENDPOINT:
          this.clusters.applyEndpoints(r, version);
          break;
        case TYPE.ROUTE:
          this.routes.set(name, r, version, isStatic);
          break;
        case TYPE.SECRET:
          this.secrets.set(name, r, version, isStatic);
          break;
        case TYPE.LISTENER: {
          for (const rc of inlineRoutesOfListener(r)) if (rc.name !== undefined) this.routes.set(rc.name, rc, version, true);
          const l = (this.decoded.get(r)?.result as ListenerImpl | undefined) ?? this.listeners.build(r, version);
          l.version = version;
          this.listeners.addOrUpdate(l);
          break;
        }
      }
    }
    for (const name of removed) {
      dyn.delete(name);
      if (typeUrl === TYPE.CLUSTER) this.clusters.remove(name);
      else if (typeUrl === TYPE.ENDPOINT) this.clusters.removeEndpoints(name);
      else if (typeUrl === TYPE.ROUTE) this.routes.remove(name);
      else if (typeUrl === TYPE.SECRET) this.secrets.remove(name);
      else if (typeUrl === TYPE.LISTENER) this.listeners.remove(name);
    }
    if (!isStatic) for (const h of this.acceptedHandlers) h({ typeUrl, version, upserts, removed });
  }

  /**
   * Fields accepted but not acted on: advisory ones (Envoy treats them as hints) and the
   * control plane's not-yet-honoured ones. Each counts in /stats and is logged once.
   */
  private countIgnored(typeUrl: string, name: string, ignored: FieldFinding[]): void {
    for (const f of ignored) {
      const what = f.support === 'advisory' ? 'advisory_field_ignored' : 'unsupported_field_ignored';
      this.store.counter(`envoy_support.${what}`).inc();
      this.store.counter(`envoy_support.${what}.${f.message}.${f.field}`).inc();
      const label = f.support === 'advisory' ? 'advisory, ignored' : 'unsupported, ignored';
      log.warnOnce(`envoy-support-${f.message}.${f.field}`, `${DECODERS[typeUrl]?.kind ?? typeUrl} ${name}: ${f.path}: ${f.message}.${f.field} is ${label}: ${f.reason}`);
    }
  }

  /** Validate-then-apply, counting update_attempt/success/rejected as Envoy does. */
  update(typeUrl: string, upserts: [string, EnvoyJson][], removed: string[], version: string): ApplyResult {
    const stat = STAT[typeUrl] ?? 'xds';
    this.store.counter(`${stat}.update_attempt`).inc();
    const r = this.validate(typeUrl, upserts, removed);
    if (!r.ok) {
      this.store.counter(`${stat}.update_rejected`).inc();
      log.warn(`${typeUrl.split('.').pop()} update ${version} rejected: ${r.error}`);
      return r;
    }
    this.apply(typeUrl, upserts, removed, version);
    this.store.counter(`${stat}.update_success`).inc();
    return r;
  }

  /**
   * The programmatic config API (tests, workers, file-based config): a state-of-the-world set of
   * resources for one type. Resources not from the wire are schema-checked through the codec
   * first; dynamic resources missing from the set are removed.
   */
  setState(typeUrl: string, resources: EnvoyJson[], version: string, opts: { normalize?: boolean } = {}): ApplyResult {
    const upserts: [string, EnvoyJson][] = [];
    const errs: string[] = [];
    for (const r of resources) {
      let res = r;
      if (opts.normalize !== false) {
        try {
          const { '@type': _t, ...body } = r;
          res = normalize(typeUrl, body);
        } catch (e) {
          errs.push(`${typeUrl.split('.').pop()} ${resourceName(typeUrl, r) ?? '(unnamed)'}: ${(e as Error).message}`);
          continue;
        }
      }
      upserts.push([resourceName(typeUrl, res), res]);
    }
    if (errs.length) {
      this.store.counter(`${STAT[typeUrl] ?? 'xds'}.update_rejected`).inc();
      return { ok: false, error: errs.join('; ') };
    }
    const names = new Set(upserts.map(([n]) => n));
    const removed = [...(this.dynamic.get(typeUrl)?.keys() ?? [])].filter((n) => !names.has(n));
    return this.update(typeUrl, upserts, removed, version);
  }

  /** RDS names the current listeners need. */
  rdsNames(): string[] {
    const out = new Set<string>();
    for (const m of [this.listeners.active, this.listeners.warming]) {
      for (const l of m.values()) for (const f of l.config.filter_chains ?? []) for (const x of f.filters ?? []) {
        const n = x.typed_config?.rds?.route_config_name;
        if (n) out.add(n);
      }
    }
    return [...out].sort();
  }
}
