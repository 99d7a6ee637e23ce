/**
 * Runs a listener's listener_filters on a freshly accepted (paused) socket: tls_inspector and
 * http_inspector peek at the first bytes, original_dst restores the captured destination. Node
 * has no MSG_PEEK, so peeked bytes are read and then pushed back with socket.unshift(), which
 * both pipe() and node:tls (it drains a socket's buffered data on wrap) replay first.
 */
import type { Socket } from 'node:net';
import type { EnvoyJson } from '../../xds/types.ts';
import type { ConnectionInfo } from '../interfaces.ts';
import { inspectHttp, MAX_HTTP_INSPECT } from './http_inspector.ts';
import { MAX_CLIENT_HELLO, parseClientHello } from './tls_inspector.ts';
import { LISTENER_FILTER } from '../../xds/type_urls.ts';

export const TLS_INSPECTOR = LISTENER_FILTER.TLS_INSPECTOR;
export const HTTP_INSPECTOR = LISTENER_FILTER.HTTP_INSPECTOR;
export const ORIGINAL_DST = LISTENER_FILTER.ORIGINAL_DST;

const KNOWN = new Map<string, string>([
  ['envoy.filters.listener.tls_inspector', TLS_INSPECTOR],
  ['envoy.filters.listener.http_inspector', HTTP_INSPECTOR],
  ['envoy.filters.listener.original_dst', ORIGINAL_DST],
]);

export interface ListenerFilterConfig {
  tls: boolean;
  http: boolean;
  originalDst: boolean;
  timeoutMs: number;
  continueOnTimeout: boolean;
}

/** Compiles listener_filters; throws naming the filter when its type is unknown (NACK). */
export function compileListenerFilters(listener: EnvoyJson, timeoutMs: number): ListenerFilterConfig {
  const cfg: ListenerFilterConfig = { tls: false, http: false, originalDst: false, timeoutMs, continueOnTimeout: listener.continue_on_listener_filters_timeout === true };
  (listener.listener_filters ?? []).forEach((f: EnvoyJson, i: number) => {
    const type = f.typed_config?.['@type'] ?? KNOWN.get(f.name);
    if (type === TLS_INSPECTOR) cfg.tls = true;
    else if (type === HTTP_INSPECTOR) cfg.http = true;
    else if (type === ORIGINAL_DST) cfg.originalDst = true;
    else throw new Error(`listener_filters[${i}] (${f.name}): unsupported listener filter type ${type ?? '(none)'}`);
  });
  return cfg;
}

/**
 * Peeks as the configured inspectors need, fills `info`, puts the bytes back and calls `done`
 * (with false when the connection should be dropped: closed early or timed out without
 * continue_on_listener_filters_timeout).
 */
export function runListenerFilters(socket: Socket, cfg: ListenerFilterConfig, info: ConnectionInfo, done: (ok: boolean) => void): void {
  if (!cfg.tls && !cfg.http) {
    info.transportProtocol = 'raw_buffer';
    done(true);
    return;
  }
  let buf: Buffer = Buffer.alloc(0);
  let tlsDone = !cfg.tls;
  let httpDone = !cfg.http;
  let finished = false;
  const finish = (ok: boolean) => {
    if (finished) return;
    finished = true;
    clearTimeout(timer);
    socket.pause();
    socket.removeListener('data', onData);
    socket.removeListener('end', onEnd);
    socket.removeListener('error', onEnd);
    info.transportProtocol ??= 'raw_buffer';
    // After 'end' a stream refuses unshift; the bytes then travel as preread.
    if (buf.length) {
      if (socket.readableEnded) info.preread = buf;
      else socket.unshift(buf);
    }
    done(ok);
  };
  const onData = (chunk: Buffer) => {
    buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
    if (!tlsDone) {
      const r = parseClientHello(buf);
      if (r.kind !== 'need_more') tlsDone = true;
      if (r.kind === 'tls') {
        info.transportProtocol = 'tls';
        info.serverName = r.serverName;
        if (r.alpn.length) info.applicationProtocols = r.alpn;
        httpDone = true;
      }
      if (buf.length >= MAX_CLIENT_HELLO) tlsDone = true;
    }
    if (!httpDone) {
      const r = inspectHttp(buf);
      if (r.kind !== 'need_more') httpDone = true;
      if (r.kind === 'http') info.applicationProtocols = [r.protocol];
      if (buf.length >= MAX_HTTP_INSPECT) httpDone = true;
    }
    if (tlsDone && httpDone) finish(true);
  };
  // A client that closes before sending enough still gets matched on what it sent.
  const onEnd = () => finish(true);
  const timer = setTimeout(() => {
    if (cfg.continueOnTimeout) finish(true);
    else {
      finish(false);
    }
  }, cfg.timeoutMs);
  socket.on('data', onData);
  socket.once('end', onEnd);
  socket.once('error', onEnd);
  socket.resume();
}
