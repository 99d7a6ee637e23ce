/**
 * The DNS proxy as the sidecar's agent runs it (pilot-agent with ISTIO_META_DNS_CAPTURE=true):
 * reads resolv.conf once, serves DNS on 127.0.0.1:15053, and takes its name table from the
 * control plane's NDS (type istio.networking.nds.v1.NameTable) on the proxy's own xDS stream.
 */
import type { NodeJson } from '../../xds/types.ts';
import { RESOURCE } from '../../xds/type_urls.ts';
import type { ResourceUpdate, ValidationResult, WatchHandlers } from '../../xds/client/index.ts';
import { DnsProxy } from './server.ts';
import { readResolvConf } from './resolv_conf.ts';
import { parseUpstream, type Upstream } from './upstream.ts';
import type { NameTableJson } from './lookup_table.ts';

/** Istio's agent DNS port. */
export const AGENT_DNS_ADDRESS = '127.0.0.1:15053';

export { dnsCaptureRequested, istioMetaFromEnv } from './meta.ts';

export interface DnsAgentOptions {
  /** "ip:port" to serve on (default 127.0.0.1:15053). */
  address?: string;
  resolvConf?: string;
  log?: (msg: string) => void;
}

export interface DnsAgent {
  proxy: DnsProxy;
  address: string;
  /** The NDS watch to put on the proxy's ADS stream. */
  watch: { typeUrl: string; handlers: WatchHandlers };
  close(): Promise<void>;
}

/** Starts the DNS server for `node`; its table fills once the NDS watch gets the first NameTable. */
export async function startDnsAgent(node: NodeJson, o: DnsAgentOptions = {}): Promise<DnsAgent> {
  const md = (node.metadata ?? {}) as Record<string, unknown>;
  const { host, port } = parseUpstream(o.address ?? AGENT_DNS_ADDRESS);
  const conf = readResolvConf(o.resolvConf);
  // The node id's domain is `<ns>.svc.cluster.local`; the services' domain is what follows the namespace.
  const namespace = typeof md.NAMESPACE === 'string' ? md.NAMESPACE : node.id.split('~')[2]?.split('.')[1] ?? 'default';
  const idDomain = node.id.split('~')[3] ?? '';
  const domain = idDomain.startsWith(`${namespace}.`) ? idDomain.slice(namespace.length + 1) : 'svc.cluster.local';
  // Never forward to ourselves: resolv.conf may name this very address when it serves on 53.
  const upstreams: Upstream[] = conf.nameservers.map((ip) => ({ host: ip, port: 53 })).filter((u) => !(u.port === port && (u.host === host || host === '0.0.0.0')));
  const proxy = new DnsProxy({ address: host, port, upstreams, namespace, domain, search: conf.search, log: o.log });
  const bound = await proxy.listen();
  const address = `${bound.address}:${bound.port}`;
  o.log?.(`dns: serving ${address} (udp, tcp); upstream ${upstreams.map((u) => u.host).join(', ') || 'none'}; search ${conf.search.join(' ') || 'none'}`);
  const tableOf = (u: ResourceUpdate): NameTableJson | undefined => [...u.resources.values()][0]?.resource as NameTableJson | undefined;
  const handlers: WatchHandlers = {
    validate: (u): ValidationResult => {
      const t = tableOf(u);
      if (t && t.table !== undefined && (typeof t.table !== 'object' || t.table === null)) return { ok: false, error: 'NameTable.table is not a map' };
      return { ok: true };
    },
    onUpdate: (u) => {
      proxy.setNameTable(tableOf(u) ?? {});
      o.log?.(`dns: name table ${u.version}: ${Object.keys(tableOf(u)?.table ?? {}).length} hosts, ${proxy.table.size} names`);
    },
  };
  return { proxy, address, watch: { typeUrl: RESOURCE.NAME_TABLE, handlers }, close: () => proxy.close() };
}
