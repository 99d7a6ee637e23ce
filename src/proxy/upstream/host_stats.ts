/**
 * Envoy's per-host statistics, as /clusters prints them (`cluster::ip:port::rq_total::N`). They
 * live on the host object, which an EDS update keeps for an unchanged address; a cluster rebuilt
 * with new host objects starts them again, as Envoy's do. rq_active is not kept here: the host's
 * pools count it already (ConnPoolMap.activeRequests).
 */
import type { UpstreamHost } from '../interfaces.ts';

export class HostStats {
  /** Connections attempted, failed ones included (HTTP pools and tcp_proxy; health checks are not traffic). */
  cxTotal = 0;
  /** Connections open or connecting. */
  cxActive = 0;
  cxConnectFail = 0;
  /** Streams that got a connection to this host: each attempt, mirrors and filters' calls too, and each TCP session. */
  rqTotal = 0;
  /** Router attempts answered below 500 (gRPC: by grpc-status, mapped as Envoy maps it), and upgrades. */
  rqSuccess = 0;
  /** 5xx answers, retried answers, resets and timeouts before a response began. */
  rqError = 0;
  /** Attempts a per-try or the route's timeout ended after they reached the host. */
  rqTimeout = 0;
}

export function hostStatsOf(h: UpstreamHost): HostStats {
  return (h.stats ??= new HostStats());
}
