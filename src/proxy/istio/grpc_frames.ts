/**
 * Counts gRPC length-prefixed messages (1 byte compressed flag, 4 bytes big-endian length, then
 * the message) in a body as it streams, for istio_request_messages_total /
 * istio_response_messages_total: a few integer operations per chunk, bodies are skipped not read.
 */
export class GrpcFrameCounter {
  count = 0;
  /** Message bytes still to skip. */
  private skip = 0;
  /** Prefix bytes seen of the current message (0..4). */
  private hdr = 0;
  private len = 0;

  feed(b: Buffer): void {
    let i = 0;
    const n = b.length;
    while (i < n) {
      if (this.skip > 0) {
        const t = Math.min(this.skip, n - i);
        this.skip -= t;
        i += t;
        continue;
      }
      if (this.hdr === 0) this.len = 0;
      else this.len = this.len * 256 + b[i]!;
      i++;
      if (++this.hdr === 5) {
        this.count++;
        this.skip = this.len;
        this.hdr = 0;
      }
    }
  }
}
