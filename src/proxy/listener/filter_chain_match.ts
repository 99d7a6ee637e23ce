/**
 * Filter chain selection exactly in Envoy's order: destination_port, prefix_ranges (destination
 * IP), server_names (exact, then the longest *.suffix wildcard), transport_protocol,
 * application_protocols, direct_source_prefix_ranges, source_type, source_prefix_ranges,
 * source_ports. At each step the most specific criterion that matches wins and chains without
 * that criterion are the fallback; only a destination port match falls back to port-less
 * chains when nothing below it matches (as Envoy's port map does). No match: the
 * default_filter_chain, else the connection is closed. Compiled once per listener config.
 */
import type { EnvoyJson } from '../../xds/types.ts';
import { cidrContains, ipBits, isLocalSource, parseCidr, type Cidr } from './cidr.ts';

export interface MatchInput {
  destinationIp: string;
  destinationPort: number;
  sourceIp: string;
  sourcePort: number;
  serverName?: string;
  transportProtocol?: string;
  applicationProtocols?: string[];
}

interface Compiled<T> {
  value: T;
  port?: number;
  prefixes: Cidr[];
  serverNames: string[];
  transport?: string;
  alpn: string[];
  directSource: Cidr[];
  sourceType: string;
  sources: Cidr[];
  sourcePorts: number[];
}

type Ip = { v6: boolean; bits: bigint } | undefined;

/** Score of a candidate at one step: -1 no match, 0 criterion absent, >0 more specific. */
type Scorer<T> = (c: Compiled<T>) => number;

function cidrScore(list: Cidr[], ip: Ip): number {
  if (list.length === 0) return 0;
  let best = -1;
  for (const c of list) if (cidrContains(c, ip) && c.len + 1 > best) best = c.len + 1;
  return best;
}

function serverNameScore(names: string[], sni: string | undefined): number {
  if (names.length === 0) return 0;
  if (!sni) return -1;
  const s = sni.toLowerCase();
  let best = -1;
  for (const n of names) {
    const name = n.toLowerCase();
    if (name === s) return 100000;
    if (name.startsWith('*.') && s.endsWith(name.slice(1)) && name.length > best) best = name.length;
  }
  return best;
}

function keepBest<T>(cands: Compiled<T>[], score: Scorer<T>): Compiled<T>[] {
  let best = -1;
  const scores = cands.map(score);
  for (const s of scores) if (s > best) best = s;
  if (best < 0) return [];
  return cands.filter((_, i) => scores[i] === best);
}

export class FilterChainMatcher<T> {
  private readonly chains: Compiled<T>[];

  /** `chains` pairs each FilterChainMatch (may be undefined) with what to return. Throws on bad CIDRs. */
  constructor(chains: { match?: EnvoyJson; value: T }[], private readonly defaultChain?: T) {
    this.chains = chains.map(({ match: m = {}, value }, i) => {
      const p = `filter_chains[${i}].filter_chain_match`;
      return {
        value,
        port: m.destination_port !== undefined && Number(m.destination_port) > 0 ? Number(m.destination_port) : undefined,
        prefixes: (m.prefix_ranges ?? []).map((r: EnvoyJson, j: number) => parseCidr(r, `${p}.prefix_ranges[${j}]`)),
        serverNames: m.server_names ?? [],
        transport: m.transport_protocol || undefined,
        alpn: m.application_protocols ?? [],
        directSource: (m.direct_source_prefix_ranges ?? []).map((r: EnvoyJson, j: number) => parseCidr(r, `${p}.direct_source_prefix_ranges[${j}]`)),
        sourceType: m.source_type ?? 'ANY',
        sources: (m.source_prefix_ranges ?? []).map((r: EnvoyJson, j: number) => parseCidr(r, `${p}.source_prefix_ranges[${j}]`)),
        sourcePorts: (m.source_ports ?? []).map(Number),
      };
    });
  }

  /** True when some chain needs SNI/ALPN/transport (the listener then wants tls_inspector data). */
  needsTlsInspection(): boolean {
    return this.chains.some((c) => c.serverNames.length > 0 || c.transport === 'tls' || c.alpn.length > 0);
  }

  select(input: MatchInput): T | undefined {
    const byPort = this.chains.filter((c) => c.port === input.destinationPort);
    const found = (byPort.length ? this.rest(byPort, input) : undefined) ?? this.rest(this.chains.filter((c) => c.port === undefined), input);
    return found ?? this.defaultChain;
  }

  private rest(cands: Compiled<T>[], input: MatchInput): T | undefined {
    const dst = ipBits(input.destinationIp);
    const src = ipBits(input.sourceIp);
    const local = isLocalSource(input.sourceIp, input.destinationIp);
    const alpn = input.applicationProtocols ?? [];
    const steps: Scorer<T>[] = [
      (c) => cidrScore(c.prefixes, dst),
      (c) => serverNameScore(c.serverNames, input.serverName),
      (c) => (c.transport === undefined ? 0 : c.transport === (input.transportProtocol ?? 'raw_buffer') ? 1 : -1),
      (c) => (c.alpn.length === 0 ? 0 : c.alpn.some((a) => alpn.includes(a)) ? 1 : -1),
      (c) => cidrScore(c.directSource, src),
      (c) => (c.sourceType === 'ANY' ? 0 : (c.sourceType === 'SAME_IP_OR_LOOPBACK') === local ? 1 : -1),
      (c) => cidrScore(c.sources, src),
      (c) => (c.sourcePorts.length === 0 ? 0 : c.sourcePorts.includes(input.sourcePort) ? 1 : -1),
    ];
    let left = cands;
    for (const step of steps) {
      if (left.length === 0) return undefined;
      left = keepBest(left, step);
    }
    // Identical matches are rejected at config time, so at most one is left.
    return left[0]?.value;
  }
}
