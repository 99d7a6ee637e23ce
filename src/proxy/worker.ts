/**
 * --concurrency N (Envoy's worker threads, Istio runs sidecars with 2): node:cluster worker
 * processes share each listening socket (the primary hands accepted connections out round
 * robin), giving real multi-core. One xDS stream in the primary feeds every worker: accepted
 * changes travel over IPC as decoded resources. /stats in the primary sums the workers' stats.
 */
import cluster, { type Worker } from 'node:cluster';
import type { ProxyServer } from './server.ts';
import type { AcceptedChange } from './config/xds_manager.ts';
import { mergeSnapshots, type StatsSnapshot } from './stats/stats_store.ts';
import { PUSH_ORDER, TYPE } from '../xds/types.ts';
import { log } from './logger.ts';
import { collectGarbage } from './startup_gc.ts';

type ToWorker = { kind: 'xds'; change: AcceptedChange } | { kind: 'stats'; id: number } | { kind: 'drain'; ms: number; graceMs: number } | { kind: 'init_done' };
type ToPrimary = { kind: 'hello' } | { kind: 'ready' } | { kind: 'stats'; id: number; snapshot: StatsSnapshot } | { kind: 'bound'; ports: Record<string, number> };

/** Stats owned by the primary (config and server state); the rest is summed over workers. */
const PRIMARY_PREFIXES = ['server.', 'control_plane.', 'cluster_manager.', 'listener_manager.', 'http.rds.', 'sds.'];
/** Config-level gauges every worker holds a copy of: take one, not the sum. */
const SAME_IN_EVERY_WORKER = /\.(membership_total|membership_healthy|circuit_breakers\..*)$/;

export class WorkerPool {
  private readonly workers = new Set<Worker>();
  private nextId = 1;
  private readonly pending = new Map<number, { left: number; snaps: StatsSnapshot[]; resolve: (s: StatsSnapshot[]) => void }>();
  private stopping = false;

  constructor(private readonly server: ProxyServer, private readonly count: number) {}

  /** Forks the workers and resolves once all of them are serving. */
  async start(): Promise<void> {
    this.server.xds.onAccepted((change) => this.broadcast({ kind: 'xds', change }));
    await Promise.all(Array.from({ length: this.count }, () => this.fork()));
  }

  private fork(): Promise<void> {
    return new Promise((resolve) => {
      const w = cluster.fork({ TSMESH_PROXY_WORKER: '1' });
      this.workers.add(w);
      w.on('message', (m: ToPrimary) => {
        // Messages sent before the worker listens are lost, so it asks for the state when ready to take it.
        if (m.kind === 'hello') replay();
        else if (m.kind === 'ready') resolve();
        else if (m.kind === 'bound') {
          for (const [name, port] of Object.entries(m.ports)) {
            const l = this.server.listeners.active.get(name);
            if (l) l.boundPort = port;
          }
        } else if (m.kind === 'stats') {
          const p = this.pending.get(m.id);
          if (p) {
            p.snaps.push(m.snapshot);
            if (--p.left === 0) p.resolve(p.snaps);
          }
        }
      });
      w.on('exit', (code) => {
        this.workers.delete(w);
        if (this.stopping) return;
        log.error(`worker ${w.process.pid} exited with ${code}; starting a replacement`);
        void this.fork();
      });
      const replay = () => {
        // Replay the whole dynamic state, in push order, so the worker starts where the primary is.
        for (const typeUrl of [TYPE.SECRET, ...PUSH_ORDER]) {
          const dyn = this.server.xds.dynamic.get(typeUrl);
          if (dyn?.size) w.send({ kind: 'xds', change: { typeUrl, version: this.server.xds.versions.get(typeUrl) ?? '', upserts: [...dyn], removed: [] } } satisfies ToWorker);
        }
        w.send({ kind: 'init_done' } satisfies ToWorker);
      };
    });
  }

  private broadcast(m: ToWorker): void {
    for (const w of this.workers) if (w.isConnected()) w.send(m);
  }

  /** Primary + workers, merged the way Envoy reports one process. */
  async snapshot(): Promise<StatsSnapshot> {
    this.server.refreshServerStats();
    const own = this.server.store.snapshot();
    const id = this.nextId++;
    const live = [...this.workers].filter((w) => w.isConnected());
    const snaps = await new Promise<StatsSnapshot[]>((resolve) => {
      if (live.length === 0) return resolve([]);
      this.pending.set(id, { left: live.length, snaps: [], resolve });
      for (const w of live) w.send({ kind: 'stats', id } satisfies ToWorker);
      setTimeout(() => resolve(this.pending.get(id)?.snaps ?? []), 1000).unref();
    });
    this.pending.delete(id);
    const isPrimary = (k: string) => PRIMARY_PREFIXES.some((p) => k.startsWith(p));
    const strip = (s: StatsSnapshot): StatsSnapshot => {
      const out: StatsSnapshot = { counters: {}, gauges: {}, histograms: s.histograms, tags: s.tags, ...(s.labelled ? { labelled: s.labelled } : {}) };
      for (const [k, v] of Object.entries(s.counters)) if (!isPrimary(k)) out.counters[k] = v;
      for (const [k, v] of Object.entries(s.gauges)) if (!isPrimary(k)) out.gauges[k] = v;
      return out;
    };
    const merged = mergeSnapshots(snaps.map(strip));
    for (const k of Object.keys(merged.gauges)) {
      if (SAME_IN_EVERY_WORKER.test(k)) merged.gauges[k] = Math.max(...snaps.map((s) => s.gauges[k] ?? 0));
    }
    for (const [k, v] of Object.entries(own.counters)) if (isPrimary(k)) merged.counters[k] = v;
    for (const [k, v] of Object.entries(own.gauges)) if (isPrimary(k)) merged.gauges[k] = v;
    Object.assign(merged.tags, own.tags);
    return merged;
  }

  /** Tells every worker to drain (accepting for `graceMs` first) and waits for them to exit. */
  async drain(ms: number, graceMs = 0): Promise<void> {
    this.stopping = true;
    const exits = [...this.workers].map((w) => new Promise<void>((r) => (w.isDead() ? r() : w.once('exit', () => r()))));
    this.broadcast({ kind: 'drain', ms, graceMs });
    await Promise.all(exits);
  }
}

/** Worker side: applies what the primary forwards, reports readiness, stats and bound ports. */
export async function runWorker(server: ProxyServer, onDrain: (ms: number, graceMs: number) => void): Promise<void> {
  const queue: ToWorker[] = [];
  let initDone: (() => void) | undefined;
  const initP = new Promise<void>((r) => (initDone = r));
  const send = (m: ToPrimary) => process.send?.(m);
  const bound = () => {
    const ports: Record<string, number> = {};
    for (const [n, l] of server.listeners.active) if (l.boundPort) ports[n] = l.boundPort;
    send({ kind: 'bound', ports });
  };
  const applyChange = (c: AcceptedChange) => {
    const r = server.xds.validate(c.typeUrl, c.upserts, c.removed);
    if (!r.ok) log.error(`worker: primary-accepted ${c.typeUrl} failed here: ${r.error}`);
    else server.xds.apply(c.typeUrl, c.upserts, c.removed, c.version);
    if (c.typeUrl === TYPE.LISTENER) void server.listeners.listening().then(bound);
  };
  let started = false;
  process.on('message', (m: ToWorker) => {
    if (m.kind === 'stats') {
      server.refreshServerStats();
      send({ kind: 'stats', id: m.id, snapshot: server.store.snapshot() });
    } else if (m.kind === 'drain') onDrain(m.ms, m.graceMs);
    else if (m.kind === 'init_done') initDone?.();
    else if (!started) queue.push(m);
    else applyChange(m.change);
  });
  send({ kind: 'hello' });
  await server.start();
  await initP;
  started = true;
  for (const m of queue.splice(0)) if (m.kind === 'xds') applyChange(m.change);
  await new Promise<void>((r) => server.listeners.whenWarm(r));
  await server.listeners.listening();
  bound();
  collectGarbage(); // start-up's garbage (src/proxy/startup_gc.ts)
  send({ kind: 'ready' });
}

export const isProxyWorker = (): boolean => cluster.isWorker && process.env.TSMESH_PROXY_WORKER === '1';
