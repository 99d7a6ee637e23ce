/**
 * How long an HTTP/1 client may take to send a request's headers, from the first byte of the
 * request to the end of its header block: the HCM's request_headers_timeout (tsmesh default 60 s,
 * as nginx's client_header_timeout) and stream_idle_timeout, which Envoy also applies before the
 * headers have arrived. A client that trickles header bytes gets 408 and the connection closes.
 *
 * The HTTP/1 codec runs on raw sockets, so each connection carries this watch. The first byte
 * of a request is seen as growth of socket.bytesRead on a tick (a quarter of the limit): the
 * request is cut between 1 and 1.25 times the limit after its first byte, never before. Per
 * request this costs two flag writes; the tick's timer is made once per connection.
 */
import type { Socket } from 'node:net';
import type { Clock, Timer } from '../../interfaces.ts';

export interface HeaderTimeoutConfig {
  limitMs: number;
  clock: Clock;
  /** Called once when a request's headers took too long; answer 408 and close. */
  onTimeout(socket: Socket): void;
}

export class HeaderWatch {
  private timer: Timer | undefined;
  /** A tick is pending (the timer object is kept and refreshed, not recreated, per request). */
  private armed = false;
  private stopped = false;
  private readonly tickMs: number;
  /** socket.bytesRead when the connection last became idle (no request in progress). */
  private baseline: number;
  /** Clock time of the tick that first saw bytes of the next request. */
  private firstSeenAt: number | undefined;
  private busy = false;

  constructor(
    private readonly socket: Socket,
    private readonly cfg: HeaderTimeoutConfig,
    /** The request began before the watch (bytes the listener or codec sniffing already read). */
    started: boolean,
  ) {
    this.tickMs = Math.max(5, Math.ceil(cfg.limitMs / 4));
    this.baseline = socket.bytesRead;
    if (started) this.firstSeenAt = cfg.clock.now();
    this.arm();
    socket.once('close', () => this.stop());
  }

  /** The request's headers are complete: the stream's own timeouts take over (a pending tick just lapses). */
  onRequest(): void {
    this.busy = true;
  }

  /** The response finished: the connection waits for the next request's first byte. */
  onIdle(): void {
    if (this.stopped || this.socket.destroyed) return;
    this.busy = false;
    this.baseline = this.socket.bytesRead;
    this.firstSeenAt = undefined;
    if (!this.armed) this.arm();
  }

  /** For good (upgrade to a tunnel, connection closed). */
  stop(): void {
    this.stopped = true;
    this.busy = true;
    this.armed = false;
    this.timer?.cancel();
    this.timer = undefined;
  }

  private arm(): void {
    this.armed = true;
    if (this.timer) this.timer.refresh();
    else this.timer = this.cfg.clock.after(this.tickMs, () => this.tick());
  }

  private tick(): void {
    this.armed = false;
    if (this.busy || this.stopped || this.socket.destroyed) return;
    const now = this.cfg.clock.now();
    if (this.firstSeenAt === undefined) {
      if (this.socket.bytesRead > this.baseline) this.firstSeenAt = now;
    } else if (now - this.firstSeenAt >= this.cfg.limitMs) {
      this.stop();
      this.cfg.onTimeout(this.socket);
      return;
    }
    this.arm();
  }
}
