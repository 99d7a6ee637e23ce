/**
 * SDS from a gRPC config source (Envoy's SdsApi over `api_config_source`), the shape Istio puts
 * in every TLS context:
 *
 *   sds_config: { api_config_source: { api_type: GRPC, transport_api_version: V3,
 *     grpc_services: [{ envoy_grpc: { cluster_name: sds-grpc } }], set_node_on_first_message_only: true },
 *     initial_fetch_timeout: 0s, resource_api_version: V3 }
 *
 * `sds-grpc` is a static cluster whose endpoint is the agent's Unix socket (`pipe: { path }`) or
 * a socket address. One SDS stream per such cluster watches the secret names the listeners and
 * clusters reference through it; accepted secrets go into the XdsManager exactly as secrets from
 * ADS do (workers get them, TLS contexts warm on them and rebuild for new connections when a new
 * version arrives). Names follow the listeners and clusters as they change.
 */
import { resolve } from 'node:path';
import type { AdsClient, Watch } from '../../xds/client/index.ts';
import { TYPE, type EnvoyJson, type NodeJson } from '../../xds/types.ts';
import { log } from '../logger.ts';
import { xdsWatchHandlers } from './ads_subscription.ts';
import type { XdsManager } from './xds_manager.ts';

/** One gRPC SDS source: the static cluster it dials and the stream flavour it asks for. */
interface GrpcSource {
  cluster: string;
  mode: 'sotw' | 'delta';
}

/** Secret names referenced by listeners and clusters, by where they are fetched from. */
export interface SecretRefs {
  /** `sds_config: { ads: {} }`: over the ADS stream. */
  ads: string[];
  /** `sds_config: { api_config_source: ... }`: over an SDS stream to a static cluster, by cluster. */
  grpc: Map<string, { mode: 'sotw' | 'delta'; names: string[] }>;
}

function grpcSource(sdsConfig: EnvoyJson | undefined): GrpcSource | undefined {
  const src = sdsConfig?.api_config_source;
  const cluster = src?.grpc_services?.[0]?.envoy_grpc?.cluster_name;
  if (!cluster) return undefined;
  return { cluster, mode: src.api_type === 'DELTA_GRPC' ? 'delta' : 'sotw' };
}

/** Walks every listener and cluster for SdsSecretConfigs; static secrets need no fetch. */
export function secretRefs(xds: XdsManager): SecretRefs {
  const ads = new Set<string>();
  const grpc = new Map<string, { mode: 'sotw' | 'delta'; names: Set<string> }>();
  const add = (s: EnvoyJson) => {
    if (!s?.name || xds.secrets.secrets.get(s.name)?.isStatic) return;
    if (s.sds_config?.ads) return void ads.add(s.name);
    const g = grpcSource(s.sds_config);
    if (!g) return;
    const e = grpc.get(g.cluster) ?? { mode: g.mode, names: new Set<string>() };
    grpc.set(g.cluster, e);
    e.names.add(s.name);
  };
  const visit = (o: unknown): void => {
    if (!o || typeof o !== 'object') return;
    if (Array.isArray(o)) return o.forEach(visit);
    const rec = o as EnvoyJson;
    for (const k of ['tls_certificate_sds_secret_configs', 'validation_context_sds_secret_config']) {
      const v = rec[k];
      for (const s of Array.isArray(v) ? v : v ? [v] : []) add(s);
    }
    for (const v of Object.values(rec)) visit(v);
  };
  for (const l of xds.listeners.active.values()) visit(l.config);
  for (const l of xds.listeners.warming.values()) visit(l.config);
  for (const c of xds.clusters.entries.values()) visit(c.config);
  const out: SecretRefs = { ads: [...ads].sort(), grpc: new Map() };
  for (const [cluster, e] of grpc) out.grpc.set(cluster, { mode: e.mode, names: [...e.names].sort() });
  return out;
}

/**
 * The gRPC target of a static cluster's first endpoint: `unix:<absolute path>` for a pipe (a
 * relative path is relative to the proxy's working directory, as in Envoy), `host:port` for a
 * socket address.
 */
export function grpcTarget(cluster: EnvoyJson | undefined): string | undefined {
  const a = cluster?.load_assignment?.endpoints?.[0]?.lb_endpoints?.[0]?.endpoint?.address;
  if (a?.pipe?.path) return `unix:${resolve(String(a.pipe.path))}`;
  const sa = a?.socket_address;
  if (!sa?.address) return undefined;
  const host = String(sa.address);
  return `${host.includes(':') ? `[${host}]` : host}:${Number(sa.port_value ?? 0)}`;
}

/** The SDS streams of one proxy, one per referenced cluster. */
export class SdsSubscriptions {
  readonly #streams = new Map<string, { client: AdsClient; watch: Watch }>();
  readonly #unknown = new Set<string>();
  readonly #offAccepted: () => void;
  /** The xDS client, loaded on the first stream (a static proxy without SDS never loads it). */
  #clientClass: Promise<typeof AdsClient> | undefined;
  #closed = false;

  constructor(
    private readonly xds: XdsManager,
    private readonly node: NodeJson,
    /** The bootstrap's static clusters: only those can carry config sources (as in Envoy). */
    private readonly staticClusters: readonly EnvoyJson[],
  ) {
    // Dynamic listeners and clusters name secrets; follow them as they are accepted.
    this.#offAccepted = xds.onAccepted((c) => {
      if (c.typeUrl === TYPE.LISTENER || c.typeUrl === TYPE.CLUSTER) void this.follow();
    });
  }

  /** Clusters with an open SDS stream (admin/debug, tests). */
  get clusters(): string[] {
    return [...this.#streams.keys()].sort();
  }

  /** True once a secret is referenced through a gRPC cluster (the proxy then keeps its protos). */
  get active(): boolean {
    return this.#streams.size > 0 || secretRefs(this.xds).grpc.size > 0;
  }

  /**
   * Re-reads the referenced names and opens, re-aims or keeps each cluster's stream. Resolves
   * when the streams are set up (not when secrets arrived: TLS contexts warm on those).
   */
  async follow(): Promise<void> {
    if (this.#closed) return;
    if (secretRefs(this.xds).grpc.size === 0 && this.#streams.size === 0) return;
    this.#clientClass ??= import('../../xds/client/ads_client.ts').then((m) => m.AdsClient);
    const Client = await this.#clientClass;
    if (this.#closed) return;
    const refs = secretRefs(this.xds).grpc;
    for (const [cluster, { mode, names }] of refs) {
      const open = this.#streams.get(cluster);
      if (open) {
        open.watch.setNames(names);
        continue;
      }
      const address = grpcTarget(this.staticClusters.find((c) => c.name === cluster));
      if (!address) {
        if (!this.#unknown.has(cluster)) log.warn(`SDS: no static cluster ${cluster} with an endpoint for secrets ${names.join(', ')}; they stay missing (listeners and clusters naming them keep warming)`);
        this.#unknown.add(cluster);
        continue;
      }
      const client = new Client({ address, node: this.node, mode, service: 'sds', backoff: { initialMs: 100, maxMs: 5000 } });
      client.on('disconnected', (e, retry) => log.warn(`SDS stream to ${cluster} (${address}) closed (${e?.message ?? 'ended'}); keeping current secrets, retrying in ${retry} ms`));
      const watch = client.watch(TYPE.SECRET, names, xdsWatchHandlers(this.xds, TYPE.SECRET, undefined, `SDS (${cluster})`));
      client.start();
      this.#streams.set(cluster, { client, watch });
    }
    // A cluster no longer referenced keeps its stream with no names: nothing is requested, and a
    // later reference reuses it.
    for (const [cluster, s] of this.#streams) if (!refs.has(cluster)) s.watch.setNames([]);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#offAccepted();
    for (const s of this.#streams.values()) s.client.close();
    this.#streams.clear();
  }
}
