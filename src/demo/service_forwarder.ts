/**
 * A Service address for the demo's control-plane replicas, as kube-proxy gives istiod's Service:
 * one local port whose connections go to the first replica that accepts them (bytes piped as
 * they are, so TLS stays end to end between the API server and the replica). The demo has no
 * kube-proxy, and a webhook configuration names one URL; without this, admission stopped
 * whenever the replica behind that URL was down.
 */
import { connect, createServer, type Server, type Socket } from 'node:net';

export interface ServiceForwarder {
  port: number;
  close(): Promise<void>;
}

/** Listens on host:port; each connection is piped to the first of `backends()` that accepts it. */
export async function startServiceForwarder(host: string, port: number, backends: () => number[]): Promise<ServiceForwarder> {
  const open = new Set<Socket>();
  const server: Server = createServer((down) => {
    open.add(down);
    down.on('close', () => open.delete(down));
    down.on('error', () => undefined);
    down.pause();
    const candidates = backends().filter((p) => p > 0);
    const next = (i: number): void => {
      if (i >= candidates.length || down.destroyed) return void down.destroy();
      const up = connect(candidates[i]!, host);
      up.once('error', () => next(i + 1));
      up.once('connect', () => {
        up.removeAllListeners('error');
        open.add(up);
        up.on('close', () => open.delete(up));
        up.on('error', () => down.destroy());
        down.on('error', () => up.destroy());
        down.pipe(up).pipe(down);
        down.resume();
      });
    };
    next(0);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return {
    port: (server.address() as { port: number }).port,
    close: () =>
      new Promise<void>((r) => {
        for (const s of open) s.destroy();
        server.close(() => r());
      }),
  };
}
