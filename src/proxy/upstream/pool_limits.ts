/**
 * What a connection pool asks its cluster's circuit breakers (Envoy's ResourceManager, which
 * counts across every host's pool): may it open a connection (max_connections), is there room
 * to queue one more request (max_pending_requests). The cluster's ResourceManager implements it;
 * a pool made on its own (tests, tools) gets `localLimits`, a per-pool connection cap.
 */

export interface PoolLimits {
  /**
   * Takes a connection slot. When the cluster is at max_connections this counts
   * upstream_cx_overflow and refuses, unless the pool has no connection at all (Envoy opens one
   * then, so the pool's queue is not stranded). Each success is matched by `connectionClosed`.
   */
  tryOpenConnection(poolHasNone: boolean): boolean;
  connectionClosed(): void;
  /** The cluster's pending queue is full: a request that cannot start now overflows. */
  pendingFull(): boolean;
  /** Counts a pending overflow (upstream_rq_pending_overflow). */
  pendingOverflow(): void;
  /** The pool's count of requests waiting for a connection changed by `n`. */
  pendingChanged(n: number): void;
  /**
   * The pool's requests queued or running changed by `n` (Envoy's active + pending requests:
   * what a retry budget is a share of; a request waiting out a retry back-off is not among them).
   */
  attemptsChanged(n: number): void;
}

/** Limits for a pool not attached to a cluster: at most `maxConnections` connections, an unbounded queue. */
export function localLimits(maxConnections: number): PoolLimits {
  let open = 0;
  return {
    tryOpenConnection: (none) => (open < maxConnections || none ? (open++, true) : false),
    connectionClosed: () => void open--,
    pendingFull: () => false,
    pendingOverflow: () => undefined,
    pendingChanged: () => undefined,
    attemptsChanged: () => undefined,
  };
}
