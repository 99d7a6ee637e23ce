/**
 * The capture options: what istio-iptables takes as flags (and the sidecar injector derives from
 * a pod's annotations), named after Istio's config fields. Strings stay strings where Istio keeps
 * them as comma lists ("3,4" UIDs, "*" wildcards) so the rules read the same as Istio's.
 */
import { isIP } from 'node:net';

export type InterceptionMode = 'REDIRECT' | 'TPROXY';

export interface CaptureOptions {
  /** -p/--envoy-port: where outbound TCP is redirected (the proxy's virtualOutbound). */
  proxyPort: string;
  /** -z/--inbound-capture-port: where inbound TCP is redirected (virtualInbound). */
  inboundCapturePort: string;
  /** -e/--inbound-tunnel-port: the HBONE port, never captured. */
  inboundTunnelPort: string;
  /** -u/--proxy-uid: comma list of UIDs whose traffic is never captured (the proxy's). */
  proxyUID: string;
  /** -g/--proxy-gid: comma list of GIDs whose traffic is never captured. */
  proxyGID: string;
  /** -m/--istio-inbound-interception-mode. */
  inboundInterceptionMode: InterceptionMode;
  /** -t/--istio-inbound-tproxy-mark. */
  inboundTProxyMark: string;
  /** -r/--istio-inbound-tproxy-route-table. */
  inboundTProxyRouteTable: string;
  /** -b/--istio-inbound-ports: "*" = all, "" = none, else a comma list. */
  inboundPortsInclude: string;
  /** -d/--istio-local-exclude-ports: inbound ports left alone when inboundPortsInclude is "*". */
  inboundPortsExclude: string;
  /** -q/--istio-local-outbound-ports: outbound ports always captured. */
  outboundPortsInclude: string;
  /** -o/--istio-local-outbound-ports-exclude. */
  outboundPortsExclude: string;
  /** -i/--istio-service-cidr: outbound ranges captured ("*" = all). */
  outboundIPRangesInclude: string;
  /** -x/--istio-service-exclude-cidr. */
  outboundIPRangesExclude: string;
  /** -k/--kube-virt-interfaces. */
  rerouteVirtualInterfaces: string;
  /** -c/--istio-exclude-interfaces. */
  excludeInterfaces: string;
  /** --redirect-dns: DNS to the agent's 15053 (ISTIO_META_DNS_CAPTURE). */
  redirectDNS: boolean;
  /** --capture-all-dns: every port-53 destination, not just the resolv.conf servers. */
  captureAllDNS: boolean;
  /** DNS servers whose traffic is redirected (from resolv.conf unless given). */
  dnsServersV4: string[];
  dnsServersV6: string[];
  /** --drop-invalid (INVALID_DROP). */
  dropInvalid: boolean;
  /** Rules for ip6tables too (Istio enables it when the pod has an IPv6 address). */
  enableIPv6: boolean;
  /** Owner groups whose outbound traffic is captured ("*" = all) / not captured. */
  ownerGroupsInclude: string;
  ownerGroupsExclude: string;
  /** The loopback range the proxy treats as "localhost" (HOST_IPV4_LOOPBACK_CIDR). */
  hostIPv4LoopbackCidr: string;
}

/** The agent's DNS listener port (Istio's IstioAgentDNSListenerPort). */
export const AGENT_DNS_PORT = '15053';
/** The mark the proxy's outbound-to-inbound traffic gets in TPROXY mode (Istio's OutboundMark). */
export const OUTBOUND_MARK = '1338';

/** istio-iptables' defaults (and the values an injected istio-init passes). */
export function defaultCaptureOptions(): CaptureOptions {
  return {
    proxyPort: '15001',
    inboundCapturePort: '15006',
    inboundTunnelPort: '15008',
    proxyUID: '1337',
    proxyGID: '1337',
    inboundInterceptionMode: 'REDIRECT',
    inboundTProxyMark: '1337',
    inboundTProxyRouteTable: '133',
    inboundPortsInclude: '',
    inboundPortsExclude: '',
    outboundPortsInclude: '',
    outboundPortsExclude: '',
    outboundIPRangesInclude: '',
    outboundIPRangesExclude: '',
    rerouteVirtualInterfaces: '',
    excludeInterfaces: '',
    redirectDNS: false,
    captureAllDNS: false,
    dnsServersV4: [],
    dnsServersV6: [],
    dropInvalid: false,
    enableIPv6: false,
    ownerGroupsInclude: '*',
    ownerGroupsExclude: '',
    hostIPv4LoopbackCidr: '127.0.0.1/32',
  };
}

export function captureOptions(partial: Partial<CaptureOptions> = {}): CaptureOptions {
  const o = { ...defaultCaptureOptions() };
  for (const [k, v] of Object.entries(partial)) if (v !== undefined) (o as unknown as Record<string, unknown>)[k] = v;
  return o;
}

/** Istio's split: empty string = no items; empty items (a trailing comma) are dropped. */
export function splitList(s: string): string[] {
  return s
    .split(',')
    .map((x) => x.trim())
    .filter((x) => x !== '');
}

/** Problems with options, as sentences (empty = valid). */
export function validateCaptureOptions(o: CaptureOptions): string[] {
  const errors: string[] = [];
  const port = (v: string, what: string) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1 || n > 65535) errors.push(`${what} must be a port number (1-65535), got ${JSON.stringify(v)}`);
  };
  port(o.proxyPort, '--envoy-port');
  port(o.inboundCapturePort, '--inbound-capture-port');
  port(o.inboundTunnelPort, '--inbound-tunnel-port');
  if (o.inboundInterceptionMode !== 'REDIRECT' && o.inboundInterceptionMode !== 'TPROXY') {
    errors.push(`--istio-inbound-interception-mode must be REDIRECT or TPROXY, got ${JSON.stringify(o.inboundInterceptionMode)}`);
  }
  for (const [list, what] of [
    [o.inboundPortsExclude, '--istio-local-exclude-ports'],
    [o.outboundPortsInclude, '--istio-local-outbound-ports'],
    [o.outboundPortsExclude, '--istio-local-outbound-ports-exclude'],
  ] as const) {
    for (const p of splitList(list)) port(p, what);
  }
  if (o.inboundPortsInclude !== '*') for (const p of splitList(o.inboundPortsInclude)) port(p, '--istio-inbound-ports');
  if (o.outboundIPRangesExclude.trim() === '*') errors.push('--istio-service-exclude-cidr cannot be "*"');
  for (const id of [...splitList(o.proxyUID), ...splitList(o.proxyGID)]) {
    if (!/^\d+$/.test(id)) errors.push(`--proxy-uid/--proxy-gid take numeric ids, got ${JSON.stringify(id)}`);
  }
  if (!/^\d+$/.test(o.inboundTProxyMark)) errors.push(`--istio-inbound-tproxy-mark must be a number, got ${JSON.stringify(o.inboundTProxyMark)}`);
  if (!/^\d+$/.test(o.inboundTProxyRouteTable) || Number(o.inboundTProxyRouteTable) > 0xffffffff) {
    errors.push(`--istio-inbound-tproxy-route-table must be a route table number, got ${JSON.stringify(o.inboundTProxyRouteTable)}`);
  }
  // Checked here, not left to iptables-restore / nft (whose messages do not name the flag, and
  // whose nft script would otherwise take the value as written).
  const cidrs = (list: string, what: string, star: boolean) => {
    if (star && list.trim() === '*') return;
    for (const c of splitList(list)) if (!isCidr(c)) errors.push(`${what} takes IP addresses or CIDRs (10.0.0.0/8, fd00::/8), got ${JSON.stringify(c)}`);
  };
  cidrs(o.outboundIPRangesInclude, '--istio-service-cidr', true);
  cidrs(o.outboundIPRangesExclude, '--istio-service-exclude-cidr', true); // "*" is refused above
  if (!isCidr(o.hostIPv4LoopbackCidr) || plainIP(o.hostIPv4LoopbackCidr.split('/')[0]!) !== 4) {
    errors.push(`the host loopback range must be an IPv4 CIDR, got ${JSON.stringify(o.hostIPv4LoopbackCidr)}`);
  }
  for (const [list, what] of [
    [o.rerouteVirtualInterfaces, '--kube-virt-interfaces'],
    [o.excludeInterfaces, '--istio-exclude-interfaces'],
  ] as const) {
    for (const i of splitList(list)) if (!INTERFACE.test(i)) errors.push(`${what} takes interface names (up to 15 of A-Z a-z 0-9 _ . : -), got ${JSON.stringify(i)}`);
  }
  for (const [list, what] of [
    [o.ownerGroupsInclude, '--istio-outbound-owner-groups'],
    [o.ownerGroupsExclude, '--istio-outbound-owner-groups-exclude'],
  ] as const) {
    if (list.trim() === '*') continue;
    for (const g of splitList(list)) if (!GROUP.test(g)) errors.push(`${what} takes group names or ids, got ${JSON.stringify(g)}`);
  }
  for (const ip of o.dnsServersV4) if (plainIP(ip) !== 4) errors.push(`DNS server ${JSON.stringify(ip)} is not an IPv4 address`);
  for (const ip of o.dnsServersV6) if (plainIP(ip) !== 6) errors.push(`DNS server ${JSON.stringify(ip)} is not an IPv6 address`);
  return errors;
}

/** Linux interface names (IFNAMSIZ 16, with the NUL), as istio-iptables' validation allows. */
const INTERFACE = /^[A-Za-z0-9_.:-]{1,15}$/;
/** A group name or numeric id (useradd's rules, loosely; never a character iptables or nft parse). */
const GROUP = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,31}$/;

/** isIP without zones: Node accepts fe80::1%eth0, which iptables and nft do not. */
function plainIP(s: string): 0 | 4 | 6 {
  return s.includes('%') ? 0 : (isIP(s) as 0 | 4 | 6);
}

/** An IP address, or address/prefix with a prefix length valid for its family. */
export function isCidr(s: string): boolean {
  const [addr, prefix, ...rest] = s.split('/');
  if (rest.length) return false;
  const family = plainIP(addr ?? '');
  if (family === 0) return false;
  if (prefix === undefined) return true;
  if (!/^\d{1,3}$/.test(prefix)) return false;
  return Number(prefix) <= (family === 4 ? 32 : 128);
}
