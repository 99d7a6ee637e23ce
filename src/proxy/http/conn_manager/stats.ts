/**
 * The connection manager's http.<stat_prefix>.* stats, resolved once per config so the hot path
 * only does arithmetic (PERFORMANCE.md). Names are Envoy's.
 */
import type { Stats } from '../../interfaces.ts';

type Counter = ReturnType<Stats['counter']>;
type Gauge = ReturnType<Stats['gauge']>;

export class HcmStats {
  readonly cxTotal: Counter;
  readonly cxActive: Gauge;
  readonly cxHttp1Total: Counter;
  readonly cxHttp2Total: Counter;
  readonly cxProtocolError: Counter;
  readonly cxDrainClose: Counter;
  readonly rqTotal: Counter;
  readonly rqHttp1Total: Counter;
  readonly rqHttp2Total: Counter;
  readonly rqActive: Gauge;
  readonly rqCompleted: Counter;
  readonly rqByClass: Counter[];
  readonly rqRxReset: Counter;
  readonly rqTxReset: Counter;
  readonly rqTimeout: Counter;
  readonly rqIdleTimeout: Counter;
  readonly rqHeaderTimeout: Counter;
  readonly rqTooLarge: Counter;
  readonly rqHeadersTooMany: Counter;
  readonly rqWsOnNonWsRoute: Counter;
  readonly rqFailedPathNormalization: Counter;
  readonly rqMaxDurationReached: Counter;
  readonly rqRedirectedNormalizedPath: Counter;
  readonly noRoute: Counter;
  readonly noCluster: Counter;
  readonly rqRedirect: Counter;
  readonly rqDirectResponse: Counter;
  readonly h2RxReset: Counter;
  readonly h2GoawaySent: Counter;
  readonly h2RapidResetGoaway: Counter;
  readonly responseFlags = new Map<string, Counter>();

  constructor(private readonly stats: Stats, prefix: string) {
    const p = `http.${prefix}.`;
    const c = (n: string) => stats.counter(p + n);
    this.cxTotal = c('downstream_cx_total');
    this.cxActive = stats.gauge(p + 'downstream_cx_active');
    this.cxHttp1Total = c('downstream_cx_http1_total');
    this.cxHttp2Total = c('downstream_cx_http2_total');
    this.cxProtocolError = c('downstream_cx_protocol_error');
    this.cxDrainClose = c('downstream_cx_drain_close');
    this.rqTotal = c('downstream_rq_total');
    this.rqHttp1Total = c('downstream_rq_http1_total');
    this.rqHttp2Total = c('downstream_rq_http2_total');
    this.rqActive = stats.gauge(p + 'downstream_rq_active');
    this.rqCompleted = c('downstream_rq_completed');
    this.rqByClass = ['1xx', '2xx', '3xx', '4xx', '5xx'].map((k) => c(`downstream_rq_${k}`));
    this.rqRxReset = c('downstream_rq_rx_reset');
    this.rqTxReset = c('downstream_rq_tx_reset');
    this.rqTimeout = c('downstream_rq_timeout');
    this.rqIdleTimeout = c('downstream_rq_idle_timeout');
    this.rqHeaderTimeout = c('downstream_rq_header_timeout');
    this.rqTooLarge = c('downstream_rq_too_large');
    this.rqHeadersTooMany = c('downstream_rq_header_count_exceeded');
    this.rqWsOnNonWsRoute = c('downstream_rq_ws_on_non_ws_route');
    this.rqFailedPathNormalization = c('downstream_rq_failed_path_normalization');
    this.rqMaxDurationReached = c('downstream_rq_max_duration_reached');
    this.rqRedirectedNormalizedPath = c('downstream_rq_redirected_with_normalized_path');
    this.noRoute = c('no_route');
    this.noCluster = c('no_cluster');
    this.rqRedirect = c('rq_redirect');
    this.rqDirectResponse = c('rq_direct_response');
    this.h2RxReset = c('http2.rx_reset');
    this.h2GoawaySent = c('http2.goaway_sent');
    this.h2RapidResetGoaway = c('http2.rapid_reset_goaway');
    this.prefix = p;
  }

  private readonly prefix: string;

  /** Counts a response flag as http.<prefix>.response_flag.<FLAG> (created on first use). */
  flag(f: string): void {
    let ctr = this.responseFlags.get(f);
    if (!ctr) this.responseFlags.set(f, (ctr = this.stats.counter(`${this.prefix}response_flag.${f}`)));
    ctr.inc();
  }

  responseClass(status: number): void {
    const i = Math.floor(status / 100) - 1;
    if (i >= 0 && i < 5) this.rqByClass[i].inc();
  }
}
