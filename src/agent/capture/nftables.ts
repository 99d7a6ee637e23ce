/**
 * The nftables back end: the same rule set (iptables_rules.ts) written as native nftables, for
 * hosts without iptables (Istio 1.25+ has the same choice). One table per iptables table and
 * family, named as Istio's nftables mode names them (istio-proxy-nat, -mangle, -raw), in the `ip`
 * family for IPv4 rules and `ip6` for IPv6, so each iptables rule maps to one nft rule. Cleanup is
 * deleting those tables. Pure: the script is applied by apply.ts with `nft -f`.
 */
import { BUILTIN_CHAINS, chainsByTable, type Family, type Rule, type Table } from './iptables_rules.ts';

export const NFT_TABLE_PREFIX = 'istio-proxy-';

/** Base-chain types and priorities matching iptables' tables on each hook. */
const BASE: Record<Table, { type: (hook: string) => string; priority: number }> = {
  raw: { type: () => 'filter', priority: -300 },
  // mangle OUTPUT is a route chain: a mark set there reroutes the packet (TPROXY's marks).
  mangle: { type: (hook) => (hook === 'output' ? 'route' : 'filter'), priority: -150 },
  nat: { type: () => 'nat', priority: -100 },
  filter: { type: () => 'filter', priority: 0 },
};

export function nftFamily(family: Family): 'ip' | 'ip6' {
  return family === 'v4' ? 'ip' : 'ip6';
}

export function nftTableName(table: Table): string {
  return `${NFT_TABLE_PREFIX}${table}`;
}

/** ISTIO_OUTPUT_DNS -> istio-output-dns; PREROUTING -> prerouting (a base chain). */
export function nftChainName(chain: string): string {
  return chain.toLowerCase().replaceAll('_', '-');
}

/** The rules of each chain in their final order, with iptables' 1-based inserts applied. */
function orderedChains(rules: readonly Rule[], table: Table): Map<string, Rule[]> {
  const chains = new Map<string, Rule[]>();
  for (const r of rules) {
    if (r.table !== table) continue;
    const list = chains.get(r.chain) ?? [];
    if (r.position === undefined) list.push(r);
    else list.splice(Math.min(r.position - 1, list.length), 0, r);
    chains.set(r.chain, list);
  }
  return chains;
}

/** An `nft -f` script creating this family's tables (empty tables are not created). */
export function nftScript(rules: readonly Rule[], family: Family): string {
  const fam = nftFamily(family);
  const declared = chainsByTable(rules);
  const out: string[] = [];
  for (const table of ['raw', 'mangle', 'nat', 'filter'] as const) {
    const chains = orderedChains(rules, table);
    if (chains.size === 0) continue;
    const name = `${fam} ${nftTableName(table)}`;
    out.push(`add table ${name}`, `flush table ${name}`);
    const base = [...chains.keys()].filter((c) => BUILTIN_CHAINS.has(c));
    for (const c of base) {
      const hook = c.toLowerCase();
      out.push(`add chain ${name} ${hook} { type ${BASE[table].type(hook)} hook ${hook} priority ${BASE[table].priority} ; policy accept ; }`);
    }
    for (const c of declared.get(table) ?? []) out.push(`add chain ${name} ${nftChainName(c)}`);
    for (const [chain, list] of chains) {
      for (const r of list) out.push(`add rule ${name} ${nftChainName(chain)} ${nftRule(r.params, family)}`);
    }
  }
  return out.length ? `${out.join('\n')}\n` : '';
}

/** One iptables rule's options as an nft rule body. */
export function nftRule(params: readonly string[], family: Family): string {
  const ip = nftFamily(family);
  const parts: string[] = [];
  let neg = false;
  let proto = '';
  let module = '';
  const op = () => {
    const o = neg ? '!= ' : '';
    neg = false;
    return o;
  };
  for (let i = 0; i < params.length; i++) {
    const p = params[i]!;
    const next = () => {
      const v = params[++i];
      if (v === undefined) throw new Error(`iptables option ${p} without a value in: ${params.join(' ')}`);
      return v;
    };
    switch (p) {
      case '!':
        neg = true;
        break;
      case '-p':
        proto = next();
        parts.push(`meta l4proto ${op()}${proto}`);
        break;
      case '-o':
        parts.push(`oifname ${op()}"${next()}"`);
        break;
      case '-i':
        parts.push(`iifname ${op()}"${next()}"`);
        break;
      case '-s':
        parts.push(`${ip} saddr ${op()}${next()}`);
        break;
      case '-d':
        parts.push(`${ip} daddr ${op()}${next()}`);
        break;
      case '--dport':
      case '--sport':
        parts.push(`${proto || 'th'} ${p.slice(2)} ${op()}${next()}`);
        break;
      case '--dports':
        parts.push(`${proto || 'th'} dport ${op()}{ ${next().split(',').join(', ')} }`);
        break;
      case '-m':
        module = next();
        break;
      case '--uid-owner':
        parts.push(`meta skuid ${op()}${next()}`);
        break;
      case '--gid-owner':
        parts.push(`meta skgid ${op()}${next()}`);
        break;
      case '--ctstate':
        parts.push(`ct state ${op()}${next().toLowerCase()}`);
        break;
      case '--mark':
        parts.push(`${module === 'connmark' ? 'ct mark' : 'meta mark'} ${op()}${next()}`);
        break;
      case '-j':
        parts.push(target(params.slice(i + 1), params));
        i = params.length;
        break;
      default:
        throw new Error(`no nftables translation for iptables option ${p} in: ${params.join(' ')}`);
    }
  }
  return parts.join(' ');
}

function target(t: readonly string[], rule: readonly string[]): string {
  const [name, ...opts] = t;
  const opt = (flag: string) => {
    const i = opts.indexOf(flag);
    return i >= 0 ? opts[i + 1] : undefined;
  };
  switch (name) {
    case 'RETURN':
      return 'return';
    case 'ACCEPT':
      return 'accept';
    case 'DROP':
      return 'drop';
    case 'REDIRECT':
      return `redirect to :${opt('--to-ports') ?? opt('--to-port')}`;
    case 'TPROXY': {
      const mark = (opt('--tproxy-mark') ?? '').split('/')[0];
      return `tproxy to :${opt('--on-port')} meta mark set ${mark} accept`;
    }
    case 'MARK':
      return `meta mark set ${opt('--set-mark')}`;
    case 'CONNMARK':
      if (opts.includes('--save-mark')) return 'ct mark set meta mark';
      if (opts.includes('--restore-mark')) return 'meta mark set ct mark';
      break;
    case 'CT':
      return `ct zone set ${opt('--zone')}`;
    default:
      if (name?.startsWith('ISTIO_')) return `jump ${nftChainName(name)}`;
  }
  throw new Error(`no nftables translation for target ${t.join(' ')} in: ${rule.join(' ')}`);
}
