/**
 * Checks that need more than one resource (what Istio's analyzers report): VirtualService
 * destinations naming subsets that no DestinationRule defines, gateways that do not exist,
 * and the same resource defined twice. Every finding is a warning: Istio accepts such config
 * (the missing piece may be applied next) and only its analyzer reports it, so these never
 * reject a resource or fail `tsmesh validate`; `apply` and the stores print them.
 */
import { configKey, type Config, type ValidationError } from '../types.ts';
import { arr, child, obj, str, type Obj } from './common.ts';
import { validateConfig } from './index.ts';
import { hostCovers } from './virtualservice.ts';
import { authzHttpOnTcpWarnings } from './authz_tcp.ts';
import { egressProxyWarnings } from './egress_proxy.ts';

export interface CrossOptions {
  /** Kubernetes cluster domain used to expand short hosts (reviews → reviews.<ns>.svc.<suffix>). */
  domainSuffix?: string;
  /** meshConfig.rootNamespace: where policies apply mesh-wide (default istio-system). */
  rootNamespace?: string;
}

/** Per-resource validation of every config plus the cross-resource checks. */
export function validateAll(configs: readonly Config[], opts: CrossOptions = {}): ValidationError[] {
  const out: ValidationError[] = [];
  for (const c of configs) out.push(...validateConfig(c));
  out.push(...crossValidate(configs, opts));
  return out;
}

/** Only the cross-resource checks (the store runs per-resource validation as documents arrive). */
export function crossValidate(configs: readonly Config[], opts: CrossOptions = {}): ValidationError[] {
  const suffix = opts.domainSuffix ?? 'cluster.local';
  const out: ValidationError[] = [];
  const report = (c: Config, path: string, message: string) =>
    out.push({ file: c.origin?.file, kind: c.kind, namespace: c.metadata.namespace, name: c.metadata.name, path, message, severity: 'warning' });

  // Duplicates: the same kind/namespace/name read twice (two files, or twice in one file).
  const first = new Map<string, Config>();
  for (const c of configs) {
    const k = configKey(c);
    const prev = first.get(k);
    if (prev) report(c, '', `duplicate ${c.kind} ${c.metadata.namespace ? c.metadata.namespace + '/' : ''}${c.metadata.name}: also defined in ${where(prev)}`);
    else first.set(k, c);
  }

  authzHttpOnTcpWarnings(configs, opts.rootNamespace ?? 'istio-system', report);

  const drs = configs.filter((c) => c.kind === 'DestinationRule');
  const gateways = new Set(configs.filter((c) => c.kind === 'Gateway').map((c) => `${c.metadata.namespace}/${c.metadata.name}`));

  for (const vs of configs) {
    if (vs.kind !== 'VirtualService' || !obj(vs.spec)) continue;
    const ns = vs.metadata.namespace;
    const spec = vs.spec as Obj;
    const checkDest = (d: unknown, path: string) => {
      const dest = obj(d);
      const host = str(dest?.host);
      const subset = str(dest?.subset);
      if (!host || !subset) return;
      const fqdn = fqdnOf(host, ns, suffix);
      const found = drs.some((dr) => {
        const drHost = str(dr.spec?.host);
        if (!drHost || !visibleTo(dr, ns)) return false;
        if (!hostCovers(fqdnOf(drHost, dr.metadata.namespace, suffix), fqdn)) return false;
        return arr(dr.spec?.subsets).some((s) => obj(s)?.name === subset);
      });
      if (!found) report(vs, child(path, 'subset'), `Referenced host+subset in destinationrule not found: "${host}+${subset}"`);
    };
    const checkGateway = (g: unknown, path: string) => {
      if (typeof g !== 'string' || g === 'mesh' || g === '') return;
      const ref = g.includes('/') ? g : `${ns}/${g}`;
      if (!gateways.has(ref)) report(vs, path, `Referenced gateway not found: "${g}"`);
    };
    arr(spec.gateways).forEach((g, i) => checkGateway(g, child('spec.gateways', i)));
    arr(spec.http).forEach((r, i) => {
      const rp = child('spec.http', i);
      const ro = obj(r);
      if (!ro) return;
      arr(ro.route).forEach((d, j) => checkDest(obj(d)?.destination, child(child(child(rp, 'route'), j), 'destination')));
      if (ro.mirror) checkDest(ro.mirror, child(rp, 'mirror'));
      arr(ro.mirrors).forEach((m, j) => checkDest(obj(m)?.destination, child(child(child(rp, 'mirrors'), j), 'destination')));
      arr(ro.match).forEach((m, j) => arr(obj(m)?.gateways).forEach((g, k) => checkGateway(g, child(child(child(child(rp, 'match'), j), 'gateways'), k))));
    });
    for (const section of ['tcp', 'tls'] as const) {
      arr(spec[section]).forEach((r, i) => {
        const rp = child(`spec.${section}`, i);
        arr(obj(r)?.route).forEach((d, j) => checkDest(obj(d)?.destination, child(child(child(rp, 'route'), j), 'destination')));
        arr(obj(r)?.match).forEach((m, j) => arr(obj(m)?.gateways).forEach((g, k) => checkGateway(g, child(child(child(child(rp, 'match'), j), 'gateways'), k))));
      });
    }
  }
  egressProxyWarnings(configs, suffix, report);
  return out;
}

/** Istio expands a host without dots to the Kubernetes service FQDN in the resource's namespace. */
export function fqdnOf(host: string, namespace: string, domainSuffix = 'cluster.local'): string {
  if (host.includes('.') || host.startsWith('*')) return host;
  return `${host}.${namespace}.svc.${domainSuffix}`;
}

function visibleTo(c: Config, namespace: string): boolean {
  const exportTo = arr(c.spec?.exportTo).filter((x): x is string => typeof x === 'string');
  if (exportTo.length === 0 || exportTo.includes('*')) return true;
  if (exportTo.includes('.') && c.metadata.namespace === namespace) return true;
  return exportTo.includes(namespace);
}

function where(c: Config): string {
  const f = c.origin?.file ?? '(applied)';
  return c.origin?.document === undefined ? f : `${f} (document ${c.origin.document}${c.origin.item === undefined ? '' : `, item ${c.origin.item}`})`;
}

/** Kinds the cross-resource checks read: a change to any other kind cannot change a finding. */
const CROSS_KINDS = new Set(['VirtualService', 'DestinationRule', 'Gateway']);

/**
 * crossValidate for a store, kept up to date by change events instead of recomputed over the
 * whole store on every change (a one-file edit at 11,000 resources re-checked all of them).
 * Findings are about VirtualServices, and depend on every DestinationRule and Gateway: a change
 * to a DestinationRule or Gateway re-checks every VirtualService, a change to VirtualServices
 * re-checks only those, any other change re-checks nothing. The result is crossValidate's for
 * the same set, in the same order. (A store holds one config per key, so it has no duplicates.)
 */
export class CrossValidationCache {
  /** VirtualService key -> its findings. */
  #findings = new Map<string, ValidationError[]>();
  #primed = false;
  /** Configs checked by the last update (for tests: what a change re-checked). */
  lastChecked: string[] = [];

  constructor(private readonly opts: CrossOptions = {}) {}

  /**
   * The findings for `all` (the store's configs, in its order) after `events`; undefined events
   * means "anything may have changed".
   */
  update(all: readonly Config[], events?: readonly { config: Config }[]): ValidationError[] {
    let recheck: Set<string> | 'all';
    if (!this.#primed || !events) recheck = 'all';
    else {
      recheck = new Set();
      for (const e of events) {
        const kind = e.config.kind;
        if (kind === 'DestinationRule' || kind === 'Gateway') {
          recheck = 'all';
          break;
        }
        if (kind === 'VirtualService') recheck.add(configKey(e.config));
      }
    }
    this.#primed = true;
    const relevant = all.filter((c) => CROSS_KINDS.has(c.kind));
    const services = relevant.filter((c) => c.kind === 'VirtualService');
    if (recheck === 'all' || recheck.size > 0) {
      const targets = recheck === 'all' ? services : services.filter((c) => (recheck as Set<string>).has(configKey(c)));
      const others = relevant.filter((c) => c.kind !== 'VirtualService');
      const found = crossValidate([...targets, ...others], this.opts);
      if (recheck === 'all') this.#findings.clear();
      for (const c of targets) this.#findings.set(configKey(c), []);
      for (const f of found) this.#findings.get(`${f.kind}/${f.namespace}/${f.name}`)?.push(f);
      this.lastChecked = targets.map(configKey);
    } else {
      this.lastChecked = [];
    }
    // Deleted VirtualServices take their findings with them.
    const live = new Set(services.map(configKey));
    for (const k of this.#findings.keys()) if (!live.has(k)) this.#findings.delete(k);
    // Sidecar egressProxy hosts: few Sidecars, checked afresh against the registry kinds each time.
    const egress: ValidationError[] = [];
    egressProxyWarnings(all, this.opts.domainSuffix ?? 'cluster.local', (c, path, message) =>
      egress.push({ file: c.origin?.file, kind: c.kind, namespace: c.metadata.namespace, name: c.metadata.name, path, message, severity: 'warning' }));
    return [...services.flatMap((c) => this.#findings.get(configKey(c)) ?? []), ...egress];
  }
}
