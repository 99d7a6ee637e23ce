/**
 * One TCP health check (Envoy's TcpHealthChecker): connect, write the `send` payload, and pass when
 * every `receive` block has been seen in order (not necessarily contiguous, Envoy's "fuzzy" match).
 * With neither, a completed connect passes (connect-only check).
 */
import type { Socket } from 'node:net';
import type { EnvoyJson } from '../../xds/types.ts';

/** What one check found. NETWORK failures (connect, reset, timeout) count toward unhealthy_threshold. */
export type CheckOutcome =
  | { healthy: true; degraded: boolean }
  | { healthy: false; failure: 'ACTIVE' | 'NETWORK'; retriable: boolean; reason: string };

/** HealthCheck.Payload: hex `text` or base64 `binary` (proto3 JSON bytes). */
export function payloadBytes(p: EnvoyJson | undefined): Buffer {
  if (!p) return Buffer.alloc(0);
  if (typeof p.text === 'string') return Buffer.from(p.text, 'hex');
  if (typeof p.binary === 'string') return Buffer.from(p.binary, 'base64');
  return Buffer.alloc(0);
}

export interface TcpCheckConfig {
  send: Buffer;
  receive: Buffer[];
}

export function tcpCheckConfig(tcp: EnvoyJson): TcpCheckConfig {
  return { send: payloadBytes(tcp.send), receive: (tcp.receive ?? []).map(payloadBytes).filter((b: Buffer) => b.length > 0) };
}

/** True when the blocks appear in `data` in order. */
export function matchesInOrder(data: Buffer, blocks: Buffer[]): boolean {
  let from = 0;
  for (const b of blocks) {
    const i = data.indexOf(b, from);
    if (i < 0) return false;
    from = i + b.length;
  }
  return true;
}

/** Runs the check on `socket` (connecting or connected) and settles with its outcome; never rejects. */
export function runTcpCheck(socket: Socket, cfg: TcpCheckConfig): Promise<CheckOutcome> {
  return new Promise((resolve) => {
    let done = false;
    let got = Buffer.alloc(0);
    const finish = (o: CheckOutcome): void => {
      if (done) return;
      done = true;
      socket.destroy();
      resolve(o);
    };
    const connectEvent = 'encrypted' in socket ? 'secureConnect' : 'connect';
    socket.once(connectEvent, () => {
      if (cfg.send.length) socket.write(cfg.send);
      if (cfg.receive.length === 0) finish({ healthy: true, degraded: false });
    });
    socket.on('data', (d: Buffer) => {
      got = Buffer.concat([got, d]);
      if (matchesInOrder(got, cfg.receive)) finish({ healthy: true, degraded: false });
      else if (got.length > 64 * 1024) finish({ healthy: false, failure: 'ACTIVE', retriable: false, reason: 'expected response not found in the first 64 KiB' });
    });
    socket.on('error', (e) => finish({ healthy: false, failure: 'NETWORK', retriable: true, reason: e.message }));
    socket.on('close', () => finish({ healthy: false, failure: 'NETWORK', retriable: true, reason: 'connection closed before the expected response' }));
  });
}
