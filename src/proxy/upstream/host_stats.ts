/**
 * Envoy's per-host statistics, as /clusters prints them (`cluster::ip:port::rq_total::N`). They
 * live on the host object, which EDS and CDS updates keep for an unchanged address, so they count
 * from the host's first appearance as Envoy's do. rq_active is not kept here: the host's pools
 * count it already (ConnPoolMap.activeRequests).
 */
import type { UpstreamHost } from '../interfaces.ts';

export class HostStats {
  /** Connections opened (HTTP pools and tcp_proxy; health checks are not traffic). */
  cxTotal = 0;
  cxActive = 0;
  cxConnectFail = 0;
  /** Requests attached to a connection to this host (each attempt counts). */
  rqTotal = 0;
  /** Responses below 500. */
  rqSuccess = 0;
  /** 5xx responses, resets and timeouts. */
  rqError = 0;
  /** Attempts ended by a per-try or the route's timeout before the response began. */
  rqTimeout = 0;
}

export function hostStatsOf(h: UpstreamHost): HostStats {
  return (h.stats ??= new HostStats());
}
