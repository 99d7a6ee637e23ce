/**
 * `tsmesh init`: istio-iptables' job. Run as root in the workload's network namespace before the
 * sidecar starts; writes the rules that send the workload's TCP to the proxy (15001 outbound,
 * 15006 inbound) and, with --redirect-dns, DNS to the agent (15053). Thin: the rules and their
 * application live in src/agent/capture/.
 */
import { readFileSync } from 'node:fs';
import { applyCapture, CaptureError, cleanupCapture, renderCapture, resolvConfServers, type Backend } from '../agent/capture/capture.ts';
import { buildCaptureRules } from '../agent/capture/iptables_rules.ts';
import { captureOptions, validateCaptureOptions, type CaptureOptions, type InterceptionMode } from '../agent/capture/options.ts';
import { one, parseFlags, type FlagSpec } from './flags.ts';

const HELP = `Usage: tsmesh init [flags]

Redirects the workload's traffic to its sidecar, as Istio's istio-init (istio-iptables) does:
outbound TCP to the proxy's 15001, inbound TCP to 15006, the proxy's own traffic (its UID/GID)
left alone. Run it as root in the workload's network namespace (ip netns exec <ns> tsmesh init ...).
The flags are istio-iptables' flags. What an injected Istio sidecar runs is:

  tsmesh init -p 15001 -z 15006 -u 1337 -m REDIRECT -i '*' -x "" -b '*' -d 15090,15021,15020

Flags:
  -p, --envoy-port <port>                       outbound capture port (default 15001)
  -z, --inbound-capture-port <port>             inbound capture port (default 15006)
  -e, --inbound-tunnel-port <port>              HBONE tunnel port, never captured (default 15008)
  -u, --proxy-uid <uid,...>                     UIDs whose traffic is not captured (default 1337)
  -g, --proxy-gid <gid,...>                     GIDs whose traffic is not captured (default 1337)
  -m, --istio-inbound-interception-mode <mode>  REDIRECT (default) or TPROXY (keeps the source address)
  -t, --istio-inbound-tproxy-mark <mark>        TPROXY packet mark (default 1337)
  -r, --istio-inbound-tproxy-route-table <n>    TPROXY routing table (default 133)
  -b, --istio-inbound-ports <ports|*>           inbound ports captured: '*' = all (default none)
  -d, --istio-local-exclude-ports <ports>       inbound ports not captured when -b is '*'
  -q, --istio-local-outbound-ports <ports>      outbound ports always captured
  -o, --istio-local-outbound-ports-exclude <p>  outbound ports never captured
  -i, --istio-service-cidr <cidrs|*>            outbound IP ranges captured: '*' = all (default none)
  -x, --istio-service-exclude-cidr <cidrs>      outbound IP ranges never captured
  -k, --kube-virt-interfaces <ifaces>           interfaces whose inbound is treated as outbound
  -c, --istio-exclude-interfaces <ifaces>       interfaces never captured
      --istio-outbound-owner-groups <groups|*>  capture only these groups' outbound traffic
      --istio-outbound-owner-groups-exclude <g> do not capture these groups' outbound traffic
      --redirect-dns                            DNS (53) to the agent's DNS proxy on 15053
      --capture-all-dns                         every DNS destination, not just the nameservers
      --dns-servers <ip,...>                    nameservers to redirect (default: /etc/resolv.conf's)
      --drop-invalid                            drop conntrack-INVALID packets instead of resetting
      --ipv6                                    also write the IPv6 rules (ip6tables / ip6 table)
      --native-nftables                         use nftables (nft) instead of iptables (alias --nftables)
  -n, --dry-run                                 print the rules, change nothing
      --cleanup                                 remove what 'tsmesh init' added (same flags)
  -h, --help                                    show this help`;

export interface Output {
  log(line: string): void;
  error(line: string): void;
}

const SPECS: FlagSpec[] = [
  { name: 'envoy-port', alias: 'p' },
  { name: 'inbound-capture-port', alias: 'z' },
  { name: 'inbound-tunnel-port', alias: 'e' },
  { name: 'proxy-uid', alias: 'u' },
  { name: 'proxy-gid', alias: 'g' },
  { name: 'istio-inbound-interception-mode', alias: 'm' },
  { name: 'istio-inbound-tproxy-mark', alias: 't' },
  { name: 'istio-inbound-tproxy-route-table', alias: 'r' },
  { name: 'istio-inbound-ports', alias: 'b' },
  { name: 'istio-local-exclude-ports', alias: 'd' },
  { name: 'istio-local-outbound-ports', alias: 'q' },
  { name: 'istio-local-outbound-ports-exclude', alias: 'o' },
  { name: 'istio-service-cidr', alias: 'i' },
  { name: 'istio-service-exclude-cidr', alias: 'x' },
  { name: 'kube-virt-interfaces', alias: 'k' },
  { name: 'istio-exclude-interfaces', alias: 'c' },
  { name: 'istio-outbound-owner-groups' },
  { name: 'istio-outbound-owner-groups-exclude' },
  { name: 'redirect-dns', boolean: true },
  { name: 'capture-all-dns', boolean: true },
  { name: 'dns-servers' },
  { name: 'drop-invalid', boolean: true },
  { name: 'ipv6', boolean: true },
  { name: 'native-nftables', boolean: true },
  { name: 'nftables', boolean: true },
  { name: 'dry-run', alias: 'n', boolean: true },
  { name: 'cleanup', boolean: true },
  { name: 'help', alias: 'h', boolean: true },
];

/** The value flags: an empty value ("-x ''") is allowed, as istio-init passes it. */
function withEmptyValues(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const spec = SPECS.find((s) => a === `--${s.name}` || (s.alias !== undefined && a === `-${s.alias}`));
    if (spec && !spec.boolean && argv[i + 1] === '') {
      out.push(`--${spec.name}=\0`);
      i++;
    } else out.push(a);
  }
  return out;
}

export async function initCommand(argv: string[], out: Output = console): Promise<number> {
  const parsed = parseFlags(withEmptyValues(argv), SPECS);
  if (!parsed.ok) return usage(out, parsed.error);
  const { flags } = parsed;
  if (flags.help) {
    out.log(HELP);
    return 0;
  }
  if (parsed.rest.length) return usage(out, `unexpected argument '${parsed.rest[0]}'`);
  const v = (name: string) => {
    const x = one(flags, name);
    return x === '\0' ? '' : x;
  };
  const mode = v('istio-inbound-interception-mode');
  const opts: CaptureOptions = captureOptions({
    proxyPort: v('envoy-port'),
    inboundCapturePort: v('inbound-capture-port'),
    inboundTunnelPort: v('inbound-tunnel-port'),
    proxyUID: v('proxy-uid'),
    proxyGID: v('proxy-gid'),
    inboundInterceptionMode: mode as InterceptionMode | undefined,
    inboundTProxyMark: v('istio-inbound-tproxy-mark'),
    inboundTProxyRouteTable: v('istio-inbound-tproxy-route-table'),
    inboundPortsInclude: v('istio-inbound-ports'),
    inboundPortsExclude: v('istio-local-exclude-ports'),
    outboundPortsInclude: v('istio-local-outbound-ports'),
    outboundPortsExclude: v('istio-local-outbound-ports-exclude'),
    outboundIPRangesInclude: v('istio-service-cidr'),
    outboundIPRangesExclude: v('istio-service-exclude-cidr'),
    rerouteVirtualInterfaces: v('kube-virt-interfaces'),
    excludeInterfaces: v('istio-exclude-interfaces'),
    ownerGroupsInclude: v('istio-outbound-owner-groups'),
    ownerGroupsExclude: v('istio-outbound-owner-groups-exclude'),
    redirectDNS: flags['redirect-dns'] === true,
    captureAllDNS: flags['capture-all-dns'] === true,
    dropInvalid: flags['drop-invalid'] === true,
    enableIPv6: flags.ipv6 === true,
  });
  if (opts.redirectDNS && !opts.captureAllDNS) {
    const servers = v('dns-servers');
    const found = servers !== undefined ? resolvConfServers(servers.split(',').map((s) => `nameserver ${s.trim()}`).join('\n')) : readResolvConf();
    opts.dnsServersV4 = found.v4;
    opts.dnsServersV6 = found.v6;
  }
  const errors = validateCaptureOptions(opts);
  if (errors.length) return usage(out, errors.join('\n'));
  for (const w of buildCaptureRules(opts).warnings) out.error(`tsmesh init: ${w}`);
  const backend: Backend = flags['native-nftables'] === true || flags.nftables === true ? 'nftables' : 'iptables';

  if (flags['dry-run']) {
    if (flags.cleanup) out.log(`# dry run: 'tsmesh init --cleanup' would remove these rules`);
    out.log(renderCapture(opts, backend).trimEnd());
    return 0;
  }
  try {
    if (flags.cleanup) {
      await cleanupCapture(opts, backend);
      out.log(`tsmesh init: capture removed (${backend})`);
    } else {
      await applyCapture(opts, backend);
      out.log(`tsmesh init: capture installed (${backend}): outbound -> ${opts.proxyPort}, inbound -> ${opts.inboundCapturePort} (${opts.inboundInterceptionMode})${opts.redirectDNS ? ', DNS -> 15053' : ''}`);
    }
    return 0;
  } catch (err) {
    if (err instanceof CaptureError) {
      out.error(`tsmesh init: ${err.message}`);
      return 1;
    }
    throw err;
  }
}

function readResolvConf(): { v4: string[]; v6: string[] } {
  try {
    return resolvConfServers(readFileSync('/etc/resolv.conf', 'utf8'));
  } catch {
    return { v4: [], v6: [] };
  }
}

function usage(out: Output, error: string): number {
  out.error(`tsmesh init: ${error}\n\nRun 'tsmesh init --help' for the flags.`);
  return 2;
}
