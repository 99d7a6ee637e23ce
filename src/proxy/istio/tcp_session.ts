/**
 * How Istio's network filters (metadata exchange, stats) take part in a tcp_proxy connection that
 * a later filter in the chain owns: they register a TcpSession on the connection's ConnectionInfo;
 * tcp_proxy looks it up once per connection (undefined, and no cost, when no Istio filter runs) and
 * tells it when the connection is established and when it closes. The exchange itself
 * (exchangeTcp) runs inside tcp_proxy because it must come before any byte is piped.
 */
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import type { ConnectionInfo, StreamInfo } from '../interfaces.ts';
import type { EnvoyJson } from '../../xds/types.ts';
import { localPeer, peerFromMetadata, spiffePrincipal } from './node_peer.ts';
import { exchangeFrame, MX_ALPN, readExchange } from './metadata_exchange.ts';
import { serviceAccounts, withPrincipal } from './peer_cache.ts';
import type { PeerInfo } from './peer_info.ts';

export interface TcpSessionObserver {
  /** Both exchanges are done (or skipped): the connection carries data from here on. */
  established?(si: StreamInfo): void;
  closed?(si: StreamInfo): void;
}

export class TcpSession {
  /** The inbound metadata exchange filter is in the chain (downstream side). */
  downstreamExchange = false;
  readonly observers: TcpSessionObserver[] = [];
  /**
   * Downstream bytes the exchange itself read and wrote: not the connection's payload, so they
   * are left out of its byte counts (in Envoy the exchange filter consumes them before tcp_proxy).
   */
  exchangeBytesRead = 0;
  exchangeBytesWritten = 0;
  /** metadata_exchange.exchange_timeout: a peer that negotiated the exchange stalled past the deadline. */
  exchangeTimeouts?: { inc(): void };
  /** The downstream socket, for byte counts while the connection is open (periodic reporting). */
  downstream?: { readonly bytesRead: number; readonly bytesWritten: number };
  private wasEstablished = false;

  /** The payload bytes so far from (received) and to (sent) the downstream, exchange frames left out. */
  bytesReceived(): number {
    return this.downstream ? this.downstream.bytesRead - this.exchangeBytesRead : 0;
  }
  bytesSent(): number {
    return this.downstream ? this.downstream.bytesWritten - this.exchangeBytesWritten : 0;
  }

  established(si: StreamInfo): void {
    if (this.wasEstablished) return;
    this.wasEstablished = true;
    for (const o of this.observers) o.established?.(si);
  }

  closed(si: StreamInfo): void {
    // A connection that never got going still counts as opened, then closed (with its flags).
    this.established(si);
    for (const o of this.observers) o.closed?.(si);
  }
}

const sessions = new WeakMap<ConnectionInfo, TcpSession>();

/** The session of a connection, created by the first Istio network filter that asks. */
export function tcpSessionFor(info: ConnectionInfo): TcpSession {
  let s = sessions.get(info);
  if (!s) sessions.set(info, (s = new TcpSession()));
  return s;
}

/** What tcp_proxy calls: undefined when no Istio network filter runs on the connection. */
export function tcpSession(info: ConnectionInfo): TcpSession | undefined {
  return sessions.get(info);
}

function negotiated(s: Duplex): string | undefined {
  const p = (s as TLSSocket).alpnProtocol;
  return typeof p === 'string' ? p : undefined;
}

/**
 * Runs the metadata exchanges a tcp_proxy connection needs, then `start()`s the pipes:
 * - downstream: when the inbound exchange filter is on and the client negotiated
 *   istio-peer-exchange, read its frame (StreamInfo.downstreamPeer, principal from its
 *   certificate) and answer with ours;
 * - upstream: when the upstream TLS connection negotiated istio-peer-exchange (pilot offers it on
 *   Istio mTLS clusters), send our frame first and read the server's (StreamInfo.upstreamPeer).
 * `initial`: bytes the listener already read from the downstream.
 */
export function exchangeTcp(node: EnvoyJson | undefined, session: TcpSession | undefined, info: ConnectionInfo, si: StreamInfo, downstream: Duplex, upstream: Duplex, initial: Buffer | undefined, start: (downstreamReady: boolean) => void): void {
  const me = localPeer(node);
  if (session) session.downstream = downstream as Duplex & { bytesRead: number; bytesWritten: number };
  let pending = 2;
  const step = () => {
    if (--pending === 0) start(true);
  };
  // Downstream first: the client writes its frame as soon as TLS is up.
  const downAlpn = negotiated(downstream) ?? info.applicationProtocols?.[0];
  if (session?.downstreamExchange && downAlpn === MX_ALPN) {
    downstream.pause();
    readExchange(downstream, initial, (md, frameBytes) => {
      if (md) {
        const peer = peerFromMetadata(md);
        const sa = md.SERVICE_ACCOUNT;
        if (typeof sa === 'string') serviceAccounts.set(peer, sa);
        si.downstreamPeer = withPrincipal(peer, spiffePrincipal(info.peerCertificateUris));
        const reply = exchangeFrame(me.anyStruct);
        session.exchangeBytesRead = frameBytes;
        session.exchangeBytesWritten = reply.length;
        downstream.write(reply);
      }
      step();
    }, () => {
      session.exchangeTimeouts?.inc();
      upstream.destroy();
    });
  } else {
    if (initial && initial.length) downstream.unshift(initial);
    step();
  }
  // Upstream: a TLS socket tells its ALPN at secureConnect; a plain one never exchanges.
  const isTls = typeof (upstream as TLSSocket).encrypted === 'boolean' && (upstream as TLSSocket).encrypted;
  if (!isTls) return step();
  upstream.once('secureConnect', () => {
    if (negotiated(upstream) !== MX_ALPN) return step();
    upstream.write(exchangeFrame(me.anyStruct));
    readExchange(upstream, undefined, (md) => {
      if (md) {
        const peer: PeerInfo = peerFromMetadata(md);
        const sa = md.SERVICE_ACCOUNT;
        if (typeof sa === 'string') serviceAccounts.set(peer, sa);
        si.upstreamPeer = peer;
      }
      step();
    }, () => {
      session?.exchangeTimeouts?.inc();
      downstream.destroy();
    });
  });
}
