/**
 * The admin API (Envoy's admin on 127.0.0.1:15000): config_dump, clusters, listeners, stats
 * (text, JSON, Prometheus), ready, server_info, drain_listeners, healthcheck fail/ok,
 * quitquitquit and logging. Mutating endpoints need POST, as in Envoy. Stats come from a
 * snapshot provider so that with --concurrency the primary can answer for all workers.
 */
import http, { type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { ProxyServer } from '../server.ts';
import type { StatsSnapshot } from '../stats/stats_store.ts';
import { renderJson, renderPrometheus, renderText } from '../stats/render.ts';
import { LEVELS, logLevel, setLogLevel } from '../logger.ts';
import { clustersJson, clustersText } from './clusters.ts';
import { configDump } from './config_dump.ts';
import { statFilter, type StatFilter } from './stat_filter.ts';
import { tapAdminHandler } from '../tap/tap_admin.ts';

export interface AdminOptions {
  server: ProxyServer;
  /** Stats of every process (primary + workers); defaults to this process's store. */
  snapshot?: () => Promise<StatsSnapshot>;
  /** /quitquitquit: begins shutdown (the command exits once drained). */
  onQuit: () => void;
  version: string;
  commandLineOptions: Record<string, unknown>;
  /** The workload agent's state (identity, certificate, rotations, failures), when one runs beside the proxy. */
  agent?: () => unknown;
}

type Handler = (q: URLSearchParams, req: IncomingMessage) => Promise<[number, string, string]> | [number, string, string];

const TEXT = 'text/plain; charset=UTF-8';
const JSON_CT = 'application/json';

export class AdminServer {
  private server?: Server;
  private readonly handlers = new Map<string, { help: string; post: boolean; fn: Handler }>();
  /** Endpoints that stream their answer (own the response). */
  private readonly streams = new Map<string, (req: IncomingMessage, res: ServerResponse) => Promise<void>>();

  constructor(private readonly o: AdminOptions) {
    const s = o.server;
    const snap = () => (o.snapshot ? o.snapshot() : (s.refreshServerStats(), Promise.resolve(s.store.snapshot())));
    if (o.agent) {
      const agent = o.agent;
      this.add('/agent', "the workload agent: identity, certificate serial and expiry, rotations, CA failures", false, () => [200, JSON_CT, JSON.stringify(agent(), null, 2)]);
    }
    this.add('/config_dump', 'dump current Envoy configs', false, (q) => [200, JSON_CT, JSON.stringify(configDump(s, q), null, 2)]);
    this.add('/clusters', 'upstream cluster status', false, (q) => (q.get('format') === 'json' ? [200, JSON_CT, JSON.stringify(clustersJson(s.clusters), null, 2)] : [200, TEXT, clustersText(s.clusters)]));
    this.add('/listeners', 'print listener info', false, (q) => {
      const ls = [...s.listeners.active.values()].sort((a, b) => (a.config.name < b.config.name ? -1 : 1));
      if (q.get('format') === 'json') {
        return [200, JSON_CT, JSON.stringify({ listener_statuses: ls.map((l) => ({ name: l.config.name, local_address: { socket_address: { address: l.ip, port_value: l.boundPort || l.port } } })) }, null, 2)];
      }
      return [200, TEXT, ls.map((l) => `${l.config.name}::${l.ip}:${l.boundPort || l.port}\n`).join('')];
    });
    this.add('/stats', 'print server stats', false, async (q) => {
      const data = await snap();
      if (q.get('format') === 'json') return [200, JSON_CT, renderJson(data)];
      if (q.get('format') === 'prometheus') return [200, 'text/plain; version=0.0.4', renderPrometheus(data)];
      let filter: StatFilter | undefined;
      try {
        filter = q.get('filter') ? statFilter(q.get('filter')!) : undefined;
      } catch {
        return [400, TEXT, 'Invalid regex\n'];
      }
      return [200, TEXT, renderText(data, filter)];
    });
    this.add('/stats/prometheus', 'print server stats in prometheus format', false, async () => [200, 'text/plain; version=0.0.4; charset=utf-8', renderPrometheus(await snap())]);
    this.add('/ready', 'print server state, return 200 if LIVE, otherwise return 503', false, () => {
      const st = this.state();
      return [st === 'LIVE' ? 200 : 503, TEXT, `${st}\n`];
    });
    this.add('/server_info', 'print server version/status information', false, () => [
      200,
      JSON_CT,
      JSON.stringify(
        {
          version: o.version,
          state: this.state(),
          hot_restart_version: 'disabled',
          command_line_options: o.commandLineOptions,
          node: s.opts.bootstrap.node,
          uptime_current_epoch: `${s.uptimeSeconds()}s`,
          uptime_all_epochs: `${s.uptimeSeconds()}s`,
        },
        null,
        2,
      ),
    ]);
    this.add('/drain_listeners', 'drain listeners (?graceful, ?inboundonly)', true, (q) => {
      void s.drainListeners(q.has('graceful'));
      return [200, TEXT, 'OK\n'];
    });
    this.add('/healthcheck/fail', 'cause the server to fail health checks', true, () => {
      s.healthCheckFailed = true;
      return [200, TEXT, 'OK\n'];
    });
    this.add('/healthcheck/ok', 'cause the server to pass health checks', true, () => {
      s.healthCheckFailed = false;
      return [200, TEXT, 'OK\n'];
    });
    this.add('/quitquitquit', 'exit the server', true, () => {
      setImmediate(o.onQuit);
      return [200, TEXT, 'OK\n'];
    });
    this.add('/logging', 'query/change logging levels (?level= for all, ?<logger>= for one)', true, (q) => {
      const level = q.get('level');
      if (level && !setLogLevel(level)) return [400, TEXT, `unknown level ${level}; one of ${LEVELS.join(', ')}\n`];
      // Envoy's ?<logger>=<level>: this proxy has one logger, tsmesh.
      for (const [name, value] of q) {
        if (name === 'level') continue;
        if (name !== 'tsmesh') return [404, TEXT, `error: unknown logger name ${name}; this proxy has one logger: tsmesh\n`];
        if (!setLogLevel(value)) return [400, TEXT, `unknown level ${value}; one of ${LEVELS.join(', ')}\n`];
      }
      return [200, TEXT, `active loggers:\n  tsmesh: ${logLevel()}\n`];
    });
    this.streams.set('/tap', tapAdminHandler(s));
    this.add('/tap', 'stream finished requests as JSON lines while connected (needs a control-plane tap token; see tsmesh tap)', true, () => [405, TEXT, 'This endpoint requires POST\n']);
    this.add('/help', 'print out list of admin commands', false, () => [200, TEXT, this.help()]);
    this.add('/', 'admin home page', false, () => [200, TEXT, this.help()]);
  }

  /** Envoy reports DRAINING while health checks are failed. */
  private state(): string {
    return this.o.server.healthCheckFailed && this.o.server.state === 'LIVE' ? 'DRAINING' : this.o.server.state;
  }

  private add(path: string, help: string, post: boolean, fn: Handler): void {
    this.handlers.set(path, { help, post, fn });
  }

  private help(): string {
    return 'admin commands are:\n' + [...this.handlers].filter(([p]) => p !== '/').map(([p, h]) => `  ${p}${h.post ? ' (POST)' : ''}: ${h.help}\n`).join('');
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://admin');
    const stream = this.streams.get(url.pathname);
    if (stream && req.method === 'POST') return stream(req, res);
    const h = this.handlers.get(url.pathname);
    let status: number;
    let type = TEXT;
    let body: string;
    if (!h) [status, body] = [404, `invalid path. ${this.help()}`];
    else if (h.post && req.method !== 'POST') [status, body] = [405, 'This endpoint requires POST\n'];
    else {
      try {
        [status, type, body] = await h.fn(url.searchParams, req);
      } catch (e) {
        [status, body] = [500, `${(e as Error).message}\n`];
      }
    }
    res.writeHead(status, { 'content-type': type, 'cache-control': 'no-cache, max-age=0', 'x-content-type-options': 'nosniff' });
    res.end(body);
  }

  listen(ip: string, port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      const server = http.createServer((req, res) => {
        req.resume();
        void this.handle(req, res);
      });
      this.server = server;
      server.once('error', reject);
      // exclusive: with --concurrency the admin socket belongs to the primary only.
      server.listen({ host: ip, port, exclusive: true }, () => {
        const a = server.address();
        resolve(a && typeof a === 'object' ? a.port : port);
      });
    });
  }

  close(): Promise<void> {
    return new Promise((r) => {
      if (!this.server) return r();
      this.server.close(() => r());
      this.server.closeAllConnections();
    });
  }
}
