/**
 * Listeners at run time (Envoy's ListenerManagerImpl). Add, update and remove never refuse a
 * connection: a listening socket is keyed by address and kept across updates of the listener
 * bound to it; each accept looks up the listener currently in charge, so new connections get the
 * new filter chains while the old listener drains its own (drain time: --drain-time-s).
 * Listeners with bind_to_port false only receive hand-offs from a use_original_dst listener.
 * A listener warms until the RDS routes and SDS secrets it names exist.
 */
import net, { type Server, type Socket } from 'node:net';
import type { EnvoyJson } from '../../xds/types.ts';
import type { ConnectionInfo } from '../interfaces.ts';
import type { StatsStore } from '../stats/stats_store.ts';
import type { RouteConfigProviderImpl } from '../config/route_config_provider.ts';
import { rdsNamesOfListener } from '../config/route_config_provider.ts';
import { log } from '../logger.ts';
import { ERR } from '../../api/errors.ts';
import { normalizeIp } from './cidr.ts';
import { ListenerImpl, type ListenerDeps } from './listener_impl.ts';
import { originalDestination, readProxyProtocol } from './original_dst.ts';
import { setTransparent } from './so_original_dst.ts';

/**
 * IP_TRANSPARENT on a listening server, for a listener with `transparent: true` (TPROXY). Node
 * binds and listens in one call, so the option is set right after: the flag is read by xt_TPROXY
 * per packet, and a SYN that arrived in between was dropped and is retransmitted. Needs
 * CAP_NET_ADMIN (Istio gives the proxy that capability in TPROXY mode). Returns the failure.
 */
function makeTransparent(server: Server, l: ListenerImpl): Error | undefined {
  if (!l.transparent) return undefined;
  const fd = (server as unknown as { _handle?: { fd?: number } })._handle?.fd;
  if (typeof fd !== 'number' || fd < 0) return new Error('transparent: the listening socket has no file descriptor');
  try {
    setTransparent(fd, l.ip.includes(':') ? 6 : 4);
    return undefined;
  } catch (e) {
    return new Error(`transparent: ${(e as Error).message}${(e as NodeJS.ErrnoException).code === 'EPERM' ? ' (the proxy needs CAP_NET_ADMIN for TPROXY)' : ''}`);
  }
}

interface BoundSocket {
  server: Server;
  /** Name of the listener currently served by this socket. */
  listener: string;
}

export interface ListenerManagerOptions {
  drainMs: number;
  /** Accept a PROXY v1 line as the original destination on use_original_dst listeners. */
  explicitProxy?: boolean;
  /** Envoy's initial_fetch_timeout for RDS while warming (15 s). */
  warmingTimeoutMs?: number;
  /** False in the --concurrency primary: it validates and dumps config, workers bind. */
  bind?: boolean;
}

export class ListenerManager {
  readonly active = new Map<string, ListenerImpl>();
  readonly warming = new Map<string, ListenerImpl>();
  private readonly sockets = new Map<string, BoundSocket>();
  /** "ip:port" -> listener name, for use_original_dst hand-off (includes bind_to_port false). */
  private readonly byAddress = new Map<string, string>();
  private readonly warmWaiters: (() => void)[] = [];
  private readonly draining = new Set<ListenerImpl>();
  /** Listener name -> why its socket could not be bound (EADDRINUSE...), until a bind succeeds. */
  readonly bindErrors = new Map<string, NodeJS.ErrnoException>();
  /** Sockets bound while validating an LDS update ("ip:port" -> server and listener), taken over on activation. */
  private readonly reserved = new Map<string, { server: Server; listener: string; pending: Socket[] }>();
  private stopped = false;

  constructor(private readonly deps: ListenerDeps, private readonly routes: RouteConfigProviderImpl, private readonly opts: ListenerManagerOptions) {
    routes.onChange(() => this.checkWarming());
    deps.secrets.onChange(() => this.rebuildForSecrets());
    for (const g of ['total_listeners_active', 'total_listeners_warming', 'total_listeners_draining']) deps.store.gauge(`listener_manager.${g}`);
  }

  /** Validates by building; throws with the listener name and field path (the caller NACKs). */
  build(config: EnvoyJson, version: string): ListenerImpl {
    try {
      return new ListenerImpl(config, version, this.deps);
    } catch (e) {
      throw new Error(`listener ${config.name}: ${(e as Error).message}`);
    }
  }

  /**
   * Binds the addresses of new listeners before their LDS update is accepted: Node binds
   * asynchronously, so an address in use can only be found by trying. Returns one error per
   * listener that cannot bind (the update is then NACKed and nothing stays bound); the sockets
   * that did bind are held for those listeners until they activate or go away.
   * Addresses this manager serves already (updates, moves onto a removed listener's port) and
   * port 0 need no reservation.
   */
  async reserve(listeners: ListenerImpl[]): Promise<string[]> {
    if (this.opts.bind === false || this.stopped) return [];
    const fresh: [string, ListenerImpl][] = [];
    for (const l of listeners) {
      const key = `${l.ip}:${l.port}`;
      if (!l.bindToPort || l.port === 0 || this.sockets.has(key)) continue;
      const r = this.reserved.get(key);
      if (r) {
        r.listener = l.config.name;
        continue;
      }
      fresh.push([key, l]);
    }
    const results = await Promise.all(
      fresh.map(
        ([key, l]) =>
          new Promise<{ key: string; name: string; server?: Server; error?: string }>((resolve) => {
            const name: string = l.config.name;
            const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true, noDelay: true }, (sock) => this.onAccept(key, sock));
            server.once('error', (e: NodeJS.ErrnoException) => {
              const why = e.code === 'EADDRINUSE' ? `address ${key} is already in use [${ERR.ADDRESS_IN_USE}]` : `cannot listen on ${key}: ${e.message} [${ERR.ADDRESS_IN_USE}]`;
              resolve({ key, name, error: `listener ${name}: ${why}` });
            });
            server.listen({ host: l.ip, port: l.port, backlog: 1024 }, () => {
              const e = makeTransparent(server, l);
              if (!e) return resolve({ key, name, server });
              server.close();
              resolve({ key, name, error: `listener ${name}: ${e.message}` });
            });
          }),
      ),
    );
    const errors = results.flatMap((r) => (r.error ? [r.error] : []));
    for (const r of results) {
      if (!r.server) continue;
      if (errors.length) r.server.close();
      else this.reserved.set(r.key, { server: r.server, listener: r.name, pending: [] });
    }
    return errors;
  }

  /** Closes reservations of a listener (removed before it activated, or moved to another address). */
  private releaseReserved(name: string, exceptKey?: string): void {
    for (const [key, r] of this.reserved) {
      if (r.listener !== name || key === exceptKey) continue;
      for (const sock of r.pending) sock.destroy();
      r.server.close();
      this.reserved.delete(key);
    }
  }

  /** Adds or replaces a built listener; it becomes active once warm. Unchanged config is a no-op. */
  addOrUpdate(l: ListenerImpl): void {
    const name: string = l.config.name;
    const cur = this.warming.get(name) ?? this.active.get(name);
    if (cur && JSON.stringify(cur.config) === JSON.stringify(l.config) && cur.missingSecrets.length === 0) {
      cur.version = l.version;
      if (cur !== l) l.release();
      return;
    }
    const superseded = this.warming.get(name);
    if (superseded && superseded !== l) superseded.release();
    this.warming.set(name, l);
    this.deps.store.counter(`listener_manager.listener_${this.active.has(name) ? 'modified' : 'added'}`).inc();
    const timeout = this.opts.warmingTimeoutMs ?? 15_000;
    setTimeout(() => this.activate(l, true), timeout).unref();
    this.checkWarming();
  }

  remove(name: string): void {
    this.warming.get(name)?.release();
    this.warming.delete(name);
    this.releaseReserved(name);
    const l = this.active.get(name);
    if (!l) return this.updateGauges();
    this.active.delete(name);
    this.deps.store.counter('listener_manager.listener_removed').inc();
    this.unindex(l);
    for (const [key, b] of this.sockets) {
      if (b.listener === name) {
        b.server.close();
        this.sockets.delete(key);
      }
    }
    this.startDrain(l);
    this.updateGauges();
  }

  private isWarm(l: ListenerImpl): boolean {
    return l.missingSecrets.length === 0 && rdsNamesOfListener(l.config).every((n) => this.routes.has(n));
  }

  private checkWarming(): void {
    for (const l of [...this.warming.values()]) if (this.isWarm(l)) this.activate(l, false);
    this.updateGauges();
  }

  private rebuildForSecrets(): void {
    for (const l of [...this.warming.values(), ...this.active.values()]) {
      if (l.missingSecrets.length === 0 && !l.config.filter_chains?.some((fc: EnvoyJson) => fc.transport_socket)) continue;
      try {
        const nl = this.build(l.config, l.version);
        if (nl.missingSecrets.length !== 0) {
          nl.release();
          continue;
        }
        // A serving listener gets the new secrets in place (no drain); a warming one activates.
        if (this.active.get(l.config.name) === l) {
          l.adoptTls(nl);
          nl.release();
        } else if (this.warming.get(l.config.name) === l) {
          this.warming.set(l.config.name, nl);
          l.release();
          this.activate(nl, false);
        } else nl.release();
      } catch (e) {
        log.warn((e as Error).message);
      }
    }
  }

  private activate(l: ListenerImpl, timedOut: boolean): void {
    const name: string = l.config.name;
    if (this.warming.get(name) !== l || this.stopped) return;
    if (timedOut) log.warn(`listener ${name}: warming timed out waiting for routes/secrets; activating anyway`);
    this.warming.delete(name);
    const old = this.active.get(name);
    this.active.set(name, l);
    if (old) this.unindex(old);
    this.byAddress.set(`${l.ip}:${l.port}`, name);
    if (l.bindToPort && this.opts.bind !== false) this.bind(l, old);
    else if (old) this.releaseSocketsOf(old);
    if (old) this.startDrain(old);
    this.updateGauges();
    if (this.warming.size === 0) for (const w of this.warmWaiters.splice(0)) w();
  }

  private bind(l: ListenerImpl, old: ListenerImpl | undefined): void {
    const name: string = l.config.name;
    const key = l.port === 0 ? `${name}@${l.ip}:0` : `${l.ip}:${l.port}`;
    const existing = this.sockets.get(key) ?? (old && old.port === 0 && old.ip === l.ip ? this.sockets.get(`${name}@${old.ip}:0`) : undefined);
    if (old && (old.ip !== l.ip || old.port !== l.port)) this.releaseSocketsOf(old, key);
    if (existing) {
      existing.listener = name;
      l.boundPort = old?.boundPort ?? l.port;
      // An update that turns transparent on keeps the socket; the flag is set on it in place.
      const e = makeTransparent(existing.server, l);
      if (e) {
        this.deps.store.counter('listener_manager.listener_create_failure').inc();
        log.error(`listener ${name}: ${e.message}`);
      }
      return;
    }
    this.releaseReserved(name, key);
    const held = this.reserved.get(key);
    if (held) {
      // Bound while the update was validated: serve on it.
      this.reserved.delete(key);
      this.sockets.set(key, { server: held.server, listener: name });
      this.bindErrors.delete(name);
      l.boundPort = l.port;
      // Connections that arrived while the listener warmed waited (paused), as in a kernel backlog.
      queueMicrotask(() => {
        for (const sock of held.pending) if (!sock.destroyed) this.onAccept(key, sock);
      });
      return;
    }
    const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true, noDelay: true }, (s) => this.onAccept(key, s));
    this.sockets.set(key, { server, listener: name });
    server.on('error', (e: NodeJS.ErrnoException) => {
      this.bindErrors.set(name, e);
      this.deps.store.counter('listener_manager.listener_create_failure').inc();
      log.error(`listener ${name}: cannot bind ${l.ip}:${l.port}: ${e.message}`);
      if (this.sockets.get(key)?.server === server) this.sockets.delete(key);
      if (this.active.get(name) === l) {
        this.active.delete(name);
        this.unindex(l);
        l.release();
        this.updateGauges();
      }
    });
    server.listen({ host: l.ip, port: l.port, backlog: 1024 }, () => {
      const e = makeTransparent(server, l);
      if (e) {
        server.emit('error', e);
        server.close();
        return;
      }
      this.bindErrors.delete(name);
      const a = server.address();
      if (a && typeof a === 'object') l.boundPort = a.port;
    });
  }

  private releaseSocketsOf(old: ListenerImpl, exceptKey?: string): void {
    for (const [key, b] of this.sockets) {
      if (b.listener === old.config.name && key !== exceptKey) {
        b.server.close();
        this.sockets.delete(key);
      }
    }
  }

  private unindex(l: ListenerImpl): void {
    const k = `${l.ip}:${l.port}`;
    if (this.byAddress.get(k) === l.config.name) this.byAddress.delete(k);
  }

  private startDrain(l: ListenerImpl): void {
    this.draining.add(l);
    this.updateGauges();
    void l.drain(this.opts.drainMs).then(() => {
      this.draining.delete(l);
      l.release();
      this.updateGauges();
    });
  }

  private onAccept(key: string, socket: Socket): void {
    const b = this.sockets.get(key);
    const l = b && this.active.get(b.listener);
    if (!l) {
      // A reserved address whose listener is still warming: hold the connection until it activates.
      const r = b ? undefined : this.reserved.get(key);
      if (r) {
        r.pending.push(socket);
        socket.once('close', () => r.pending.splice(r.pending.indexOf(socket) >>> 0, 1));
        return;
      }
      socket.destroy();
      return;
    }
    socket.setNoDelay(true);
    const info: ConnectionInfo = {
      remoteAddress: normalizeIp(socket.remoteAddress ?? ''),
      remotePort: socket.remotePort ?? 0,
      localAddress: normalizeIp(socket.localAddress ?? ''),
      localPort: socket.localPort ?? 0,
    };
    if (!l.useOriginalDst && !l.listenerFilters.originalDst) return l.onAccept(socket, info);
    const proceed = (dst: { ip: string; port: number } | undefined) => {
      if (dst) {
        info.localAddress = normalizeIp(dst.ip);
        info.localPort = dst.port;
      }
      this.handOff(l, socket, info);
    };
    if (this.opts.explicitProxy && l.useOriginalDst) {
      socket.on('error', () => {});
      readProxyProtocol(socket, (dst) => proceed(dst ?? this.originalDst(l, socket)));
    } else proceed(this.originalDst(l, socket));
  }

  /**
   * The connection's original destination; a failure to read it (not "was not redirected", which
   * is the local address) is counted in listener.<address>.original_dst_errors and logged once,
   * and the connection keeps its local address, as Envoy's original_dst filter does.
   */
  private originalDst(l: ListenerImpl, socket: Socket): { ip: string; port: number } | undefined {
    try {
      return originalDestination(socket);
    } catch (e) {
      l.stats.counter('original_dst_errors').inc();
      log.warnOnce(`original-dst-error-${l.config.name}`, `listener ${l.config.name}: cannot read the original destination (${(e as Error).message}); connections keep their local address`);
      return undefined;
    }
  }

  /** use_original_dst: the listener for ip:port, else 0.0.0.0:port / [::]:port, else this one. */
  private handOff(from: ListenerImpl, socket: Socket, info: ConnectionInfo): void {
    if (from.useOriginalDst) {
      const name = this.byAddress.get(`${info.localAddress}:${info.localPort}`) ?? this.byAddress.get(`0.0.0.0:${info.localPort}`) ?? this.byAddress.get(`:::${info.localPort}`);
      const target = name ? this.active.get(name) : undefined;
      if (target && target !== from) return target.onAccept(socket, info);
    }
    from.onAccept(socket, info);
  }

  /** Resolves once no listener is warming (Envoy's listener manager initialization). */
  whenWarm(cb: () => void): void {
    if (this.warming.size === 0) cb();
    else this.warmWaiters.push(cb);
  }

  /** Stops accepting on every socket and drains every listener (shutdown, /drain_listeners). */
  async drainAll(drainMs: number, stopAccepting = true): Promise<void> {
    if (stopAccepting) {
      this.stopped = true;
      for (const b of [...this.sockets.values(), ...this.reserved.values()]) b.server.close();
      this.sockets.clear();
      this.reserved.clear();
    }
    await Promise.all([...this.active.values(), ...this.draining].map((l) => l.drain(drainMs)));
  }

  /** Resolves when every bound socket is listening (for the ready line and tests). */
  async listening(): Promise<void> {
    await Promise.all(
      [...this.sockets.values()].map(
        (b) => new Promise<void>((resolve) => (b.server.listening ? resolve() : (b.server.once('listening', () => resolve()), b.server.once('error', () => resolve())))),
      ),
    );
    // Let the listen callbacks record bound ports.
    await new Promise((r) => setImmediate(r));
  }

  private updateGauges(): void {
    const s = this.deps.store;
    s.gauge('listener_manager.total_listeners_active').set(this.active.size);
    s.gauge('listener_manager.total_listeners_warming').set(this.warming.size);
    s.gauge('listener_manager.total_listeners_draining').set(this.draining.size);
  }
}
