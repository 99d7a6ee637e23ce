/**
 * The router filter's per-request state, apart from its behaviour (router.ts) so each file stays
 * readable: the chosen route/cluster, the upstream attempt, retry and timeout bookkeeping, the
 * body kept for retries and shadows, and the single finish() that releases everything once.
 */
import type { FactoryContext, UpstreamCluster, UpstreamHost } from '../../interfaces.ts';
import type { ActiveStream } from '../conn_manager/active_stream.ts';
import type { ClusterStats } from './cluster_stats.ts';
import type { ClusterChoice, RouteAction, RouteEntry } from './route_entry.ts';
import type { RetryState } from './retry_state.ts';
import type { Timeouts } from './timeouts.ts';
import type { UpstreamRequest } from './upstream_request.ts';

export abstract class RouterState {
  route: RouteEntry | undefined;
  action: RouteAction | undefined;
  choice: ClusterChoice | undefined;
  cluster: UpstreamCluster | undefined;
  cstats: ClusterStats | undefined;
  retry!: RetryState;
  timeouts: Timeouts = { globalMs: 0, perTryMs: 0 };
  hashKey: string | undefined;
  method = 'GET';
  path = '/';
  /** :authority as sent upstream (after host rewrites), for clusters that pick hosts by name. */
  authority = '';
  /** Flat [name, value, ...] list sent upstream (host included). */
  upstreamHeaders: string[] = [];
  autoHost = false;
  includeAttemptCount = false;
  includeAttemptCountInResponse = false;
  /** Whether any route/vhost/route-config/cluster level adds or removes response headers. */
  responseHeaderOps = true;

  upstream: UpstreamRequest | undefined;
  upstreamActive = false;
  pausedUpstream: UpstreamRequest | undefined;
  attempts = 0;
  triedHosts: Set<UpstreamHost> | undefined;
  trailersOnly = false;

  requestComplete = false;
  keepBody = false;
  buffered: Buffer[] = [];
  bufferedBytes = 0;
  pendingMirrors: string[] | undefined;
  retryWhenComplete = false;

  globalTimer: NodeJS.Timeout | undefined;
  retryTimer: NodeJS.Timeout | undefined;
  releaseRequest: (() => void) | undefined;
  retryRelease: (() => void) | undefined;
  finished = false;

  constructor(
    protected readonly s: ActiveStream,
    protected readonly ctx: FactoryContext,
  ) {}

  /** Releases timers and circuit-breaker slots; idempotent. */
  finish(): void {
    if (this.finished) return;
    this.finished = true;
    if (this.globalTimer) clearTimeout(this.globalTimer);
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.globalTimer = this.retryTimer = undefined;
    this.releaseRequest?.();
    this.releaseRequest = undefined;
    this.retryRelease?.();
    this.retryRelease = undefined;
    this.buffered = [];
  }
}
