/**
 * The rule set istio-iptables writes, built from CaptureOptions: the same chains (ISTIO_INBOUND,
 * ISTIO_REDIRECT, ISTIO_IN_REDIRECT, ISTIO_OUTPUT, ISTIO_OUTPUT_DNS, ISTIO_DIVERT, ISTIO_TPROXY,
 * ISTIO_DROP), the same rules in the same order, so `tsmesh init --dry-run` reads rule for rule
 * like Istio's golden files. Rules are kept as iptables arguments (one model); the nftables back
 * end translates them (nftables.ts). Pure: no processes here.
 */
import { isIPv4, isIPv6 } from 'node:net';
import { AGENT_DNS_PORT, OUTBOUND_MARK, splitList, type CaptureOptions } from './options.ts';

export type Table = 'filter' | 'mangle' | 'nat' | 'raw';
export type Family = 'v4' | 'v6';

/** One rule: `-A chain params...` or `-I chain position params...` in a table. */
export interface Rule {
  table: Table;
  chain: string;
  /** Set for an insert (`-I chain position`); appends otherwise. 1-based as in iptables. */
  position?: number;
  params: string[];
}

export interface CaptureRules {
  v4: Rule[];
  /** Empty unless enableIPv6. */
  v6: Rule[];
  /** Inputs Istio ignores with a message (a CIDR that does not parse), as sentences. */
  warnings: string[];
}

export const BUILTIN_CHAINS = new Set(['INPUT', 'OUTPUT', 'FORWARD', 'PREROUTING', 'POSTROUTING']);

interface NetworkRange {
  wildcard: boolean;
  cidrs: string[];
  hasLoopback: boolean;
}

/** Splits a CIDR list into IPv4 and IPv6 ranges ("*" = both wildcards), as Istio does. */
function separateV4V6(list: string, warnings: string[]): [NetworkRange, NetworkRange] {
  if (list.trim() === '*') return [{ wildcard: true, cidrs: [], hasLoopback: false }, { wildcard: true, cidrs: [], hasLoopback: false }];
  const v4: NetworkRange = { wildcard: false, cidrs: [], hasLoopback: false };
  const v6: NetworkRange = { wildcard: false, cidrs: [], hasLoopback: false };
  for (const item of splitList(list)) {
    const slash = item.indexOf('/');
    const addr = slash > 0 ? item.slice(0, slash) : '';
    const bits = slash > 0 ? Number(item.slice(slash + 1)) : NaN;
    if (isIPv4(addr) && Number.isInteger(bits) && bits >= 0 && bits <= 32) {
      v4.cidrs.push(item);
      if (addr.startsWith('127.')) v4.hasLoopback = true;
    } else if (isIPv6(addr) && Number.isInteger(bits) && bits >= 0 && bits <= 128) {
      v6.cidrs.push(item);
      if (addr === '::1') v6.hasLoopback = true;
    } else {
      // Istio skips a range it cannot parse (bug compatibility with istio-iptables.sh).
      warnings.push(`ignoring ${JSON.stringify(item)}: not an IP range in CIDR form`);
    }
  }
  return [v4, v6];
}

class Builder {
  readonly v4: Rule[] = [];
  readonly v6: Rule[] = [];
  constructor(private readonly ipv6: boolean) {}
  appendV4(table: Table, chain: string, ...params: string[]): void {
    this.v4.push({ table, chain, params });
  }
  appendV6(table: Table, chain: string, ...params: string[]): void {
    if (this.ipv6) this.v6.push({ table, chain, params });
  }
  append(table: Table, chain: string, ...params: string[]): void {
    this.appendV4(table, chain, ...params);
    this.appendV6(table, chain, ...params);
  }
  /** A dual-stack rule whose one address differs per family (`IP` in params is replaced). */
  appendVersioned(v4: string, v6: string, table: Table, chain: string, ...params: string[]): void {
    this.appendV4(table, chain, ...params.map((p) => (p === IP ? v4 : p)));
    this.appendV6(table, chain, ...params.map((p) => (p === IP ? v6 : p)));
  }
  insertV4(table: Table, chain: string, position: number, ...params: string[]): void {
    this.v4.push({ table, chain, position, params });
  }
  insertV6(table: Table, chain: string, position: number, ...params: string[]): void {
    if (this.ipv6) this.v6.push({ table, chain, position, params });
  }
  insert(table: Table, chain: string, position: number, ...params: string[]): void {
    this.insertV4(table, chain, position, ...params);
    this.insertV6(table, chain, position, ...params);
  }
}

/** Placeholder for the per-family address in appendVersioned. */
const IP = '\0ip';

/** The rules for these options (both families when enableIPv6). */
export function buildCaptureRules(o: CaptureOptions): CaptureRules {
  const warnings: string[] = [];
  const b = new Builder(o.enableIPv6);
  const [v4Exclude, v6Exclude] = separateV4V6(o.outboundIPRangesExclude, warnings);
  const [v4Include, v6Include] = separateV4V6(o.outboundIPRangesInclude, warnings);
  const tproxy = o.inboundInterceptionMode === 'TPROXY';
  const loopback = o.hostIPv4LoopbackCidr;
  const uids = splitList(o.proxyUID);
  const gids = splitList(o.proxyGID);

  // DNS capture needs somewhere to capture: all of port 53, or the resolv.conf servers.
  const redirectDNS = o.redirectDNS && (o.captureAllDNS || o.dnsServersV4.length > 0 || o.dnsServersV6.length > 0);

  // Interfaces left alone entirely, then the virtual (kube) interfaces whose inbound is not captured.
  for (const nic of splitList(o.excludeInterfaces)) {
    b.append('nat', 'PREROUTING', '-i', nic, '-j', 'RETURN');
    b.append('nat', 'OUTPUT', '-o', nic, '-j', 'RETURN');
  }
  if (tproxy) {
    for (const nic of splitList(o.excludeInterfaces)) {
      b.append('mangle', 'PREROUTING', '-i', nic, '-j', 'RETURN');
      b.append('mangle', 'OUTPUT', '-o', nic, '-j', 'RETURN');
    }
  }
  for (const nic of splitList(o.rerouteVirtualInterfaces)) b.insert('nat', 'PREROUTING', 1, '-i', nic, '-j', 'RETURN');

  // Out-of-window packets dropped rather than answered with a reset.
  if (o.dropInvalid) {
    b.append('mangle', 'PREROUTING', '-m', 'conntrack', '--ctstate', 'INVALID', '-j', 'ISTIO_DROP');
    b.append('mangle', 'ISTIO_DROP', '-j', 'DROP');
  }

  b.append('nat', 'ISTIO_INBOUND', '-p', 'tcp', '--dport', o.inboundTunnelPort, '-j', 'RETURN');
  b.append('nat', 'ISTIO_REDIRECT', '-p', 'tcp', '-j', 'REDIRECT', '--to-ports', o.proxyPort);
  b.append('nat', 'ISTIO_IN_REDIRECT', '-p', 'tcp', '-j', 'REDIRECT', '--to-ports', o.inboundCapturePort);

  inboundRules(b, o, tproxy, loopback);

  b.append('nat', 'OUTPUT', '-j', 'ISTIO_OUTPUT');
  // Port exclusions come before the app-to-itself redirection.
  for (const port of splitList(o.outboundPortsExclude)) {
    b.append('nat', 'ISTIO_OUTPUT', '-p', 'tcp', '--dport', port, '-j', 'RETURN');
    b.append('nat', 'ISTIO_OUTPUT', '-p', 'udp', '--dport', port, '-j', 'RETURN');
  }
  // 127.0.0.6 / ::6 is the inbound passthrough's source: the proxy talking to the local app.
  b.appendVersioned('127.0.0.6/32', '::6/128', 'nat', 'ISTIO_OUTPUT', '-o', 'lo', '-s', IP, '-j', 'RETURN');

  const loopbackIncluded = v4Include.hasLoopback || v6Include.hasLoopback;
  for (const [flag, ids] of [['--uid-owner', uids], ['--gid-owner', gids]] as const) {
    for (const id of ids) {
      // The proxy calling this pod's own address over lo (app -> VIP -> proxy -> proxy -> app):
      // send it to the inbound side. DNS (uids only, as Istio) stays with the agent.
      const ports = redirectDNS && flag === '--uid-owner' ? ['-m', 'multiport', '!', '--dports', `53,${o.inboundTunnelPort}`] : ['!', '--dport', o.inboundTunnelPort];
      b.appendVersioned(loopback, '::1/128', 'nat', 'ISTIO_OUTPUT', '-o', 'lo', '!', '-d', IP, '-p', 'tcp', ...ports, '-m', 'owner', flag, id, '-j', 'ISTIO_IN_REDIRECT');
      // The app calling itself over lo is not captured, unless a loopback range was asked for.
      if (!loopbackIncluded) {
        if (redirectDNS) b.append('nat', 'ISTIO_OUTPUT', '-o', 'lo', '-p', 'tcp', '!', '--dport', '53', '-m', 'owner', '!', flag, id, '-j', 'RETURN');
        else b.append('nat', 'ISTIO_OUTPUT', '-o', 'lo', '-m', 'owner', '!', flag, id, '-j', 'RETURN');
      }
      // The proxy's own traffic is never captured (no loop), whatever the protocol.
      b.append('nat', 'ISTIO_OUTPUT', '-m', 'owner', flag, id, '-j', 'RETURN');
    }
  }

  ownerGroupRules(b, o);
  if (redirectDNS) dnsRules(b, o, uids, gids);

  // Applications that use localhost on purpose (Envoy-aware apps, container to container).
  b.appendVersioned(loopback, '::1/128', 'nat', 'ISTIO_OUTPUT', '-d', IP, '-j', 'RETURN');
  for (const cidr of v4Exclude.cidrs) b.appendV4('nat', 'ISTIO_OUTPUT', '-d', cidr, '-j', 'RETURN');
  for (const cidr of v6Exclude.cidrs) b.appendV6('nat', 'ISTIO_OUTPUT', '-d', cidr, '-j', 'RETURN');
  for (const port of splitList(o.outboundPortsInclude)) b.append('nat', 'ISTIO_OUTPUT', '-p', 'tcp', '--dport', port, '-j', 'ISTIO_REDIRECT');
  outboundIncludeRules(v4Include, o, (...p) => b.appendV4('nat', 'ISTIO_OUTPUT', ...p), (...p) => b.insertV4('nat', 'PREROUTING', 1, ...p));
  outboundIncludeRules(v6Include, o, (...p) => b.appendV6('nat', 'ISTIO_OUTPUT', ...p), (...p) => b.insertV6('nat', 'PREROUTING', 1, ...p));

  if (tproxy) tproxyMarkRules(b, o, uids, gids, loopback);
  return { v4: b.v4, v6: b.v6, warnings };
}

function inboundRules(b: Builder, o: CaptureOptions, tproxy: boolean, loopback: string): void {
  if (o.inboundPortsInclude === '') return;
  const table: Table = tproxy ? 'mangle' : 'nat';
  if (tproxy) {
    // Inbound packets are marked so policy routing delivers them to lo, where TPROXY hands them
    // to the proxy's 15006 with the original destination (and source) intact.
    b.append('mangle', 'ISTIO_DIVERT', '-j', 'MARK', '--set-mark', o.inboundTProxyMark);
    b.append('mangle', 'ISTIO_DIVERT', '-j', 'ACCEPT');
    b.appendVersioned(loopback, '::1/128', 'mangle', 'ISTIO_TPROXY', '!', '-d', IP, '-p', 'tcp', '-j', 'TPROXY', '--tproxy-mark', `${o.inboundTProxyMark}/0xffffffff`, '--on-port', o.inboundCapturePort);
  }
  b.append(table, 'PREROUTING', '-p', 'tcp', '-j', 'ISTIO_INBOUND');
  if (o.inboundPortsInclude.trim() === '*') {
    for (const port of splitList(o.inboundPortsExclude)) b.append(table, 'ISTIO_INBOUND', '-p', 'tcp', '--dport', port, '-j', 'RETURN');
    if (tproxy) {
      b.append('mangle', 'ISTIO_INBOUND', '-p', 'tcp', '-m', 'conntrack', '--ctstate', 'RELATED,ESTABLISHED', '-j', 'ISTIO_DIVERT');
      b.append('mangle', 'ISTIO_INBOUND', '-p', 'tcp', '-j', 'ISTIO_TPROXY');
    } else {
      b.append('nat', 'ISTIO_INBOUND', '-p', 'tcp', '-j', 'ISTIO_IN_REDIRECT');
    }
    return;
  }
  for (const port of splitList(o.inboundPortsInclude)) {
    if (tproxy) {
      b.append('mangle', 'ISTIO_INBOUND', '-p', 'tcp', '--dport', port, '-m', 'conntrack', '--ctstate', 'RELATED,ESTABLISHED', '-j', 'ISTIO_DIVERT');
      b.append('mangle', 'ISTIO_INBOUND', '-p', 'tcp', '--dport', port, '-j', 'ISTIO_TPROXY');
    } else {
      b.append('nat', 'ISTIO_INBOUND', '-p', 'tcp', '--dport', port, '-j', 'ISTIO_IN_REDIRECT');
    }
  }
}

/** Capture by owner group: only these groups (include) or all but these (exclude). */
function ownerGroupRules(b: Builder, o: CaptureOptions): void {
  const include = o.ownerGroupsInclude.trim();
  const exclude = splitList(o.ownerGroupsExclude);
  if (include !== '' && include !== '*') {
    const matchers = splitList(include).flatMap((g) => ['-m', 'owner', '!', '--gid-owner', g]);
    b.append('nat', 'ISTIO_OUTPUT', ...matchers, '-j', 'RETURN');
    return;
  }
  for (const g of exclude) b.append('nat', 'ISTIO_OUTPUT', '-m', 'owner', '--gid-owner', g, '-j', 'RETURN');
}

/** DNS to the agent's 15053, and UDP DNS split into two conntrack zones (app<->agent, agent<->server). */
function dnsRules(b: Builder, o: CaptureOptions, uids: string[], gids: string[]): void {
  b.append('raw', 'OUTPUT', '-j', 'ISTIO_OUTPUT_DNS');
  if (o.captureAllDNS || o.dnsServersV4.length > 0) b.appendV4('nat', 'ISTIO_OUTPUT', '-j', 'ISTIO_OUTPUT_DNS');
  if (o.captureAllDNS || o.dnsServersV6.length > 0) b.appendV6('nat', 'ISTIO_OUTPUT', '-j', 'ISTIO_OUTPUT_DNS');
  for (const proto of ['tcp', 'udp'] as const) {
    // Istio spells the UDP target's flag --to-port (iptables accepts both).
    const to = proto === 'tcp' ? '--to-ports' : '--to-port';
    if (o.captureAllDNS) {
      b.append('nat', 'ISTIO_OUTPUT_DNS', '-p', proto, '--dport', '53', '-j', 'REDIRECT', to, AGENT_DNS_PORT);
      continue;
    }
    for (const s of o.dnsServersV4) b.appendV4('nat', 'ISTIO_OUTPUT_DNS', '-p', proto, '--dport', '53', '-d', `${s}/32`, '-j', 'REDIRECT', to, AGENT_DNS_PORT);
    for (const s of o.dnsServersV6) b.appendV6('nat', 'ISTIO_OUTPUT_DNS', '-p', proto, '--dport', '53', '-d', `${s}/128`, '-j', 'REDIRECT', to, AGENT_DNS_PORT);
  }
  for (const [flag, ids] of [['--uid-owner', uids], ['--gid-owner', gids]] as const) {
    for (const id of ids) {
      b.append('raw', 'ISTIO_OUTPUT_DNS', '-p', 'udp', '--dport', '53', '-m', 'owner', flag, id, '-j', 'CT', '--zone', '1');
      b.append('raw', 'ISTIO_OUTPUT_DNS', '-p', 'udp', '--sport', AGENT_DNS_PORT, '-m', 'owner', flag, id, '-j', 'CT', '--zone', '2');
    }
  }
  if (o.captureAllDNS) {
    b.append('raw', 'PREROUTING', '-j', 'ISTIO_INBOUND');
    b.append('raw', 'ISTIO_OUTPUT_DNS', '-p', 'udp', '--dport', '53', '-j', 'CT', '--zone', '2');
    b.append('raw', 'ISTIO_INBOUND', '-p', 'udp', '--sport', '53', '-j', 'CT', '--zone', '1');
    return;
  }
  if (o.dnsServersV4.length > 0) b.appendV4('raw', 'PREROUTING', '-j', 'ISTIO_INBOUND');
  for (const s of o.dnsServersV4) {
    b.appendV4('raw', 'ISTIO_OUTPUT_DNS', '-p', 'udp', '--dport', '53', '-d', `${s}/32`, '-j', 'CT', '--zone', '2');
    b.appendV4('raw', 'ISTIO_INBOUND', '-p', 'udp', '--sport', '53', '-s', `${s}/32`, '-j', 'CT', '--zone', '1');
  }
  if (o.dnsServersV6.length > 0) b.appendV6('raw', 'PREROUTING', '-j', 'ISTIO_INBOUND');
  for (const s of o.dnsServersV6) {
    b.appendV6('raw', 'ISTIO_OUTPUT_DNS', '-p', 'udp', '--dport', '53', '-d', `${s}/128`, '-j', 'CT', '--zone', '2');
    b.appendV6('raw', 'ISTIO_INBOUND', '-p', 'udp', '--sport', '53', '-s', `${s}/128`, '-j', 'CT', '--zone', '1');
  }
}

function outboundIncludeRules(range: NetworkRange, o: CaptureOptions, append: (...p: string[]) => void, insertPrerouting: (...p: string[]) => void): void {
  const nics = splitList(o.rerouteVirtualInterfaces);
  if (range.wildcard) {
    append('-j', 'ISTIO_REDIRECT');
    for (const nic of nics) insertPrerouting('-i', nic, '-j', 'ISTIO_REDIRECT');
    return;
  }
  for (const cidr of range.cidrs) {
    for (const nic of nics) insertPrerouting('-i', nic, '-d', cidr, '-j', 'ISTIO_REDIRECT');
    append('-d', cidr, '-j', 'ISTIO_REDIRECT');
  }
}

/** TPROXY's marks: keep the proxy's own inbound delivery and the app's replies out of the loop. */
function tproxyMarkRules(b: Builder, o: CaptureOptions, uids: string[], gids: string[], loopback: string): void {
  const mark = o.inboundTProxyMark;
  b.append('mangle', 'PREROUTING', '-p', 'tcp', '-m', 'mark', '--mark', mark, '-j', 'CONNMARK', '--save-mark');
  b.append('mangle', 'OUTPUT', '-p', 'tcp', '-o', 'lo', '-m', 'mark', '--mark', mark, '-j', 'RETURN');
  for (const [flag, ids] of [['--uid-owner', uids], ['--gid-owner', gids]] as const) {
    for (const id of ids) {
      b.appendVersioned(loopback, '::1/128', 'mangle', 'OUTPUT', '!', '-d', IP, '-p', 'tcp', '-o', 'lo', '-m', 'owner', flag, id, '-j', 'MARK', '--set-mark', OUTBOUND_MARK);
    }
  }
  b.append('mangle', 'OUTPUT', '-p', 'tcp', '-m', 'connmark', '--mark', mark, '-j', 'CONNMARK', '--restore-mark');
  b.insert('mangle', 'ISTIO_INBOUND', 1, '-p', 'tcp', '-m', 'mark', '--mark', mark, '-j', 'RETURN');
  b.insertV4('mangle', 'ISTIO_INBOUND', 2, '-p', 'tcp', '-s', '127.0.0.6/32', '-i', 'lo', '-j', 'RETURN');
  b.insertV6('mangle', 'ISTIO_INBOUND', 2, '-p', 'tcp', '-s', '::6/128', '-i', 'lo', '-j', 'RETURN');
  b.insert('mangle', 'ISTIO_INBOUND', 3, '-p', 'tcp', '-i', 'lo', '-m', 'mark', '!', '--mark', OUTBOUND_MARK, '-j', 'RETURN');
}

/** The target chain of a rule's `-j`, when it is the last option pair. */
export function jumpTarget(r: Rule): string | undefined {
  const p = r.params;
  return p.length >= 2 && p[p.length - 2] === '-j' ? p[p.length - 1] : undefined;
}

/** The rule as an iptables-restore line. */
export function ruleLine(r: Rule): string {
  const head = r.position === undefined ? ['-A', r.chain] : ['-I', r.chain, String(r.position)];
  return [...head, ...r.params].join(' ');
}

/** The ISTIO_* chains of each table, in the order istio-iptables declares them. */
export function chainsByTable(rules: readonly Rule[]): Map<Table, string[]> {
  const out = new Map<Table, string[]>();
  const seen = new Set<string>();
  const add = (table: Table, chain: string) => {
    const key = `${table}:${chain}`;
    if (seen.has(key) || BUILTIN_CHAINS.has(chain)) return;
    seen.add(key);
    out.set(table, [...(out.get(table) ?? []), chain]);
  };
  // Chains with rules first, then chains only jumped to; the ISTIO_ test keeps targets like
  // RETURN/REDIRECT out.
  for (const r of rules) add(r.table, r.chain);
  for (const r of rules) {
    const t = jumpTarget(r);
    if (t?.startsWith('ISTIO_')) add(r.table, t);
  }
  return out;
}

/** An iptables-restore input (tables sorted by name, as istio-iptables writes them). */
export function iptablesRestoreLines(rules: readonly Rule[]): string[] {
  const chains = chainsByTable(rules);
  const lines: string[] = [];
  for (const table of ['filter', 'mangle', 'nat', 'raw'] as const) {
    const own = rules.filter((r) => r.table === table);
    if (own.length === 0) continue;
    lines.push(`* ${table}`);
    for (const c of chains.get(table) ?? []) lines.push(`-N ${c}`);
    for (const r of own) lines.push(ruleLine(r));
    lines.push('COMMIT');
  }
  return lines;
}

/**
 * What istio-iptables' golden files record for a run: the state probes (iptables-save,
 * ip6tables-save), the restore inputs, and the final state dumps.
 */
export function istioGoldenTranscript(rules: CaptureRules, enableIPv6: boolean): string[] {
  return [
    'iptables-save',
    'ip6tables-save',
    ...iptablesRestoreLines(rules.v4),
    ...(enableIPv6 ? iptablesRestoreLines(rules.v6) : []),
    'iptables-save',
    ...(enableIPv6 ? ['ip6tables-save'] : []),
  ];
}
