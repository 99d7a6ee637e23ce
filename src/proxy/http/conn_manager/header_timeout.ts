/**
 * How long an HTTP/1 client may take to send a request's headers, from the first byte of the
 * request to the end of its header block: the HCM's request_headers_timeout (tsmesh default 60 s,
 * as nginx's client_header_timeout) and stream_idle_timeout, which Envoy also applies before the
 * headers have arrived. A client that trickles header bytes gets 408 and the connection closes.
 *
 * node's own headersTimeout is checked by an interval a server starts only when it listens; the
 * HCM's servers never listen, so each connection carries this watch instead. The parser reads the
 * socket natively, so the first byte of a request is seen as growth of socket.bytesRead on a tick
 * (a quarter of the limit): the request is cut between 1 and 1.25 times the limit after its first
 * byte, never before.
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

  /** The request's headers are complete: the stream's own timeouts take over. */
  onRequest(): void {
    this.busy = true;
    this.timer?.cancel();
    this.timer = undefined;
  }

  /** The response finished: the connection waits for the next request's first byte. */
  onIdle(): void {
    if (this.socket.destroyed) return;
    this.busy = false;
    this.baseline = this.socket.bytesRead;
    this.firstSeenAt = undefined;
    this.arm();
  }

  /** For good (upgrade to a tunnel, connection closed). */
  stop(): void {
    this.busy = true;
    this.timer?.cancel();
    this.timer = undefined;
  }

  private arm(): void {
    if (this.timer) this.timer.refresh();
    else this.timer = this.cfg.clock.after(this.tickMs, () => this.tick());
  }

  private tick(): void {
    this.timer = undefined;
    if (this.busy || this.socket.destroyed) return;
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
