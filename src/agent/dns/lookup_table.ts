/**
 * The agent's DNS lookup table built from a NameTable (Istio's pkg/dns/client LookupTable): every
 * hostname answers with its addresses, and so do the names a client in the proxy's namespace may
 * type for a Kubernetes service in the proxy's cluster domain:
 *   `name.ns.svc.cluster.local`, `name.ns`, `name.ns.svc`, and `name` in the proxy's own namespace.
 * Each of those, followed by the first search domain, answers with a CNAME to it: resolvers try
 * search domains first (ndots:5), and this ends that walk on its first step.
 */
import { isIP } from 'node:net';
import { normalize } from './resolv_conf.ts';

/** NameTable.NameInfo as it arrives (JSON form). */
export interface NameInfo {
  ips?: string[];
  registry?: string;
  shortname?: string;
  namespace?: string;
}

export interface NameTableJson {
  table?: Record<string, NameInfo>;
}

/** One name's answers; `cname` points at the name holding the addresses. */
export interface Entry {
  v4: string[];
  v6: string[];
  cname?: string;
}

export interface LookupContext {
  /** The proxy's namespace (short names resolve there). */
  namespace: string;
  /** The cluster's service domain, `svc.cluster.local`. */
  domain: string;
  /** resolv.conf search domains. */
  search: string[];
}

export class LookupTable {
  readonly #names = new Map<string, Entry>();

  constructor(nameTable: NameTableJson, ctx: LookupContext) {
    const domain = normalize(ctx.domain);
    const svcLabel = domain.split('.')[0] ?? 'svc';
    const search0 = ctx.search[0] ? normalize(ctx.search[0]) : undefined;
    const hosts = Object.keys(nameTable.table ?? {}).sort();
    const expanded: Array<[string, string]> = [];
    for (const host of hosts) {
      const info = nameTable.table![host]!;
      const v4 = (info.ips ?? []).filter((ip) => isIP(ip) === 4);
      const v6 = (info.ips ?? []).filter((ip) => isIP(ip) === 6);
      if (v4.length + v6.length === 0) continue;
      const fqdn = normalize(host);
      const alt = [fqdn];
      // Short forms only for services in the proxy's own cluster domain: across domains
      // `name.ns` would be ambiguous.
      if (info.shortname && info.namespace && domain && fqdn.endsWith(`.${domain}`)) {
        const sn = normalize(info.shortname);
        const ns = normalize(info.namespace);
        alt.push(`${sn}.${ns}`, `${sn}.${ns}.${svcLabel}`);
        if (ns === normalize(ctx.namespace)) alt.push(sn);
      }
      for (const name of alt) {
        if (!this.#names.has(name)) this.#names.set(name, { v4, v6 });
        if (search0) expanded.push([`${name}.${search0}`, name]);
      }
    }
    // After every real name: an expansion never shadows a name of its own.
    for (const [name, target] of expanded) {
      if (!this.#names.has(name)) this.#names.set(name, { ...this.#names.get(target)!, cname: target });
    }
  }

  get size(): number {
    return this.#names.size;
  }

  /** The entry for a queried name (any case, with or without the trailing dot). */
  lookup(name: string): Entry | undefined {
    return this.#names.get(normalize(name));
  }
}
