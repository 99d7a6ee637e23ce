/**
 * Request mirroring (Envoy's ShadowWriter): fire-and-forget copies of a request to another
 * cluster with "-shadow" appended to the host part of :authority. The response is read and
 * dropped; failures only bump stats; the main request never waits for a shadow.
 */
import type { Duplex } from 'node:stream';
import type { ClusterManager, Clock, HeaderMap, Timer } from '../../interfaces.ts';
import type { Http1Handler, Http1Stream } from '../../upstream/http1/types.ts';
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
class ShadowHandler implements Http1Handler {
  done = false;
  private stream: Http1Stream | undefined;
  timer: Timer | undefined;
  constructor(
    private readonly release: (() => void) | undefined,
    private readonly onStatus: (s: number) => void,
  ) {}
  onH1Attach(s: Http1Stream): void {
    this.stream = s;
  }
  onH1Headers(status: number): void {
    this.onStatus(status);
  }
  onH1Data(): void {}
  onH1Complete(): void {
    this.end();
  }
  onH1Error(): void {
    this.end();
  }
  onH1Upgrade(_status: number, _headers: HeaderMap, socket: Duplex): void {
    socket.destroy();
    this.end();
  }
  /** The shadow's timeout: the request is abandoned (a queued one is dropped by its pool). */
  timeout(): void {
    if (this.done) return;
    this.stream?.abort(this);
    this.end();
  }
  private end(): void {
    if (this.done) return;
    this.done = true;
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
  const handler = new ShadowHandler(release, (s) => stats.response(s));
  if (timeoutMs > 0) handler.timer = clock.after(timeoutMs, () => handler.timeout());
  try {
    cluster.httpPool(host).dispatch({ method, path, headers: h, body }, handler);
  } catch {
    handler.timeout();
    return false;
  }
  return true;
}
