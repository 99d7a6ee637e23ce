/**
 * Istio's peer metadata HTTP filter (envoy.filters.http.peer_metadata, config
 * io.istio.http.peer_metadata.Config, sent by pilot as a TypedStruct). Each side of a mesh hop
 * learns the other's workload from the headers x-envoy-peer-metadata (base64 of a serialized
 * google.protobuf.Struct of node metadata) and x-envoy-peer-metadata-id (the node id):
 * - downstream_discovery istio_headers: read the request's headers into StreamInfo.downstreamPeer
 *   and remove them before the app sees them; downstream_propagation istio_headers: answer with
 *   our own on the response, each header only when the request carried it (as Istio does).
 * - upstream_propagation istio_headers: send our own on the request (replacing whatever the app or
 *   an outside client sent); upstream_discovery istio_headers: read the response's into
 *   StreamInfo.upstreamPeer and remove them before the downstream sees them.
 * - workload_discovery: the peer from what the control plane told us instead (upstream: the
 *   endpoint's istio.workload metadata). Downstream peers are found through headers only: tsmesh
 *   has no workload discovery by address.
 * Not sent to a cluster whose istio metadata says disable_mx, nor, with istio_headers
 * skip_external_clusters, to PassthroughCluster or a cluster marked istio `external` (Istio's
 * skipMXHeaders). shared_with_upstream true NACKs (no upstream filter state here).
 * A gateway is configured with upstream methods only, so the headers never cross the mesh edge:
 * a client's are replaced, the upstream's are removed. Principals come from certificates: the
 * downstream's from the mTLS peer certificate, the upstream's from the SANs the handshake checked.
 */
import { FilterStatus, type HeaderMap, type HttpFilter, type HttpFilterFactory, type HttpFilterFactoryContext, type StreamFilterCallbacks } from '../interfaces.ts';
import type { EnvoyJson } from '../../xds/types.ts';
import { getHeader } from '../http/common/header_utils.ts';
import { localPeer, spiffePrincipal, type LocalPeer } from './node_peer.ts';
import { peerFromHeader, serviceAccounts } from './peer_cache.ts';
import { endpointPeer, upstreamPrincipal, upstreamSocket } from './upstream_peer.ts';

export const PEER_METADATA_FILTER_NAME = 'envoy.filters.http.peer_metadata';
export const PEER_METADATA_HEADER = 'x-envoy-peer-metadata';
export const PEER_METADATA_ID_HEADER = 'x-envoy-peer-metadata-id';

type Method = 'istio_headers' | 'workload_discovery';
const METHODS: ReadonlySet<string> = new Set(['istio_headers', 'workload_discovery']);

/**
 * The methods of one list, each `{<method>: {}}`. A propagation's istio_headers may set
 * skip_external_clusters (returned through `skip`); any other body field NACKs, so nothing is
 * accepted and ignored.
 */
function methods(list: unknown, field: string, allowed: ReadonlySet<string>, skip?: { external: boolean }): Set<Method> {
  const out = new Set<Method>();
  if (list === undefined) return out;
  if (!Array.isArray(list)) throw new Error(`${field} must be a list`);
  list.forEach((m, i) => {
    const keys = m && typeof m === 'object' ? Object.keys(m) : [];
    if (keys.length !== 1 || !allowed.has(keys[0]!)) throw new Error(`${field}[${i}]: unsupported discovery method ${keys.join(',') || '(none)'} (supported: ${[...allowed].join(', ')})`);
    const body = m[keys[0]!] ?? {};
    for (const [k, v] of Object.entries(body as Record<string, unknown>)) {
      if (k === 'skip_external_clusters' && skip && keys[0] === 'istio_headers') {
        if (typeof v !== 'boolean') throw new Error(`${field}[${i}].istio_headers.skip_external_clusters must be a boolean`);
        skip.external ||= v;
        continue;
      }
      throw new Error(`${field}[${i}].${keys[0]}.${k} is not supported${k === 'skip_external_clusters' ? ' (propagation only)' : ''}`);
    }
    out.add(keys[0] as Method);
  });
  return out;
}

interface Compiled {
  downIstio: boolean;
  upIstio: boolean;
  upWorkload: boolean;
  propagateDown: boolean;
  propagateUp: boolean;
  /** istio_headers.skip_external_clusters of the upstream / downstream propagation. */
  skipExternalUp: boolean;
  skipExternalDown: boolean;
}

function compile(c: EnvoyJson): Compiled {
  for (const k of Object.keys(c)) {
    if (k === '@type' || k === 'downstream_discovery' || k === 'upstream_discovery' || k === 'downstream_propagation' || k === 'upstream_propagation') continue;
    // Peer info shared with the upstream connection's filter state: tsmesh has no such state.
    if (k === 'shared_with_upstream' && c[k] !== true) continue;
    throw new Error(`peer_metadata: unsupported field ${k}${k === 'shared_with_upstream' ? ' true' : ''}`);
  }
  // Downstream workload_discovery finds a caller by its address through Istio's workload
  // metadata discovery, which tsmesh does not serve: refused rather than accepted and ignored.
  const dd = methods(c.downstream_discovery, 'downstream_discovery', new Set(['istio_headers']));
  const ud = methods(c.upstream_discovery, 'upstream_discovery', METHODS);
  const only = new Set(['istio_headers']);
  const skipDown = { external: false };
  const skipUp = { external: false };
  const dp = methods(c.downstream_propagation, 'downstream_propagation', only, skipDown);
  const up = methods(c.upstream_propagation, 'upstream_propagation', only, skipUp);
  return { downIstio: dd.has('istio_headers'), upIstio: ud.has('istio_headers'), upWorkload: ud.has('workload_discovery'), propagateDown: dp.size > 0, propagateUp: up.size > 0, skipExternalUp: skipUp.external, skipExternalDown: skipDown.external };
}

/** What a cluster says about sending it our metadata (Istio's skipMXHeaders), once per cluster config. */
interface MxFacts {
  /** PassthroughCluster or istio metadata `external: true`: skipped under skip_external_clusters. */
  external: boolean;
  /** istio metadata `disable_mx: true`: always skipped. */
  disabled: boolean;
}
const NO_FACTS: MxFacts = { external: false, disabled: false };
const mxFacts = new WeakMap<object, MxFacts>();

function mxFactsOf(config: EnvoyJson | undefined): MxFacts {
  if (!config) return NO_FACTS;
  let f = mxFacts.get(config);
  if (!f) {
    const md = config.metadata?.filter_metadata?.istio;
    f = { external: config.name === 'PassthroughCluster' || md?.external === true, disabled: md?.disable_mx === true };
    mxFacts.set(config, f);
  }
  return f;
}

class PeerMetadataFilter implements HttpFilter {
  /** The request carried x-envoy-peer-metadata-id / x-envoy-peer-metadata (Istio answers only those). */
  private sawId = false;
  private sawMeta = false;
  constructor(
    private readonly c: Compiled,
    private readonly ctx: HttpFilterFactoryContext,
    /** This proxy's headers (computed once per node, at config time). */
    private readonly me: LocalPeer,
    private readonly cb: StreamFilterCallbacks,
  ) {}

  decodeHeaders(h: HeaderMap): FilterStatus {
    const c = this.c;
    if (c.downIstio) {
      const v = getHeader(h, PEER_METADATA_HEADER);
      this.sawId = getHeader(h, PEER_METADATA_ID_HEADER) !== undefined;
      if (v !== undefined) {
        this.sawMeta = true;
        const info = this.cb.streamInfo;
        const peer = peerFromHeader(v, spiffePrincipal(this.cb.connection.peerCertificateUris));
        if (peer) info.downstreamPeer = peer;
      }
    }
    // Whatever came in (an app's own, an outside client's) never goes further.
    h.delete(PEER_METADATA_HEADER);
    h.delete(PEER_METADATA_ID_HEADER);
    if (c.propagateUp && !this.skipMx(c.skipExternalUp)) {
      const me = this.me;
      h.set(PEER_METADATA_HEADER, me.header);
      h.set(PEER_METADATA_ID_HEADER, me.id);
    }
    return FilterStatus.Continue;
  }

  /**
   * Istio's skipMXHeaders: not to the route's cluster when it disables the exchange, or when it is
   * external and skip_external_clusters is set. Resolving the route here is what Envoy does before
   * the filter chain (refreshCachedRoute); the router reuses it.
   */
  private skipMx(skipExternal: boolean): boolean {
    this.cb.clusterChoice?.();
    const name = this.cb.streamInfo.upstreamCluster;
    if (name === undefined) return false;
    const f = mxFactsOf(this.ctx.clusterManager.get(name)?.config);
    return f.disabled || (skipExternal && f.external);
  }

  encodeHeaders(_status: number, h: HeaderMap): FilterStatus {
    const c = this.c;
    const info = this.cb.streamInfo;
    if (c.upIstio || c.upWorkload) {
      const v = c.upIstio ? getHeader(h, PEER_METADATA_HEADER) : undefined;
      let peer = v !== undefined ? peerFromHeader(v, undefined) : undefined;
      if (peer) {
        // The transport only matters for a peer that answered (its principal).
        const cluster = info.upstreamCluster ? this.ctx.clusterManager.get(info.upstreamCluster) : undefined;
        const facts = upstreamSocket(cluster?.config, info.upstreamHost);
        const principal = upstreamPrincipal(facts, { namespace: peer.namespace, serviceAccount: serviceAccounts.get(peer) });
        if (principal) peer = peerFromHeader(v!, principal);
      } else if (c.upWorkload) {
        const ep = endpointPeer(info.upstreamHost);
        if (ep) peer = ep;
      }
      if (peer) info.upstreamPeer = peer;
    }
    h.delete(PEER_METADATA_HEADER);
    h.delete(PEER_METADATA_ID_HEADER);
    // Only to a client that sent its own: a plain client (curl, probes, a scraper) learns nothing.
    if (c.propagateDown && (this.sawMeta || this.sawId) && !this.skipMx(c.skipExternalDown)) {
      const me = this.me;
      if (this.sawMeta) h.set(PEER_METADATA_HEADER, me.header);
      if (this.sawId) h.set(PEER_METADATA_ID_HEADER, me.id);
    }
    return FilterStatus.Continue;
  }
}

export const peerMetadataFilterFactory: HttpFilterFactory = {
  create(typedConfig: EnvoyJson, ctx: HttpFilterFactoryContext) {
    const c = compile(typedConfig);
    const me = localPeer(ctx.node);
    return (cb: StreamFilterCallbacks) => new PeerMetadataFilter(c, ctx, me, cb);
  },
};
