/**
 * The http_connection_manager network filter (Envoy's ConnectionManagerImpl at the connection
 * level): validates the config once, then for each accepted socket replays the listener's
 * preread bytes, picks the codec (ALPN h2 on TLS, the h2c connection preface on plaintext, or
 * codec_type) and hands the socket to that codec: HTTP/1.1 and HTTP/2 both on the raw socket.
 */
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { ConnectionInfo, FactoryContext, NetworkFilterFactory } from '../../interfaces.ts';
import type { EnvoyJson } from '../../../xds/types.ts';
import { compileHcmConfig, type HcmConfig } from './config.ts';
import { createHttp1Server } from './codec_http1.ts';
import { startHttp2Session } from './codec_http2.ts';
import type { ConnectionState } from './codec.ts';
import { attachConn } from './connection.ts';
import { DownstreamSsl } from './xfcc.ts';
import { skipReadAhead } from '../../socket_reads.ts';

/** RFC 9113 3.4: what an h2c prior-knowledge client sends first. */
const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');

type Codec = 'h1' | 'h2' | 'sniff';

function chooseCodec(hcm: HcmConfig, socket: Socket, info: ConnectionInfo): Codec {
  if (hcm.codecType === 'HTTP1') return 'h1';
  if (hcm.codecType === 'HTTP2') return 'h2';
  const alpn = (socket as TLSSocket).alpnProtocol;
  if (info.transportProtocol === 'tls' || (socket as TLSSocket).encrypted) {
    if (alpn === 'h2' || (alpn === undefined || alpn === false) && info.applicationProtocols?.includes('h2')) return 'h2';
    return 'h1';
  }
  return 'sniff';
}

/** The preface check: 'h2', 'h1', or undefined when more bytes are needed. */
function classify(buf: Buffer): 'h1' | 'h2' | undefined {
  const n = Math.min(buf.length, PREFACE.length);
  for (let i = 0; i < n; i++) if (buf[i] !== PREFACE[i]) return 'h1';
  return n === PREFACE.length ? 'h2' : undefined;
}

export const httpConnectionManagerFactory: NetworkFilterFactory = {
  create(typedConfig: EnvoyJson, ctx: FactoryContext) {
    const hcm = compileHcmConfig(typedConfig, ctx);
    let h1: ReturnType<typeof createHttp1Server> | undefined;
    // Listeners hand sockets over paused (pauseOnConnect, inspectors); the codec's own reader
    // is attached by 'connection', so flowing is restored only after that, never before.
    const toH1 = (s: Socket): void => {
      hcm.stats.cxHttp1Total.inc();
      (h1 ??= createHttp1Server(hcm)).emit('connection', s);
      if (s.isPaused()) s.resume();
    };
    const toH2 = (s: Socket): void => {
      startHttp2Session(hcm, s);
      if (s.isPaused()) s.resume();
    };

    return (socket: Socket, info: ConnectionInfo): void => {
      const stats = hcm.stats;
      stats.cxTotal.inc();
      stats.cxActive.inc();
      const tls = info.transportProtocol === 'tls' || (socket as TLSSocket).encrypted === true;
      const state: ConnectionState = { scheme: tls ? 'https' : 'http', closeAfterResponse: false, ssl: (socket as TLSSocket).encrypted ? new DownstreamSsl(socket as TLSSocket) : undefined };
      socket.once('close', () => {
        stats.cxActive.dec();
        state.streamIdle?.close();
      });
      // Bad peers must never surface as an uncaught 'error'; the codecs log and count.
      socket.on('error', () => {});
      if (typeof socket.setNoDelay === 'function') socket.setNoDelay(true);
      skipReadAhead(socket);
      attachConn(socket, { info, state });
      const codec = chooseCodec(hcm, socket, info);
      const pre = info.preread && info.preread.length ? info.preread : undefined;
      if (codec !== 'sniff') {
        if (pre) socket.unshift(pre);
        return codec === 'h2' ? toH2(socket) : toH1(socket);
      }
      let seen = pre ?? Buffer.alloc(0);
      const verdict = classify(seen);
      if (verdict) {
        if (pre) socket.unshift(pre);
        return verdict === 'h2' ? toH2(socket) : toH1(socket);
      }
      // Not enough bytes yet: read until the preface is confirmed or ruled out, within the header
      // deadline counted from now (not from the last byte: a trickle must not extend it).
      const deadline = hcm.headerDeadlineMs > 0 ? hcm.clock.after(hcm.headerDeadlineMs, () => socket.destroy()) : undefined;
      if (deadline) socket.once('close', () => deadline.cancel());
      const onData = (chunk: Buffer) => {
        seen = seen.length ? Buffer.concat([seen, chunk]) : chunk;
        const v = classify(seen);
        if (!v) return;
        socket.off('data', onData);
        deadline?.cancel();
        socket.pause();
        socket.unshift(seen);
        if (v === 'h2') toH2(socket);
        else toH1(socket);
      };
      socket.on('data', onData);
      socket.resume();
    };
  },
};
