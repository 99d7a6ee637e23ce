/**
 * How a sidecar receives traffic, from its node metadata: Istio's INTERCEPTION_MODE and
 * HTTP_PROXY_PORT, plus tsmesh's TSMESH_APP_ADDRESS. Parsing lives here so proxy.ts stays about
 * node ids; the builders read the Proxy fields through the accessors below (defaults included).
 */
import { isIP } from 'node:net';
import type { InterceptionMode, Proxy } from './types.ts';

/** Where the application listens when TSMESH_APP_ADDRESS is absent (Istio's inbound target). */
export const DEFAULT_APP_ADDRESS = '127.0.0.1';

const MODES: ReadonlySet<string> = new Set(['REDIRECT', 'TPROXY', 'NONE']);

export interface InterceptionFields {
  interceptionMode: InterceptionMode;
  httpProxyPort?: number;
  appAddress?: string;
}

/**
 * Reads the three metadata keys. INTERCEPTION_MODE is case-insensitive and, as in Istio, anything
 * unknown means REDIRECT. A malformed port or address returns an error message instead: a proxy
 * that asked for an HTTP proxy listener must not silently get none.
 */
export function parseInterception(md: Record<string, unknown>): InterceptionFields | string {
  const mode = typeof md.INTERCEPTION_MODE === 'string' ? md.INTERCEPTION_MODE.trim().toUpperCase() : '';
  const out: InterceptionFields = { interceptionMode: MODES.has(mode) ? (mode as InterceptionMode) : 'REDIRECT' };

  const rawPort = md.HTTP_PROXY_PORT;
  if (rawPort !== undefined && rawPort !== '') {
    const port = typeof rawPort === 'number' ? rawPort : typeof rawPort === 'string' && /^\d+$/.test(rawPort.trim()) ? Number(rawPort.trim()) : NaN;
    if (!Number.isInteger(port) || port < 1 || port > 65535) return `metadata HTTP_PROXY_PORT "${String(rawPort)}" is not a port number (1-65535)`;
    out.httpProxyPort = port;
  }

  const rawAddr = md.TSMESH_APP_ADDRESS;
  if (rawAddr !== undefined && rawAddr !== '') {
    if (typeof rawAddr !== 'string' || isIP(rawAddr.trim()) === 0) return `metadata TSMESH_APP_ADDRESS "${String(rawAddr)}" is not an IP address`;
    out.appAddress = rawAddr.trim();
  }
  return out;
}

export function interceptionMode(proxy: Proxy): InterceptionMode {
  return proxy.interceptionMode ?? 'REDIRECT';
}

/** NONE: no iptables, so no 15001/15006 capture listeners; listeners bind real addresses. */
export function isNoneMode(proxy: Proxy): boolean {
  return interceptionMode(proxy) === 'NONE';
}

export function appAddress(proxy: Proxy): string {
  return proxy.appAddress ?? DEFAULT_APP_ADDRESS;
}

/** The pod IP that inbound listeners bind in NONE mode (the first instance IP, as Istio binds). */
export function podAddress(proxy: Proxy): string {
  return proxy.ipAddresses[0] ?? DEFAULT_APP_ADDRESS;
}
