/**
 * POSTs one report to a collector through the cluster manager (Envoy's collector_cluster), as an
 * async client would: a host from the cluster's load balancer, its connection pool, a timeout.
 * Reports done(false) on a missing cluster or host, a non-2xx answer, a reset or the timeout.
 */
import type { Duplex } from 'node:stream';
import type { ClusterManager, Clock, HeaderMap, Timer } from '../interfaces.ts';
import type { Http1Handler, Http1Stream } from '../upstream/http1/types.ts';

export interface CollectorTarget {
  cluster: string;
  path: string;
  /** The Host header (collector_hostname); the cluster name when unset, as Envoy. */
  hostname: string;
  timeoutMs: number;
}

class ReportHandler implements Http1Handler {
  done = false;
  stream: Http1Stream | undefined;
  timer: Timer | undefined;
  private status = 0;
  constructor(private readonly release: () => void, private readonly cb: (ok: boolean, noCluster: boolean) => void) {}
  onH1Attach(s: Http1Stream): void {
    this.stream = s;
  }
  onH1Headers(status: number): void {
    this.status = status;
  }
  onH1Data(): void {}
  onH1Complete(): void {
    this.end(this.status >= 200 && this.status < 300);
  }
  onH1Error(): void {
    this.end(false);
  }
  onH1Upgrade(_s: number, _h: HeaderMap, socket: Duplex): void {
    socket.destroy();
    this.end(false);
  }
  timeout(): void {
    if (this.done) return;
    this.stream?.abort(this);
    this.end(false);
  }
  end(ok: boolean): void {
    if (this.done) return;
    this.done = true;
    this.timer?.cancel();
    this.release();
    this.cb(ok, false);
  }
}

/** Sends `body`; `done(ok, noCluster)` is called once. */
export function postReport(cm: ClusterManager, t: CollectorTarget, contentType: string, body: Buffer, clock: Clock, done: (ok: boolean, noCluster: boolean) => void): void {
  const cluster = cm.get(t.cluster);
  const host = cluster?.chooseHost();
  if (!cluster || !host) return done(false, !cluster);
  const release = cluster.tryAcquire('requests');
  if (!release) return done(false, false);
  const handler = new ReportHandler(release, done);
  handler.timer = clock.after(t.timeoutMs, () => handler.timeout());
  const headers = ['host', t.hostname, 'content-type', contentType, 'content-length', String(body.length)];
  try {
    cluster.httpPool(host).dispatch({ method: 'POST', path: t.path, headers, body }, handler);
  } catch {
    handler.end(false);
  }
}
