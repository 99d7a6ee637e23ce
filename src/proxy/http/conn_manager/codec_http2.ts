/**
 * The HTTP/2 downstream codec: the proxy's own HTTP/2 server session (../http2/server_session.ts)
 * on the socket the listener accepted, h2c prior knowledge or ALPN h2 on a terminated TLS
 * socket. It replaced node's nghttp2 server, whose per-stream JavaScript objects cost more than
 * half of each HTTP/2 request's CPU (PERFORMANCE.md, decision 8).
 */
import type { Socket } from 'node:net';
import type { HcmConfig } from './config.ts';
import { connOf } from './connection.ts';
import { H2ServerSession } from '../http2/server_session.ts';

/** Starts serving HTTP/2 on `socket`; its reads start when the caller resumes it. */
export function startHttp2Session(hcm: HcmConfig, socket: Socket): void {
  const conn = connOf(socket);
  if (!conn) return void socket.destroy();
  new H2ServerSession(socket, hcm, conn);
}
