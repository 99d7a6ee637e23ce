/**
 * Sends one check request through the proxy's own cluster manager, as Envoy's async client does:
 * the cluster's load balancer picks the host (EDS endpoints), its pool connects (the cluster's
 * transport socket, so Istio's mTLS to the authorizer applies), its circuit breaker admits the
 * request, and the timeout bounds it. `done` always runs later than the call (never inside it).
 */
import type { Clock, ClusterManager } from '../../../interfaces.ts';
import { log } from '../../../logger.ts';
import { ResponseCollector, type Collected } from './collect.ts';
import type { CheckCall } from './response.ts';

export interface CheckHttpRequest {
  method: string;
  path: string;
  /** Flat name/value list with `host` (HTTP/2 sends it as :authority). */
  headers: string[];
  body: Buffer | null;
  /** 'HTTP/2' for gRPC: the cluster must speak it. */
  protocol?: 'HTTP/2';
}

const HTTP_OPTIONS = 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions';

function speaksH2(config: { typed_extension_protocol_options?: Record<string, any> } | undefined, protocol: string): boolean {
  if (protocol === 'http2') return true;
  const opts = Object.entries(config?.typed_extension_protocol_options ?? {}).find(([k]) => k.endsWith(HTTP_OPTIONS))?.[1];
  return opts?.use_downstream_protocol_config !== undefined;
}

export function dispatchCheck(cm: ClusterManager, clock: Clock, clusterName: string, authority: string, req: CheckHttpRequest, timeoutMs: number, done: (r: Collected | undefined) => void): CheckCall {
  const fail = (why: string): CheckCall => {
    log.warnOnce(`ext_authz-${clusterName}-${why}`, `ext_authz: cluster ${clusterName}: ${why}`);
    let cancelled = false;
    queueMicrotask(() => cancelled || done(undefined));
    return { cancel: () => (cancelled = true) };
  };
  const cluster = cm.get(clusterName);
  if (!cluster) return fail('no such cluster');
  if (req.protocol === 'HTTP/2' && !speaksH2(cluster.config, cluster.protocol)) return fail('gRPC needs an HTTP/2 cluster (http2_protocol_options)');
  const host = cluster.chooseHost({ authority });
  if (!host) return fail('no healthy host');
  const acquired = cluster.tryAcquire('requests');
  if (!acquired) return fail('circuit breaker open (max_requests)');
  let released = false;
  const release = () => {
    if (!released) acquired();
    released = true;
  };
  let timer: { cancel(): void } | undefined;
  let cancelled = false;
  const collector = new ResponseCollector((r) => {
    timer?.cancel();
    release();
    if (r) cluster.outlier?.putHttpResponseCode(host, r.status);
    else cluster.outlier?.putResult(host, 'LOCAL_ORIGIN_CONNECT_FAILED');
    // The pool may answer inside dispatch() (a closed pool): keep the promise of a later call.
    queueMicrotask(() => cancelled || done(r));
  });
  timer = clock.after(timeoutMs, () => collector.abort());
  try {
    cluster.httpPool(host, req.protocol).dispatch({ method: req.method, path: req.path, headers: req.headers, body: req.body }, collector);
  } catch {
    collector.finish(undefined);
  }
  return {
    cancel: () => {
      cancelled = true;
      timer?.cancel();
      collector.cancel();
      release();
    },
  };
}
