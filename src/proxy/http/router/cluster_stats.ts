/**
 * Per-cluster upstream stats the router updates (cluster.<name>.upstream_rq_*), resolved once per
 * UpstreamCluster object. UpstreamCluster.stats is expected to be scoped to "cluster.<name>.".
 */
import type { Stats, UpstreamCluster } from '../../interfaces.ts';

type Counter = ReturnType<Stats['counter']>;

export class ClusterStats {
  readonly rqTotal: Counter;
  readonly rqCompleted: Counter;
  readonly rqRetry: Counter;
  readonly rqRetrySuccess: Counter;
  readonly rqRetryOverflow: Counter;
  readonly rqRetryLimitExceeded: Counter;
  readonly rqTimeout: Counter;
  readonly rqPerTryTimeout: Counter;
  readonly rqPerTryIdleTimeout: Counter;
  readonly rqPendingOverflow: Counter;
  readonly cxConnectFail: Counter;
  readonly rqRxReset: Counter;
  readonly rqTxReset: Counter;
  readonly rqActive: ReturnType<Stats['gauge']>;
  /** upstream_rq_<code> by status code, created on first use; an array index, not a Map probe. */
  private readonly byCode: (Counter | undefined)[] = new Array(600).fill(undefined);
  private readonly byClass: Counter[];

  constructor(private readonly stats: Stats) {
    const c = (n: string) => stats.counter(n);
    this.rqTotal = c('upstream_rq_total');
    this.rqCompleted = c('upstream_rq_completed');
    this.rqRetry = c('upstream_rq_retry');
    this.rqRetrySuccess = c('upstream_rq_retry_success');
    this.rqRetryOverflow = c('upstream_rq_retry_overflow');
    this.rqRetryLimitExceeded = c('upstream_rq_retry_limit_exceeded');
    this.rqTimeout = c('upstream_rq_timeout');
    this.rqPerTryTimeout = c('upstream_rq_per_try_timeout');
    this.rqPerTryIdleTimeout = c('upstream_rq_per_try_idle_timeout');
    this.rqPendingOverflow = c('upstream_rq_pending_overflow');
    this.cxConnectFail = c('upstream_cx_connect_fail');
    this.rqRxReset = c('upstream_rq_rx_reset');
    this.rqTxReset = c('upstream_rq_tx_reset');
    this.rqActive = stats.gauge('upstream_rq_active');
    this.byClass = ['1xx', '2xx', '3xx', '4xx', '5xx'].map((k) => c(`upstream_rq_${k}`));
  }

  response(status: number): void {
    this.rqCompleted.inc();
    if (status >= 100 && status < 600) {
      let ctr = this.byCode[status];
      if (!ctr) this.byCode[status] = ctr = this.stats.counter(`upstream_rq_${status}`);
      ctr.inc();
    } else {
      this.stats.counter(`upstream_rq_${status}`).inc();
    }
    const i = ((status / 100) | 0) - 1;
    if (i >= 0 && i < 5) this.byClass[i].inc();
  }
}

const cache = new WeakMap<UpstreamCluster, ClusterStats>();

export function clusterStats(c: UpstreamCluster): ClusterStats {
  let s = cache.get(c);
  if (!s) cache.set(c, (s = new ClusterStats(c.stats)));
  return s;
}
