/**
 * Request mirroring (Envoy's ShadowWriter): fire-and-forget copies of a request to another
 * cluster with "-shadow" appended to the host part of :authority. The response is read and
 * dropped; failures only bump stats; the main request never waits for a shadow.
 */
import type { Dispatcher } from 'undici';
import type { ClusterManager, Clock, Timer } from '../../interfaces.ts';
import { authorityPort, stripPort } from '../common/header_utils.ts';
import { clusterStats } from './cluster_stats.ts';

/** Appends "-shadow" to the host, keeping any port: "svc:8080" -> "svc-shadow:8080". */
export function shadowAuthority(authority: string): string {
  const port = authorityPort(authority);
  if (port === undefined) return `${authority}-shadow`;
  const host = stripPort(authority);
  return host.includes(':') ? `[${host}]-shadow:${port}` : `${host}-shadow:${port}`;
}

/** Discards everything; one per shadow request so timers and releases stay per request. */
class ShadowHandler implements Dispatcher.DispatchHandler {
  abortFn?: (err?: Error) => void;
  private finished = false;
  constructor(private readonly release: (() => void) | undefined, public timer: Timer | undefined, private readonly onStatus: (s: number) => void) {}
  onConnect(abort: (err?: Error) => void): void {
    this.abortFn = abort;
  }
  onHeaders(status: number): boolean {
    if (status >= 200) this.onStatus(status);
    return true;
  }
  onData(): boolean {
    return true;
  }
  onComplete(): void {
    this.done();
  }
  onError(): void {
    this.done();
  }
  private done(): void {
    if (this.finished) return;
    this.finished = true;
    this.timer?.cancel();
    this.release?.();
  }
}

/**
 * Sends one shadow copy. `headers` is the flat upstream header list with host already set; the
 * host entry is replaced here. Returns false when the cluster or a host is missing.
 */
export function sendShadow(cm: ClusterManager, clusterName: string, method: string, path: string, headers: string[], body: Buffer | null, timeoutMs: number, clock: Clock): boolean {
  const cluster = cm.get(clusterName);
  const host = cluster?.chooseHost();
  if (!cluster || !host) return false;
  const release = cluster.tryAcquire('requests');
  if (!release) return false;
  const stats = clusterStats(cluster);
  stats.rqTotal.inc();
  const h = headers.slice();
  for (let i = 0; i < h.length; i += 2) if (h[i] === 'host') h[i + 1] = shadowAuthority(h[i + 1]);
  const handler = new ShadowHandler(release, undefined, (s) => stats.response(s));
  if (timeoutMs > 0) {
    handler.timer = clock.after(timeoutMs, () => handler.abortFn?.(new Error('shadow timeout')));
  }
  const timer = handler.timer;
  try {
    cluster.httpPool(host).dispatch({ method, path, headers: h, body, headersTimeout: 0, bodyTimeout: 0 }, handler);
  } catch {
    release();
    timer?.cancel();
    return false;
  }
  return true;
}
