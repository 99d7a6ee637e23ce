/**
 * Outbound HTTP for Bookinfo's apps: keep-alive pools, a per-try timeout, and an optional hop
 * through an HTTP proxy (the sidecar). Two proxy modes, because a sidecar sees both in practice:
 *  - HTTP_PROXY / http_proxy: a classic forward proxy; absolute-form request line
 *    (`GET http://details:9080/details/0`) plus `Host: details:9080`.
 *  - TSMESH_OUTBOUND_PROXY: what iptables capture hands the sidecar; origin-form request line
 *    (`GET /details/0`) with `Host: details:9080`, so the proxy routes by Host alone.
 * NO_PROXY (comma list of host names, "*" for all) bypasses HTTP_PROXY like curl does.
 */
import { Pool } from 'undici';
import type { Env } from '../../common/server.ts';

export interface Target {
  /** Logical host name, as the mesh knows it ("details", "reviews.default.svc.cluster.local"). */
  host: string;
  port: number;
}

export interface OutboundResponse {
  status: number;
  body: string;
}

interface ProxyConfig {
  origin: string;
  absoluteForm: boolean;
  noProxy: string[];
}

export function proxyFromEnv(env: Env): ProxyConfig | undefined {
  const mesh = env.TSMESH_OUTBOUND_PROXY;
  if (mesh) return { origin: new URL(mesh).origin, absoluteForm: false, noProxy: [] };
  const fwd = env.HTTP_PROXY ?? env.http_proxy;
  if (!fwd) return undefined;
  const noProxy = (env.NO_PROXY ?? env.no_proxy ?? '').split(',').map((s) => s.trim().toLowerCase()).filter(Boolean);
  return { origin: new URL(fwd).origin, absoluteForm: true, noProxy };
}

function bypasses(noProxy: string[], host: string): boolean {
  const h = host.toLowerCase();
  return noProxy.some((n) => n === '*' || h === n.replace(/^\./, '') || h.endsWith(n.startsWith('.') ? n : `.${n}`));
}

function authority(t: Target): string {
  return t.host.includes(':') ? `[${t.host}]:${t.port}` : `${t.host}:${t.port}`;
}

export class Outbound {
  private readonly pools = new Map<string, Pool>();
  private readonly proxy: ProxyConfig | undefined;

  constructor(env: Env) {
    this.proxy = proxyFromEnv(env);
  }

  private pool(origin: string): Pool {
    let p = this.pools.get(origin);
    if (!p) {
      p = new Pool(origin, { connections: 32, keepAliveTimeout: 30_000 });
      this.pools.set(origin, p);
    }
    return p;
  }

  /** One try: GET target+path within timeoutMs (connect, headers and body all count). */
  async get(target: Target, path: string, headers: Record<string, string>, timeoutMs: number): Promise<OutboundResponse> {
    const hostHeader = authority(target);
    const direct = !this.proxy || bypasses(this.proxy.noProxy, target.host);
    const origin = direct ? `http://${hostHeader}` : this.proxy!.origin;
    const requestPath = !direct && this.proxy!.absoluteForm ? `http://${hostHeader}${path}` : path;
    const res = await this.pool(origin).request({
      method: 'GET',
      path: requestPath,
      headers: { ...headers, host: hostHeader },
      signal: AbortSignal.timeout(timeoutMs),
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
    });
    return { status: res.statusCode, body: await res.body.text() };
  }

  async close(): Promise<void> {
    await Promise.all([...this.pools.values()].map((p) => p.destroy().catch(() => {})));
    this.pools.clear();
  }
}

/** The original's addressing: http://<NAME_HOSTNAME><.SERVICES_DOMAIN>:<NAME_SERVICE_PORT>. */
export function serviceTarget(env: Env, name: string, defaultPort = 9080): Target {
  const upper = name.toUpperCase();
  const domain = env.SERVICES_DOMAIN ? `.${env.SERVICES_DOMAIN}` : '';
  const host = (env[`${upper}_HOSTNAME`] || name) + domain;
  const port = Number(env[`${upper}_SERVICE_PORT`] || defaultPort);
  return { host, port };
}
