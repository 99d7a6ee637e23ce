/**
 * What every sample app shares: listen on a port (0 = any), report the bound port, and close
 * promptly (keep-alive sockets would otherwise hold close() open until they time out).
 */
import type { Server } from 'node:http';
import type { Server as NetServer } from 'node:net';
import { pathToFileURL } from 'node:url';

export type Env = Record<string, string | undefined>;

/** Options every sample's start() accepts. */
export interface BaseOptions {
  /** Port to listen on; 0 picks a free one. Defaults to env PORT, then the app's own default. */
  port?: number;
  /** Address to bind; defaults to env HOST, then all interfaces. */
  host?: string;
  /** Configuration source; defaults to process.env. Tests pass their own for isolation. */
  env?: Env;
  /** Where the one "listening" line goes; defaults to console.log. */
  log?: (line: string) => void;
}

export interface Running {
  port: number;
  close(): Promise<void>;
}

export function resolvePort(opts: BaseOptions, env: Env, fallback: number): number {
  if (opts.port !== undefined) return opts.port;
  const p = Number(env.PORT);
  return env.PORT && Number.isInteger(p) && p >= 0 && p < 65536 ? p : fallback;
}

/** Listens and resolves with the bound port; closing also ends idle and active sockets. */
export function listen(server: Server | NetServer, port: number, host: string | undefined): Promise<Running> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      const addr = server.address();
      const bound = typeof addr === 'object' && addr ? addr.port : port;
      resolve({
        port: bound,
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done());
            const http = server as Server;
            if (typeof http.closeAllConnections === 'function') http.closeAllConnections();
          }),
      });
    });
  });
}

/** True when the given module is the process entry point (run as `node --import tsx file.ts`). */
export function isMain(moduleUrl: string): boolean {
  const entry = process.argv[1];
  return entry !== undefined && pathToFileURL(entry).href === moduleUrl;
}

/** Stops on SIGINT/SIGTERM after closing, so Kubernetes-style shutdown is clean. */
export function closeOnSignals(running: Running): void {
  const stop = () => void running.close().then(() => process.exit(0));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}
