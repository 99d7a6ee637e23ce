/** The DiscoveryServer's options and push requests. */
import type { Timers } from '../client/backoff.ts';
import type { Generator, NodeJson, XdsProxy, XdsSnapshot } from '../types.ts';
import type { Connection } from './connection.ts';
import type { Logger } from './core.ts';
import type { ShapeKey } from './resources.ts';

/**
 * Asks for a push (Istio's PushRequest). Requests are debounced and merged: `full` wins over
 * endpoint-only; services are unioned (an unscoped request makes the merge unscoped).
 */
export interface PushRequest {
  /** Regenerate every type. When false, only EDS is pushed (an endpoint change). */
  full: boolean;
  /** Hostnames whose endpoints changed; narrows an endpoint-only push to their clusters. */
  services?: string[];
  /** Same as `full: false`; kept for readability at call sites. */
  endpointsOnly?: boolean;
  /** Why, for logs and /debug (e.g. "config: VirtualService default/reviews"). */
  reason: string;
}

/** The merged form a push works from. */
export interface MergedPush {
  full: boolean;
  /** undefined: all services. */
  services?: Set<string>;
  reasons: string[];
  /** performance.now() of the earliest request merged in (for pilot_proxy_convergence_time). */
  start?: number;
}

/**
 * Where the server reports what it does for the control plane's /metrics (Istio's pilot_xds_*
 * families, src/controlplane/metrics). Optional: without it nothing is measured.
 */
export interface XdsMetrics {
  /** A response of `typeUrl` was handed to a stream (pilot_xds_pushes). */
  sent(typeUrl: string): void;
  /** A proxy NACKed a response of `typeUrl` (pilot_total_xds_rejects). */
  rejected(typeUrl: string): void;
  /** Generating and queueing one type for one proxy in a push took `seconds` (pilot_xds_push_time). */
  pushTime(typeUrl: string, seconds: number): void;
  /** A proxy was sent a push `seconds` after the first change it carries (pilot_proxy_convergence_time). */
  converged(seconds: number): void;
}

export interface DiscoveryServerOptions<C extends XdsSnapshot = XdsSnapshot, P extends XdsProxy = XdsProxy> {
  /** What to send: pilot's `generate` in production, a small fake in tests. */
  generator: Generator<C, P>;
  /** Node -> Proxy (pilot's parseProxy). Throwing rejects the stream with its message. */
  parseProxy: (node: NodeJson) => P;
  /** Builds a PushContext from the current config and registry; called per debounced push. */
  buildPushContext: () => C | Promise<C>;
  debounce?: { afterMs?: number; maxMs?: number };
  /** Timers for debouncing (tests pass fake or fast ones). */
  timers?: Timers;
  /** Which proxies share generated output; see resources.ts. */
  shapeKey?: ShapeKey<C, P>;
  /**
   * Which of a proxy's EDS names belong to the changed services. Default: Istio cluster names
   * (`outbound|9080|v1|reviews.default.svc.cluster.local`) end with the service hostname.
   */
  endpointNames?: (services: ReadonlySet<string>, names: readonly string[]) => string[];
  /**
   * At most this many connections have responses over 16 KiB being written at once; the others
   * wait in arrival order with their responses unserialized (Istio's PILOT_PUSH_THROTTLE).
   * Smaller responses (endpoint changes) are not held back. Default: the PILOT_PUSH_THROTTLE
   * environment variable, else 100.
   */
  pushThrottle?: number;
  /**
   * At most this many bytes of responses are being written at once, across connections (a
   * response larger than that goes out alone). Default: TSMESH_PUSH_BUFFER_MB, else 64 MiB.
   */
  pushBufferBytes?: number;
  /** A write not flushed after this long gives back its throttle slot (default 10 s). */
  sendTimeoutMs?: number;
  /** Pushes yield to the event loop after this much synchronous work (default 10 ms). */
  pushYieldMs?: number;
  /** Auto-registration and stats hook; called once the first request's node is parsed. */
  onConnect?: (conn: Connection<P>) => void;
  onDisconnect?: (conn: Connection<P>) => void;
  /**
   * Istio's workload health report (a HealthInformation request on the proxy's stream, from the
   * agent's WorkloadGroup probe): healthy, or not with the agent's message. Never answered.
   */
  onHealth?: (conn: Connection<P>, healthy: boolean, message: string) => void;
  metrics?: XdsMetrics;
  log?: Logger;
}
