/**
 * Request mirroring (Envoy's ShadowWriter): fire-and-forget copies of a request to another
 * cluster with "-shadow" appended to the host part of :authority. The response is read and
 * dropped; failures only bump stats; the main request never waits for a shadow.
 */
import type { Dispatcher } from 'undici';
import type { ClusterManager } from '../../interfaces.ts';
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
  constructor(private readonly release: (() => void) | undefined, private readonly timer: NodeJS.Timeout | undefined, private readonly onStatus: (s: number) => void) {}
  controller?: Dispatcher.DispatchController;
  onRequestStart(c: Dispatcher.DispatchController): void {
    this.controller = c;
  }
  onResponseStart(_c: Dispatcher.DispatchController, status: number): void {
    if (status >= 200) this.onStatus(status);
  }
  onResponseData(): void {}
  onResponseEnd(): void {
    this.done();
  }
  onResponseError(): void {
    this.done();
  }
  private done(): void {
    if (this.timer) clearTimeout(this.timer);
    this.release?.();
  }
}

/**
 * Sends one shadow copy. `headers` is the flat upstream header list with host already set; the
 * host entry is replaced here. Returns false when the cluster or a host is missing.
 */
export function sendShadow(cm: ClusterManager, clusterName: string, method: string, path: string, headers: string[], body: Buffer | null, timeoutMs: number): boolean {
  const cluster = cm.get(clusterName);
  const host = cluster?.chooseHost();
  if (!cluster || !host) return false;
  const release = cluster.tryAcquire('requests');
  if (!release) return false;
  const stats = clusterStats(cluster);
  stats.rqTotal.inc();
  const h = headers.slice();
  for (let i = 0; i < h.length; i += 2) if (h[i] === 'host') h[i + 1] = shadowAuthority(h[i + 1]);
  let handler: ShadowHandler;
  const timer = timeoutMs > 0 ? setTimeout(() => handler.controller?.abort(new Error('shadow timeout')), timeoutMs) : undefined;
  timer?.unref();
  handler = new ShadowHandler(release, timer, (s) => stats.response(s));
  try {
    cluster.httpPool(host).dispatch({ method, path, headers: h, body, headersTimeout: 0, bodyTimeout: 0 }, handler);
  } catch {
    release();
    if (timer) clearTimeout(timer);
    return false;
  }
  return true;
}
