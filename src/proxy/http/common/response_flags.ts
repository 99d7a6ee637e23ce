/**
 * Envoy's %RESPONSE_FLAGS% short codes, as recorded on StreamInfo and counted in stats. The names
 * are Envoy's so access logs and dashboards read the same as with a real Envoy.
 */
export const ResponseFlag = {
  /** No route configured for the request (404). */
  NoRouteFound: 'NR',
  /** No healthy upstream host in the cluster (503). */
  NoHealthyUpstream: 'UH',
  /** Upstream connection failure (503). */
  UpstreamConnectionFailure: 'UF',
  /** Upstream connection termination (503). */
  UpstreamConnectionTermination: 'UC',
  /** Upstream remote reset (503). */
  UpstreamRemoteReset: 'UR',
  /** Upstream request timeout (504). */
  UpstreamRequestTimeout: 'UT',
  /** Upstream retry limit exceeded. */
  UpstreamRetryLimitExceeded: 'URX',
  /** Upstream overflow: circuit breaking (503). */
  UpstreamOverflow: 'UO',
  /** Local reset by the proxy. */
  LocalReset: 'LR',
  /** Downstream connection termination. */
  DownstreamConnectionTermination: 'DC',
  /** Request delayed by the fault filter. */
  DelayInjected: 'DI',
  /** Request aborted by the fault filter. */
  FaultInjected: 'FI',
  /** Upstream cluster not found (503). */
  NoClusterFound: 'NC',
  /** Stream idle timeout (408). */
  StreamIdleTimeout: 'SI',
  /** Downstream protocol error. */
  DownstreamProtocolError: 'DPE',
  /** Upstream protocol error. */
  UpstreamProtocolError: 'UPE',
  /** Max stream duration reached upstream. */
  UpstreamMaxStreamDurationReached: 'UMSDR',
  /** The dynamic forward proxy could not resolve the request's host (503). */
  DnsResolutionFailed: 'DF',
} as const;
export type ResponseFlagCode = (typeof ResponseFlag)[keyof typeof ResponseFlag];

/** Envoy's access-log rendering of a flag list: comma-joined, "-" when empty. */
export function formatResponseFlags(flags: readonly string[]): string {
  return flags.length === 0 ? '-' : flags.join(',');
}
