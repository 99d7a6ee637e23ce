/**
 * The ADS server (istiod's DiscoveryServer): holds the current PushContext and every
 * connection, answers SotW and delta streams on one gRPC server, and turns debounced config
 * updates into pushes that reach only the proxies whose output changed.
 *
 * @example
 * const ads = new DiscoveryServer({ generator: generate, parseProxy, buildPushContext: () => build(store) });
 * const port = await ads.listen('0.0.0.0:15010');
 * store.onChange((c) => ads.configUpdate({ full: true, reason: `config ${c.kind}` }));
 */
import * as grpc from '@grpc/grpc-js';
import { randomBytes } from 'node:crypto';
import { unpackAny } from '../codec.ts';
import { ADS_SERVICE, type AdsServiceHandlers } from '../grpc.ts';
import { PUSH_ORDER, TYPE, type EnvoyJson, type NodeJson } from '../types.ts';
import { Connection, type ConnectionStatus, type SendControl, type WatchState, type WriteFn } from './connection.ts';
import { CONSOLE_LOGGER, type Logger, type ServerCore } from './core.ts';
import { Debouncer } from './debounce.ts';
import { serveDelta } from './delta.ts';
import { EncodedResources, ResourceCache, type Generated } from './resources.ts';
import { respond } from './respond.ts';
import { serveSotw } from './sotw.ts';
import { SendThrottle } from './throttle.ts';
import { positiveNumberEnv } from '../../common/env.ts';
import type { DiscoveryServerOptions, MergedPush, PushRequest, XdsMetrics } from './types.ts';
import type { XdsProxy, XdsSnapshot } from '../types.ts';

/** Istio cluster names end with the service hostname after the last "|". */
function istioEndpointNames(services: ReadonlySet<string>, names: readonly string[]): string[] {
  return names.filter((n) => services.has(n.slice(n.lastIndexOf('|') + 1)));
}

function mergePush(a: MergedPush, b: MergedPush): MergedPush {
  const full = a.full || b.full;
  const services = a.services && b.services ? new Set([...a.services, ...b.services]) : undefined;
  const start = a.start === undefined ? b.start : b.start === undefined ? a.start : Math.min(a.start, b.start);
  return { full, services, reasons: [...a.reasons, ...b.reasons], start };
}

/** Counters for /debug and tests. */
export interface PushStats {
  /** Debounced pushes run. */
  pushes: number;
  /** configUpdate calls received. */
  requests: number;
  /** Responses sent by pushes (not by requests). */
  pushResponses: number;
  /** Generator calls (cache misses) over the server's life. */
  generations: number;
}

export class DiscoveryServer<C extends XdsSnapshot = XdsSnapshot, P extends XdsProxy = XdsProxy> implements ServerCore {
  readonly log: Logger;
  readonly metrics: XdsMetrics | undefined;
  readonly #opts: DiscoveryServerOptions<C, P>;
  readonly #conns = new Map<string, Connection<P>>();
  readonly #calls = new Set<grpc.ServerDuplexStream<any, any>>();
  readonly #debouncer: Debouncer<MergedPush>;
  readonly #noncePrefix = randomBytes(3).toString('hex');
  #cache: ResourceCache<C, P> | undefined;
  /** Encoded resources shared across shapes and consecutive pushes. */
  readonly #encoded = new EncodedResources();
  #ready: Promise<void> | undefined;
  #grpc: grpc.Server | undefined;
  #nonce = 0;
  #connSeq = 0;
  #closed = false;
  #stats: PushStats = { pushes: 0, requests: 0, pushResponses: 0, generations: 0 };
  readonly #send: SendControl;

  constructor(opts: DiscoveryServerOptions<C, P>) {
    this.#opts = opts;
    this.log = opts.log ?? CONSOLE_LOGGER;
    this.metrics = opts.metrics;
    const limit = opts.pushThrottle ?? positiveNumberEnv('PILOT_PUSH_THROTTLE', 100);
    this.#send = {
      throttle: new SendThrottle(limit, opts.pushBufferBytes ?? positiveNumberEnv('TSMESH_PUSH_BUFFER_MB', 64) * 1048576),
      sendTimeoutMs: opts.sendTimeoutMs ?? 10_000,
      onSendTimeout: (c) => this.log.warn(`ads ${c.id}: a response is not flushed after ${this.#send.sendTimeoutMs} ms; the client is slow or stalled`),
    };
    this.#debouncer = new Debouncer<MergedPush>({ ...opts.debounce, timers: opts.timers }, mergePush, (batch, merged) => this.#push(batch, merged));
  }

  /** gRPC handlers, to mount on a server the control plane owns (`server.addService(ADS_SERVICE, h)`). */
  handlers(): AdsServiceHandlers {
    return {
      StreamAggregatedResources: (call) => serveSotw(this, call),
      DeltaAggregatedResources: (call) => serveDelta(this, call),
    };
  }

  /** Starts an own gRPC server on `address` (port 0 picks one); resolves with the port. */
  async listen(address = '127.0.0.1:0', credentials = grpc.ServerCredentials.createInsecure()): Promise<number> {
    const server = new grpc.Server();
    server.addService(ADS_SERVICE, this.handlers());
    this.#grpc = server;
    await this.ready();
    return new Promise((resolve, reject) => server.bindAsync(address, credentials, (err, port) => (err ? reject(err) : resolve(port))));
  }

  /** Resolves once the first PushContext is built (built on first use). */
  ready(): Promise<void> {
    this.#ready ??= Promise.resolve(this.#opts.buildPushContext()).then((push) => {
      this.#install(push);
    });
    return this.#ready;
  }

  /** The PushContext requests are currently served from. */
  get pushContext(): C | undefined {
    return this.#cache?.push;
  }

  get stats(): Readonly<PushStats> {
    return { ...this.#stats, generations: this.#stats.generations + (this.#cache?.generations ?? 0) };
  }

  /** Asks for a push; debounced and merged with others (see PushRequest). */
  configUpdate(req: PushRequest): void {
    if (this.#closed) return;
    this.#stats.requests++;
    const full = req.full && !req.endpointsOnly;
    this.#debouncer.add({ full, services: !full && req.services ? new Set(req.services) : undefined, reasons: [req.reason], start: performance.now() });
  }

  /** Resolves when no push is pending or running. */
  idle(): Promise<void> {
    return this.#debouncer.idle();
  }

  /** Every live connection's sync state (for /debug/syncz and /debug/connections). */
  connections(): ConnectionStatus[] {
    return [...this.#conns.values()].map((c) => c.status()).sort((a, b) => (a.id < b.id ? -1 : 1));
  }

  /** Every live connection (for scrape-time gauges such as pilot_xds). */
  liveConnections(): Connection<P>[] {
    return [...this.#conns.values()];
  }

  /** Live connections of a proxy id (usually one). */
  connectionsOf(proxyId: string): Connection<P>[] {
    return [...this.#conns.values()].filter((c) => c.proxy.id === proxyId);
  }

  /**
   * What a proxy would be sent now, decoded (for /debug/config_dump): each type it watches,
   * with its current subscription.
   */
  configDump(proxyId: string): Record<string, EnvoyJson[]> | undefined {
    const conn = this.connectionsOf(proxyId)[0];
    if (!conn || !this.#cache) return undefined;
    const out: Record<string, EnvoyJson[]> = {};
    for (const [t, w] of conn.watches) {
      const gen = this.#cache.get(conn.proxy, t, w.generationNames());
      out[t] = gen instanceof Error ? [{ error: gen.message }] : [...gen.values()].map((e) => unpackAny(e.any));
    }
    return out;
  }

  /** Ends every stream (status OK), stops debounce timers and the own gRPC server. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#debouncer.close();
    for (const call of [...this.#calls]) call.end();
    this.#calls.clear();
    const server = this.#grpc;
    if (server) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, 1000);
        server.tryShutdown(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  // ---------- ServerCore ----------

  openConnection(node: NodeJson | undefined, mode: 'sotw' | 'delta', peer: string, write: WriteFn, verifiedIdentity?: string): Connection<P> {
    if (!node) throw new Error('the first request of a stream must carry the node');
    const proxy = this.#opts.parseProxy(node);
    const metrics = this.metrics;
    const counted: WriteFn = metrics
      ? (out, done) => {
          metrics.sent(out.typeUrl);
          write(out, done);
        }
      : write;
    const conn = new Connection(`${proxy.id}-${++this.#connSeq}`, proxy, node, mode, peer, counted, this.#send);
    if (verifiedIdentity) conn.verifiedIdentity = verifiedIdentity;
    this.#conns.set(conn.id, conn);
    this.log.info(`ads: new ${mode} connection ${conn.id} from ${peer}`);
    this.#hook('onConnect', conn);
    return conn;
  }

  closeConnection(conn: Connection<P>): void {
    conn.close();
    if (!this.#conns.delete(conn.id)) return;
    this.log.info(`ads: connection ${conn.id} closed`);
    this.#hook('onDisconnect', conn);
  }

  health(conn: Connection<P>, healthy: boolean, message: string): void {
    try {
      this.#opts.onHealth?.(conn, healthy, message);
    } catch (e) {
      this.log.warn(`ads: onHealth hook threw for ${conn.id}: ${(e as Error).message}`);
    }
  }

  generate(conn: Connection<P>, typeUrl: string, w: WatchState, names?: readonly string[] | ReadonlySet<string>): Generated | undefined {
    const gen = this.#cache!.get(conn.proxy, typeUrl, names ?? w.generationNames());
    if (gen instanceof Error) {
      // Keep the proxy on what it has: a generator bug must not reach it as a removal.
      w.lastError = gen.message;
      this.log.warn(`ads ${conn.id}: cannot generate ${typeUrl}: ${gen.message}`);
      return undefined;
    }
    w.lastError = undefined;
    return gen;
  }

  nonce(): string {
    return `${this.#noncePrefix}-${++this.#nonce}`;
  }

  trackCall(call: grpc.ServerDuplexStream<any, any>): () => void {
    this.#calls.add(call);
    return () => this.#calls.delete(call);
  }

  // ---------- pushes ----------

  #install(push: C): void {
    if (this.#cache) this.#stats.generations += this.#cache.generations;
    this.#encoded.rotate();
    this.#cache = new ResourceCache(push, this.#opts.generator, this.#opts.shapeKey, this.#encoded);
  }

  async #push(batch: MergedPush, merged: number): Promise<void> {
    let push: C;
    try {
      push = await this.#opts.buildPushContext();
    } catch (e) {
      this.log.warn(`ads: push (${batch.reasons.length} changes) skipped: buildPushContext failed: ${(e as Error).message}`);
      return;
    }
    if (this.#closed) return;
    this.#ready ??= Promise.resolve();
    await this.#ready; // a newer PushContext must not be overwritten by the initial one
    this.#install(push);
    this.#stats.pushes++;
    let sent = 0;
    // Yield between slices of connections: the loop used to run to its end before any
    // response reached a socket, so the first client got an endpoint change as late as the
    // last one. Each response written is also queued behind the send throttle, not serialized.
    const yieldMs = this.#opts.pushYieldMs ?? 10;
    let sliceStart = performance.now();
    // Streams of one shape share their subscription Set: pick its changed names once.
    const scoped = new WeakMap<ReadonlySet<string>, ReadonlySet<string>>();
    for (const conn of [...this.#conns.values()]) {
      if (this.#closed) return;
      if (!this.#conns.has(conn.id)) continue; // closed while the push yielded
      const n = this.#pushConnection(conn, batch, scoped);
      if (n > 0 && batch.start !== undefined) this.metrics?.converged((performance.now() - batch.start) / 1000);
      sent += n;
      if (performance.now() - sliceStart >= yieldMs) {
        await new Promise<void>((resolve) => setImmediate(resolve));
        sliceStart = performance.now();
      }
    }
    this.#stats.pushResponses += sent;
    this.log.info(`ads: push of ${merged} change(s) (${batch.full ? 'full' : 'eds'}): ${sent} response(s) to ${this.#conns.size} connection(s); ${batch.reasons.slice(0, 3).join('; ')}`);
  }

  #pushConnection(conn: Connection<P>, batch: MergedPush, scoped: WeakMap<ReadonlySet<string>, ReadonlySet<string>>): number {
    const types = batch.full ? orderTypes([...conn.watches.keys()]) : conn.watches.has(TYPE.ENDPOINT) ? [TYPE.ENDPOINT] : [];
    let sent = 0;
    for (const t of types) {
      const w = conn.watches.get(t)!;
      let names: readonly string[] | ReadonlySet<string> | undefined = w.generationNames();
      let scope: ReadonlySet<string> | undefined;
      if (!batch.full && batch.services && names) {
        // Endpoint-only push for named services: regenerate just their clusters. One Set per
        // subscription Set, so the cache keys it once for all the streams sharing it.
        const all = names as ReadonlySet<string>;
        scope = scoped.get(all);
        if (!scope) {
          scope = new Set((this.#opts.endpointNames ?? istioEndpointNames)(batch.services, [...all]));
          scoped.set(all, scope);
        }
        if (scope.size === 0) continue;
        names = scope;
      }
      const began = this.metrics ? performance.now() : 0;
      const gen = this.generate(conn, t, w, names);
      if (gen && respond(conn, t, w, gen, () => this.nonce(), scope)) {
        sent++;
        this.metrics?.pushTime(t, (performance.now() - began) / 1000);
      }
    }
    return sent;
  }

  #hook(name: 'onConnect' | 'onDisconnect', conn: Connection<P>): void {
    try {
      this.#opts[name]?.(conn);
    } catch (e) {
      this.log.warn(`ads: ${name} hook threw for ${conn.id}: ${(e as Error).message}`);
    }
  }
}

/** Known types in PUSH_ORDER (a reference never arrives before its target), others after. */
function orderTypes(types: string[]): string[] {
  const known = PUSH_ORDER.filter((t) => types.includes(t));
  return [...known, ...types.filter((t) => !(PUSH_ORDER as string[]).includes(t)).sort()];
}
