/**
 * istiod-style debug endpoints for the ADS server, as a node:http handler the control plane
 * mounts on its debug port:
 *   /debug/syncz                      every connection, per type: sent version+nonce, ACKed
 *                                     version, last NACK; plus istiod's SyncStatus fields
 *                                     (proxy, cluster_id, istio_version, <type>_sent/_acked)
 *   /debug/connections                connections with node and subscriptions
 *   /debug/config_dump?proxyID=<id>   what that proxy would be sent now, as JSON; the id may be
 *                                     the full node id or istiod's short `<pod>.<namespace>`
 *   /debug/configz, /debug/registryz  served from callbacks the control plane supplies
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { DiscoveryServer } from './server/discovery_server.ts';
import type { XdsProxy, XdsSnapshot } from './types.ts';
import { resolveProxyId } from './debug_proxies.ts';
import { syncIdentity, syncRow } from './sync_status.ts';

export interface DebugOptions {
  /** Current config (for /debug/configz). */
  configz?: () => unknown;
  /** Services and endpoints (for /debug/registryz). */
  registryz?: () => unknown;
  /** This control plane's instance name (istiod's pod name), for /debug/syncz. Default: the host name. */
  istiod?: string;
  /** The cluster id for proxies whose node metadata has no CLUSTER_ID (Istio's default: Kubernetes). */
  clusterId?: string;
}

/** A request handler that answers the debug paths and returns false for any other path. */
export type DebugHandler = (req: IncomingMessage, res: ServerResponse) => boolean;

export function debugHandler<C extends XdsSnapshot, P extends XdsProxy>(server: DiscoveryServer<C, P>, opts: DebugOptions = {}): DebugHandler {
  const identity = syncIdentity(opts);
  return (req, res) => {
    const url = new URL(req.url ?? '/', 'http://debug');
    switch (url.pathname) {
      case '/debug/syncz':
        return json(
          res,
          200,
          server.connections().map((c) => {
            return syncRow(c, server.connectionsOf(c.proxyId).find((x) => x.id === c.id)?.node, identity);
          }),
        );
      case '/debug/connections':
        return json(
          res,
          200,
          server.connections().map((c) => {
            const conn = server.connectionsOf(c.proxyId).find((x) => x.id === c.id);
            return { id: c.id, proxyId: c.proxyId, mode: c.mode, peer: c.peer, ...(c.verifiedIdentity ? { verifiedIdentity: c.verifiedIdentity } : {}), connectedAt: c.connectedAt, node: conn?.node, watches: Object.keys(c.types) };
          }),
        );
      case '/debug/config_dump': {
        const id = url.searchParams.get('proxyID');
        if (!id) return json(res, 400, { error: 'proxyID query parameter is required' });
        const found = resolveProxyId(id, [...new Set(server.connections().map((c) => c.proxyId))]);
        if ('error' in found) return json(res, 404, { error: found.error });
        const dump = server.configDump(found.id);
        if (!dump) return json(res, 404, { error: `proxy ${id} is not connected` });
        return json(res, 200, dump);
      }
      case '/debug/configz':
        return opts.configz ? json(res, 200, opts.configz()) : json(res, 404, { error: 'configz not available' });
      case '/debug/registryz':
        return opts.registryz ? json(res, 200, opts.registryz()) : json(res, 404, { error: 'registryz not available' });
      default:
        return false;
    }
  };
}

function json(res: ServerResponse, status: number, body: unknown): true {
  const text = JSON.stringify(body, (_k, v) => (v instanceof Map ? Object.fromEntries(v) : v instanceof Set ? [...v] : v), 2);
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(text + '\n');
  return true;
}
