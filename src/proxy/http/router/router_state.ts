/**
 * The router filter's per-request state, apart from its behaviour (router.ts) so each file stays
 * readable: the chosen route/cluster, the upstream attempt, retry and timeout bookkeeping, the
 * body kept for retries and shadows, and the single finish() that releases everything once.
 */
import type { HeaderMap, HttpFilterFactoryContext, StreamFilterCallbacks, Timer, UpstreamCluster } from '../../interfaces.ts';
import type { ClusterStats } from './cluster_stats.ts';
import type { AttemptHistory } from './host_selection.ts';
import type { ClusterChoice, RouteAction, RouteEntry } from './route_entry.ts';
import type { RetryState } from './retry_state.ts';
import type { Timeouts } from './timeouts.ts';
import type { UpstreamRequest } from './upstream_request.ts';

type Counter = ReturnType<HttpFilterFactoryContext['stats']['counter']>;

/** The router filter's config: the HCM's filter context and its http.<prefix>.* counters the router owns. */
export interface RouterContext extends HttpFilterFactoryContext {
  noRoute: Counter;
  noCluster: Counter;
  rqRedirect: Counter;
  rqDirectResponse: Counter;
}

/** Until decodeHeaders: never written to. */
const NO_HEADERS: HeaderMap = new Map();
/** Placeholders shared by every request until it has its own (most never buffer a body). */
const NO_TIMEOUTS: Timeouts = Object.freeze({ globalMs: 0, perTryMs: 0 });
const NO_FIELDS = Object.freeze([]) as unknown as string[];
export const NO_CHUNKS = Object.freeze([]) as unknown as Buffer[];

export abstract class RouterState {
  route: RouteEntry | undefined;
  action: RouteAction | undefined;
  choice: ClusterChoice | undefined;
  cluster: UpstreamCluster | undefined;
  cstats: ClusterStats | undefined;
  retry!: RetryState;
  timeouts: Timeouts = NO_TIMEOUTS;
  hashKey: string | undefined;
  method = 'GET';
  path = '/';
  /** :authority as sent upstream (after host rewrites), for clusters that pick hosts by name. */
  authority = '';
  /** Flat [name, value, ...] list sent upstream (host included); its own list from finalizeRequestHeaders on. */
  upstreamHeaders: string[] = NO_FIELDS;
  autoHost = false;
  includeAttemptCount = false;
  includeAttemptCountInResponse = false;
  /** Whether any route/vhost/route-config/cluster level adds or removes response headers. */
  responseHeaderOps = true;

  upstream: UpstreamRequest | undefined;
  upstreamActive = false;
  pausedUpstream: UpstreamRequest | undefined;
  attempts = 0;
  /** Hosts (and their priorities) tried by this request, for retry host predicates and priorities. */
  history: AttemptHistory | undefined;
  trailersOnly = false;

  requestComplete = false;
  keepBody = false;
  /** The request body kept for retries and shadows (NO_CHUNKS until the first chunk). */
  buffered: Buffer[] = NO_CHUNKS;
  bufferedBytes = 0;
  pendingMirrors: string[] | undefined;
  retryWhenComplete = false;

  globalTimer: Timer | undefined;
  retryTimer: Timer | undefined;
  releaseRequest: (() => void) | undefined;
  retryRelease: (() => void) | undefined;
  finished = false;
  /** Request headers as the router finalised them (for header formatters). */
  requestHeaders: HeaderMap = NO_HEADERS;
  isGrpc = false;
  isHead = false;
  /** Response headers went downstream: a failure now can only reset the stream. */
  downstreamStarted = false;

  constructor(
    protected readonly s: StreamFilterCallbacks,
    protected readonly ctx: RouterContext,
  ) {}

  /** Releases timers and circuit-breaker slots; idempotent. */
  finish(): void {
    if (this.finished) return;
    this.finished = true;
    this.globalTimer?.cancel();
    this.retryTimer?.cancel();
    this.globalTimer = this.retryTimer = undefined;
    this.releaseRequest?.();
    this.releaseRequest = undefined;
    this.retryRelease?.();
    this.retryRelease = undefined;
    this.buffered = NO_CHUNKS;
  }
}
