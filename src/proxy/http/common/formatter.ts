/**
 * Envoy's header value formatter: custom header values may carry %COMMAND% substitutions
 * (%DOWNSTREAM_REMOTE_ADDRESS%, %REQ(x-foo)%, %PROTOCOL%, ...). Values are compiled once per
 * route config into literal text or a list of parts, so a constant header costs nothing per request.
 */
import { hostname } from 'node:os';
import type { HeaderMap, StreamInfo } from '../../interfaces.ts';
import { getHeader } from './header_utils.ts';

export interface FormatContext {
  info: StreamInfo;
  requestHeaders?: HeaderMap;
  responseHeaders?: HeaderMap;
}

type Part = string | ((c: FormatContext) => string);
export type HeaderValueFormatter = string | ((c: FormatContext) => string);

const HOST = hostname();

function addr(ip: string, port: number): string {
  return ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`;
}

const COMMANDS: Record<string, (c: FormatContext) => string> = {
  DOWNSTREAM_REMOTE_ADDRESS: (c) => addr(c.info.connection.remoteAddress, c.info.connection.remotePort),
  DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT: (c) => c.info.connection.remoteAddress,
  DOWNSTREAM_REMOTE_PORT: (c) => String(c.info.connection.remotePort),
  DOWNSTREAM_DIRECT_REMOTE_ADDRESS: (c) => addr(c.info.connection.remoteAddress, c.info.connection.remotePort),
  DOWNSTREAM_DIRECT_REMOTE_ADDRESS_WITHOUT_PORT: (c) => c.info.connection.remoteAddress,
  DOWNSTREAM_LOCAL_ADDRESS: (c) => addr(c.info.connection.localAddress, c.info.connection.localPort),
  DOWNSTREAM_LOCAL_ADDRESS_WITHOUT_PORT: (c) => c.info.connection.localAddress,
  DOWNSTREAM_LOCAL_PORT: (c) => String(c.info.connection.localPort),
  DOWNSTREAM_PEER_URI_SAN: (c) => (c.info.connection.peerCertificateUris ?? []).join(','),
  REQUESTED_SERVER_NAME: (c) => c.info.connection.serverName ?? '',
  UPSTREAM_REMOTE_ADDRESS: (c) => c.info.upstreamHost?.address ?? '',
  UPSTREAM_CLUSTER: (c) => c.info.upstreamCluster ?? '',
  PROTOCOL: (c) => c.info.protocol,
  HOSTNAME: () => HOST,
  START_TIME: (c) => new Date(c.info.startTime).toISOString(),
  RESPONSE_FLAGS: (c) => (c.info.responseFlags.length ? c.info.responseFlags.join(',') : '-'),
  ROUTE_NAME: (c) => c.info.routeName ?? '',
};

/** Compiles one header value; unknown commands throw (config is rejected, as Envoy does). */
export function compileHeaderValue(value: string): HeaderValueFormatter {
  if (!value.includes('%')) return value;
  const parts: Part[] = [];
  let i = 0;
  let lit = '';
  while (i < value.length) {
    const ch = value[i];
    if (ch !== '%') {
      lit += ch;
      i++;
      continue;
    }
    if (value[i + 1] === '%') {
      lit += '%';
      i += 2;
      continue;
    }
    const end = value.indexOf('%', i + 1);
    if (end < 0) throw new Error(`unterminated %COMMAND% in header value ${JSON.stringify(value)}`);
    const cmd = value.slice(i + 1, end);
    if (lit) parts.push(lit), (lit = '');
    parts.push(compileCommand(cmd, value));
    i = end + 1;
  }
  if (lit) parts.push(lit);
  return (c) => {
    let s = '';
    for (const p of parts) s += typeof p === 'string' ? p : p(c);
    return s;
  };
}

function compileCommand(cmd: string, whole: string): (c: FormatContext) => string {
  const req = /^REQ\(([^)]+)\)$/.exec(cmd);
  if (req) {
    const name = req[1].split('?')[0].toLowerCase();
    return (c) => (c.requestHeaders ? getHeader(c.requestHeaders, name) ?? '' : '');
  }
  const resp = /^RESP\(([^)]+)\)$/.exec(cmd);
  if (resp) {
    const name = resp[1].toLowerCase();
    return (c) => (c.responseHeaders ? getHeader(c.responseHeaders, name) ?? '' : '');
  }
  const f = COMMANDS[cmd];
  if (!f) throw new Error(`unsupported header formatter %${cmd}% in ${JSON.stringify(whole)}`);
  return f;
}

export function formatValue(f: HeaderValueFormatter, c: FormatContext): string {
  return typeof f === 'string' ? f : f(c);
}
