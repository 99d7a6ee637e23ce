/**
 * One listener config, built (Envoy's ListenerImpl + ActiveTcpListener): listener filters,
 * compiled filter chain matcher, per-chain TLS context and network filter handlers, stats under
 * listener.<address>.*, and the connections it owns so that an update or removal can drain them.
 * Building throws with a field path on bad config; the manager turns that into a NACK.
 */
import { createHash } from 'node:crypto';
import type { Socket } from 'node:net';
import tls from 'node:tls';
import type { EnvoyJson } from '../../xds/types.ts';
import type { ConnectionInfo, FactoryContext } from '../interfaces.ts';
import type { StatsStore, ScopedStats } from '../stats/stats_store.ts';
import type { SecretManager } from '../config/secret_manager.ts';
import { networkFilterFactory } from '../filters/network/registry.ts';
import { downstreamTlsOptions, tlsContextOf } from '../tls/tls_context.ts';
import type { SanCheck } from '../tls/san_matcher.ts';
import { socketAddress } from '../upstream/eds.ts';
import { durationMs } from '../duration.ts';
import { log } from '../logger.ts';
import { normalizeIp } from './cidr.ts';
import { FilterChainMatcher } from './filter_chain_match.ts';
import { compileListenerFilters, runListenerFilters, type ListenerFilterConfig } from './listener_filters.ts';
import { loadAddon } from './so_original_dst.ts';

type Handler = (socket: Socket, info: ConnectionInfo) => void | 'continue';

/** One accepted connection and the work (HTTP streams) running on it. */
interface Conn {
  socket: Socket;
  /** Streams in flight on this connection (work registered with its ConnectionInfo). */
  active: number;
  /** Whether any work was ever tied to this connection (HTTP); TCP sessions are not. */
  tracked: boolean;
  /** When the connection last became idle (accepted, or its last stream ended). */
  idleSince: number;
}

/**
 * How long a connection must have been idle before a drain closes it. HTTP/1.1 has no graceful
 * close: ending a keep-alive connection races a request the peer may be writing on it that very
 * moment, which the peer then sees fail. Busy connections close themselves (Connection: close /
 * GOAWAY on their next response); only connections left unused for this long are ended.
 */
const IDLE_CLOSE_MS = 1000;

interface BuiltChain {
  name: string;
  handlers: Handler[];
  tls?: { context: tls.SecureContext; requestCert: boolean; rejectUnauthorized: boolean; alpn?: string[]; sanCheck?: SanCheck };
}

/** Envoy's listener stat prefix: "0.0.0.0_15001" for 0.0.0.0:15001. */
export function listenerStatName(config: EnvoyJson): string {
  if (config.stat_prefix) return config.stat_prefix;
  const sa = socketAddress(config.address);
  return sa ? `${sa.ip}_${sa.port}` : config.name;
}

/** Releases of builds collected without release() (see the constructor). */
const unreleased = new FinalizationRegistry<(() => void)[]>((fns) => {
  for (const fn of fns.splice(0)) fn();
});

export interface ListenerDeps {
  store: StatsStore;
  secrets: SecretManager;
  /** Everything except draining/trackActive/releaseActive, which the listener supplies. */
  ctx: Omit<FactoryContext, 'draining' | 'trackActive' | 'releaseActive'>;
}

export class ListenerImpl {
  readonly ip: string;
  readonly port: number;
  readonly bindToPort: boolean;
  readonly useOriginalDst: boolean;
  /** IP_TRANSPARENT on the listening socket (TPROXY inbound: xt_TPROXY only delivers to such sockets). */
  readonly transparent: boolean;
  readonly stats: ScopedStats;
  readonly listenerFilters: ListenerFilterConfig;
  readonly lastUpdated = new Date().toISOString();
  /** SDS secrets still missing (warming). */
  readonly missingSecrets: string[] = [];
  private readonly matcher: FilterChainMatcher<BuiltChain>;
  /** The built chains in config order (filter_chains, then default_filter_chain), for adoptTls. */
  private readonly builtChains: BuiltChain[];
  private readonly connections = new Map<Socket, Conn>();
  private readonly connOfInfo = new WeakMap<ConnectionInfo, Conn>();
  private activeWork = 0;
  private idleSweep: NodeJS.Timeout | undefined;
  private drainWaiters: (() => void)[] = [];
  private readonly releases: (() => void)[] = [];
  draining = false;
  /** Port actually bound (differs from config when it asked for 0). */
  boundPort = 0;

  constructor(readonly config: EnvoyJson, public version: string, deps: ListenerDeps) {
    const sa = socketAddress(config.address);
    if (!sa) throw new Error(`listener ${config.name}: address.socket_address is required`);
    this.ip = normalizeIp(sa.ip);
    this.port = sa.port;
    this.bindToPort = config.bind_to_port !== false && config.deprecated_v1?.bind_to_port !== false;
    this.useOriginalDst = config.use_original_dst === true;
    this.transparent = config.transparent === true || config.transparent?.value === true;
    if (this.transparent && this.bindToPort) {
      // Refused up front (NACK), never accepted and then silently serving nothing.
      try {
        loadAddon();
      } catch (e) {
        throw new Error(`transparent: IP_TRANSPARENT is set through the native addon: ${(e as Error).message}`);
      }
    }
    const statName = listenerStatName(config);
    this.stats = deps.store.scope(`listener.${statName}.`, { family: 'listener', label: 'envoy_listener_address', value: statName });
    for (const n of ['downstream_cx_total', 'downstream_cx_destroy', 'no_filter_chain_match', 'downstream_listener_filter_error', 'ssl.connection_error', 'ssl.handshake']) this.stats.counter(n);
    this.stats.gauge('downstream_cx_active');
    if (this.useOriginalDst) this.stats.counter('original_dst_errors');
    this.listenerFilters = compileListenerFilters(config, durationMs(config.listener_filters_timeout, 15_000));
    const releases = this.releases;
    const ctx: FactoryContext = {
      ...deps.ctx,
      draining: () => this.draining,
      trackActive: (conn) => this.trackActive(conn),
      releaseActive: (conn) => this.releaseActive(conn),
      trafficDirection: config.traffic_direction,
      onRelease: (fn) => void releases.push(fn),
    };
    try {
      const build = (fc: EnvoyJson, path: string): BuiltChain => this.buildChain(fc, path, ctx, deps.secrets);
      const chains = (config.filter_chains ?? []).map((fc: EnvoyJson, i: number) => ({ match: fc.filter_chain_match, value: build(fc, `filter_chains[${i}]`) }));
      const seen = new Set<string>();
      (config.filter_chains ?? []).forEach((fc: EnvoyJson, i: number) => {
        const k = JSON.stringify(fc.filter_chain_match ?? {});
        if (seen.has(k)) throw new Error(`filter_chains[${i}].filter_chain_match: multiple filter chains with the same matching rules are defined`);
        seen.add(k);
      });
      const def = config.default_filter_chain ? build(config.default_filter_chain, 'default_filter_chain') : undefined;
      this.matcher = new FilterChainMatcher(chains, def);
      this.builtChains = [...chains.map((c: { value: BuiltChain }) => c.value), ...(def ? [def] : [])];
    } catch (e) {
      this.release();
      throw e;
    }
    // A build the manager drops without releasing (a NACKed update, a rebuild it did not keep)
    // still gives back what it holds once collected.
    if (releases.length) unreleased.register(this, releases, this);
  }

  /**
   * This build is gone for good (drained and dropped, or never used): gives back the shared
   * resources its filters hold (FactoryContext.onRelease). Idempotent.
   */
  release(): void {
    unreleased.unregister(this);
    for (const fn of this.releases.splice(0)) fn();
  }

  /**
   * Takes the TLS contexts of `fresh`, a build of this same config after an SDS secret changed
   * (a certificate rotation): new handshakes use them, open connections keep theirs. Envoy
   * updates its SSL contexts in place too; draining the listener would cut every connection.
   */
  adoptTls(fresh: ListenerImpl): void {
    fresh.builtChains.forEach((c, i) => {
      const mine = this.builtChains[i];
      if (mine) mine.tls = c.tls;
    });
  }

  private buildChain(fc: EnvoyJson, path: string, ctx: FactoryContext, secrets: SecretManager): BuiltChain {
    const filters: EnvoyJson[] = fc.filters ?? [];
    if (filters.length === 0) throw new Error(`${path}.filters: a filter chain needs at least one network filter`);
    const handlers = filters.map((f, j) => {
      const type = f.typed_config?.['@type'];
      const factory = type ? networkFilterFactory(type) : undefined;
      if (!factory) throw new Error(`${path}.filters[${j}] (${f.name}): unknown network filter type ${type ?? '(no typed_config)'}`);
      try {
        return factory.create(f.typed_config, ctx);
      } catch (e) {
        throw new Error(`${path}.filters[${j}] (${f.name}): ${(e as Error).message}`);
      }
    });
    const chain: BuiltChain = { name: fc.name ?? path, handlers };
    const tlsCtx = tlsContextOf(fc.transport_socket);
    if (tlsCtx) {
      const r = downstreamTlsOptions(tlsCtx, secrets, `${path}.transport_socket`);
      if (!r.ok && r.notReady) this.missingSecrets.push(r.notReady);
      else if (!r.ok) throw new Error(r.error);
      else {
        const o = r.options;
        // A session id context is what lets OpenSSL resume sessions when it verifies client
        // certificates (without one a resuming client gets an internal_error alert); tls.Server
        // sets one, a bare TLSSocket's context must be given one. Per chain: no cross-chain resumption.
        const sessionIdContext = createHash('sha256').update(`${this.config.name}\0${chain.name}`).digest('hex').slice(0, 32);
        const context = tls.createSecureContext({ cert: o.cert, key: o.key, ca: o.ca, minVersion: o.minVersion, maxVersion: o.maxVersion, ciphers: o.ciphers, sessionIdContext });
        chain.tls = { context, requestCert: !!o.requestCert, rejectUnauthorized: !!o.rejectUnauthorized, alpn: o.ALPNProtocols, sanCheck: o.sanCheck };
      }
    }
    return chain;
  }

  /** Registers in-flight work (a stream, a TCP session) that drain waits for. */
  trackActive(info?: ConnectionInfo): void {
    this.activeWork++;
    const c = info ? this.connOfInfo.get(info) : undefined;
    if (c) {
      c.active++;
      c.tracked = true;
    }
  }

  /** The work `trackActive` registered is done (called once per trackActive). */
  releaseActive(info?: ConnectionInfo): void {
    this.activeWork--;
    const c = info ? this.connOfInfo.get(info) : undefined;
    if (c && --c.active === 0) c.idleSince = Date.now();
    this.checkDrained();
  }

  /** Entry point for an accepted (or handed-off) connection; `localOverride` is the original destination. */
  onAccept(socket: Socket, info: ConnectionInfo): void {
    this.stats.counter('downstream_cx_total').inc();
    const active = this.stats.gauge('downstream_cx_active');
    active.inc();
    const conn: Conn = { socket, active: 0, tracked: false, idleSince: Date.now() };
    this.connections.set(socket, conn);
    this.connOfInfo.set(info, conn);
    socket.once('close', () => {
      active.dec();
      this.stats.counter('downstream_cx_destroy').inc();
      this.connections.delete(socket);
      this.checkDrained();
    });
    socket.on('error', () => {});
    runListenerFilters(socket, this.listenerFilters, info, (ok) => {
      if (!ok) {
        this.stats.counter('downstream_listener_filter_error').inc();
        socket.destroy();
        return;
      }
      this.dispatch(socket, info);
    });
  }

  private dispatch(socket: Socket, info: ConnectionInfo): void {
    const chain = this.matcher.select({
      destinationIp: info.localAddress,
      destinationPort: info.localPort,
      sourceIp: info.remoteAddress,
      sourcePort: info.remotePort,
      serverName: info.serverName,
      transportProtocol: info.transportProtocol,
      applicationProtocols: info.applicationProtocols,
    });
    if (!chain) {
      this.stats.counter('no_filter_chain_match').inc();
      log.debug(`listener ${this.config.name}: no filter chain matched ${info.localAddress}:${info.localPort} from ${info.remoteAddress}`);
      socket.destroy();
      return;
    }
    if (!chain.tls) return this.runFilters(chain, socket, info);
    const t = chain.tls;
    // Wrapping drains bytes the inspectors put back, so the handshake sees the whole ClientHello.
    // Envoy negotiates no ALPN when the client offers none of the server's protocols (a mesh
    // client offering only istio-peer-exchange/istio); OpenSSL in node would fail the handshake.
    const offered = info.applicationProtocols;
    const alpn = t.alpn && offered && !offered.some((p) => t.alpn!.includes(p)) ? undefined : t.alpn;
    const secure = new tls.TLSSocket(socket, { isServer: true, secureContext: t.context, requestCert: t.requestCert, rejectUnauthorized: t.rejectUnauthorized, ALPNProtocols: alpn });
    secure.on('error', () => {
      this.stats.counter('ssl.connection_error').inc();
      socket.destroy();
    });
    secure.once('secure', () => {
      // A bare server-side TLSSocket only enforces "a certificate was sent" (tls.Server does the
      // chain check in JS): verify the client's chain here, as Envoy does. A certificate that was
      // presented must verify even when it was optional.
      if (t.requestCert) {
        const verifyError = (secure as unknown as { ssl?: { verifyError?(): Error | null } }).ssl?.verifyError?.();
        const presented = Object.keys(secure.getPeerCertificate() ?? {}).length > 0;
        if (verifyError && (t.rejectUnauthorized || presented)) {
          this.stats.counter(presented ? 'ssl.fail_verify_error' : 'ssl.fail_verify_no_cert').inc();
          this.stats.counter('ssl.connection_error').inc();
          log.debug(`listener ${this.config.name}: client certificate rejected: ${verifyError.message}`);
          secure.destroy();
          socket.destroy();
          return;
        }
        // match_typed_subject_alt_names: a presented certificate must also carry an accepted identity.
        const sanError = presented ? t.sanCheck?.(secure.getPeerCertificate()?.subjectaltname) : undefined;
        if (sanError) {
          this.stats.counter('ssl.fail_verify_san').inc();
          this.stats.counter('ssl.connection_error').inc();
          log.debug(`listener ${this.config.name}: client certificate rejected: ${sanError}`);
          secure.destroy();
          socket.destroy();
          return;
        }
      }
      this.stats.counter('ssl.handshake').inc();
      // tls.Server clears secureConnecting once the handshake is done; a bare server TLSSocket
      // keeps it set, and node's HTTP/2 session would then wait for a 'secureConnect' that never comes.
      (secure as { secureConnecting?: boolean }).secureConnecting = false;
      info.transportProtocol = 'tls';
      if (secure.alpnProtocol) info.applicationProtocols = [secure.alpnProtocol];
      const san = secure.getPeerCertificate()?.subjectaltname;
      if (san) info.peerCertificateUris = san.split(', ').filter((s) => s.startsWith('URI:')).map((s) => s.slice(4));
      this.runFilters(chain, secure, info);
    });
    // No socket.resume() here: the TLS wrap owns the handle now and reads by itself.
  }

  private runFilters(chain: BuiltChain, socket: Socket, info: ConnectionInfo): void {
    for (const h of chain.handlers) {
      try {
        if (h(socket, info) !== 'continue') return;
      } catch (e) {
        log.warnOnce(`filter-throw-${chain.name}`, `listener ${this.config.name} chain ${chain.name}: network filter threw: ${(e as Error).message}`);
        socket.destroy();
        return;
      }
    }
    socket.destroy();
  }

  /**
   * Starts draining: filters see draining() (HCM sends Connection: close / GOAWAY), and after
   * `drainMs` whatever is still open is closed. Resolves when no connection or work remains.
   */
  drain(drainMs: number): Promise<void> {
    this.draining = true;
    const p = new Promise<void>((resolve) => this.drainWaiters.push(resolve));
    const timer = setTimeout(() => {
      for (const s of this.connections.keys()) s.destroy();
      this.activeWork = 0;
      this.checkDrained();
    }, drainMs);
    // Not unref'd: whoever awaits the drain (a shutdown that then flushes access logs and spans)
    // must see it end, even when a connection whose peer already left holds nothing else open.
    // Idle connections are closed once idle long enough (see IDLE_CLOSE_MS), checked periodically.
    this.idleSweep ??= setInterval(() => this.checkDrained(), Math.max(50, Math.min(250, this.idleCloseMs(drainMs)))).unref();
    p.then(() => clearTimeout(timer));
    this.checkDrained();
    return p;
  }

  private drainMs = Infinity;

  private idleCloseMs(drainMs = this.drainMs): number {
    this.drainMs = Math.min(this.drainMs, drainMs);
    return Math.min(IDLE_CLOSE_MS, this.drainMs);
  }

  /**
   * While draining, ends connections that have been idle for a while: an HTTP connection with no
   * stream of its own; any other connection only while the listener has no work at all (a TCP
   * session holds its connection busy for its whole life).
   */
  private checkDrained(): void {
    if (!this.draining) return;
    const now = Date.now();
    const idleMs = this.idleCloseMs();
    for (const c of this.connections.values()) {
      if (c.socket.destroyed || c.socket.writableEnded) continue;
      const idle = c.tracked ? c.active === 0 : this.activeWork === 0;
      if (idle && now - c.idleSince >= idleMs) c.socket.end();
    }
    if (this.connections.size === 0 && this.activeWork <= 0) {
      if (this.idleSweep) clearInterval(this.idleSweep), (this.idleSweep = undefined);
      for (const w of this.drainWaiters.splice(0)) w();
    }
  }

  connectionCount(): number {
    return this.connections.size;
  }
}
