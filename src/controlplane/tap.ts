/**
 * Live tap through the control plane (Linkerd's tap): the one way in, for `tsmesh tap` and the
 * dashboard alike.
 *
 *   GET /debug/tap?pod=<pod | deploy/<name>>&namespace=<ns>[&path=<prefix>][&method=<M>][&max_rps=<n>][&show_query=true]
 *   200 application/x-ndjson, one JSON object a line, for as long as the caller stays connected:
 *     {"type":"start","pod":"reviews-v2-1","namespace":"default","node":"sidecar~...","maxRps":100,...}
 *     {"type":"event","time":"<ISO>","direction":"inbound"|"outbound","source":"ip:port",
 *      "sourceIdentity":"spiffe://...","destination":"ip:port","tls":true,"method":"GET",
 *      "authority":"reviews:9080","path":"/reviews/0","status":200,"latencyMs":3,
 *      "responseFlags":[],"upstreamCluster":"inbound|9080||","requestId":"..."}
 *     {"type":"stats","sent":n,"droppedRate":n,"droppedQueue":n}   (once a second when it changed)
 *     {"type":"end","reason":"..."}                                 (the proxy ended the tap)
 *   Close the connection to stop: the proxy drops the tap at once.
 *   Paths come without their query string (where signed URLs and ?access_token= live) unless
 *   show_query=true; --path matches the path alone.
 *   Errors (text/plain): 400 bad parameters, 403 caller not on loopback (or a foreign Host or
 *   Origin: http_guard.ts), 404 no such connected proxy, 409 two connections claim the pod,
 *   429 the proxy runs too many taps, 502 the proxy refused or cannot be reached (its reason in the body).
 *
 * Trust: the caller must be on this machine (a loopback address), as for every other write on
 * the debug port. The control plane then signs a 30-second, single-use token for that one proxy
 * and that one match (tap_token.ts) and relays the proxy's stream; the proxy verifies the token
 * against its mesh trust root, so its admin port does not tap for anyone else. The token names the
 * admin address it was sent to, and the proxy checks that is where it arrived: xDS node ids are not
 * authenticated, so a client claiming another proxy's node id gets a token useless elsewhere, and
 * two connections claiming one pod are refused as ambiguous.
 * The proxy's admin address: node metadata TSMESH_ADMIN_ADDRESS (host:port) when set, else the
 * sidecar's app address (TSMESH_APP_ADDRESS, where the demo binds it) or first INSTANCE_IPS, on
 * Istio's admin port 15000.
 */
import { request, type IncomingMessage, type ServerResponse } from 'node:http';
import { isIP } from 'node:net';
import type { Proxy } from '../pilot/types.ts';
import { DEFAULT_MAX_RPS, MAX_MAX_RPS } from '../proxy/tap/tap_session.ts';
import { adminKey, type TapClaims } from '../proxy/tap/tap_token.ts';
import { resolveProxyId, shortProxyName } from '../xds/debug_proxies.ts';
import type { TapTokenSigner } from './tap_token.ts';

export const TAP_PATH = '/debug/tap';
const ADMIN_PORT = 15000;

export interface TapRequest {
  /** A pod name, or deploy/<name> for a connected sidecar of that workload. */
  pod: string;
  namespace: string;
  pathPrefix?: string;
  method?: string;
  maxRps: number;
  showQuery?: boolean;
}

export interface TapDeps {
  discovery: { liveConnections(): ReadonlyArray<{ proxy: Proxy }> };
  signer: TapTokenSigner;
}

/** Parses the endpoint's query; a sentence for a bad one. */
export function parseTapQuery(q: URLSearchParams): TapRequest | { error: string } {
  const pod = q.get('pod')?.trim();
  if (!pod) return { error: 'pod is required: ?pod=<pod name or deploy/<name>>&namespace=<ns>' };
  const rps = q.get('max_rps');
  const maxRps = rps === null || rps === '' ? DEFAULT_MAX_RPS : Number(rps);
  if (!(maxRps > 0) || maxRps > MAX_MAX_RPS) return { error: `max_rps must be a number above 0 and at most ${MAX_MAX_RPS}` };
  const path = q.get('path') || undefined;
  if (path !== undefined && !path.startsWith('/')) return { error: `path must be a path prefix starting with / (got ${path})` };
  const method = q.get('method')?.toUpperCase() || undefined;
  if (method !== undefined && !/^[A-Z]+$/.test(method)) return { error: `method must be an HTTP method such as GET (got ${method})` };
  const show = q.get('show_query');
  if (show !== null && show !== 'true' && show !== 'false') return { error: `show_query must be true or false (got ${show})` };
  return { pod, namespace: q.get('namespace') || 'default', maxRps, ...(path ? { pathPrefix: path } : {}), ...(method ? { method } : {}), ...(show === 'true' ? { showQuery: true } : {}) };
}

/** The pod part of a node id (sidecar~ip~<pod>.<ns>~domain). */
function podOf(p: Proxy): string {
  const podId = p.id.split('~')[2] ?? '';
  const dot = podId.indexOf('.');
  return dot > 0 ? podId.slice(0, dot) : podId;
}

/** The one live proxy `pod` names (resolveProxyId's names, as the CLI's), or why not (404 none, 409 several). */
export function findTapProxy(deps: TapDeps, pod: string, namespace: string): Proxy | { status: number; error: string } {
  const proxies = deps.discovery.liveConnections().map((c) => c.proxy);
  const byId = new Map(proxies.map((p) => [p.id, p]));
  const found = resolveProxyId(pod, [...byId.keys()], { namespace, workloadOf: (id) => byId.get(id)?.workloadName });
  if ('error' in found) return { status: 404, error: found.error };
  const name = shortProxyName(found.id);
  const claims = proxies.filter((p) => shortProxyName(p.id) === name);
  if (claims.length > 1) return { status: 409, error: `${name} is ambiguous: ${claims.length} connections claim it (${claims.map((p) => p.id).join(', ')}); stop the one that should not be there, then tap again` };
  return byId.get(found.id)!;
}

export function adminAddress(p: Proxy): { host: string; port: number } {
  const md = p.metadata as Record<string, unknown>;
  const explicit = typeof md.TSMESH_ADMIN_ADDRESS === 'string' ? /^(.+):(\d+)$/.exec(md.TSMESH_ADMIN_ADDRESS) : null;
  if (explicit) return { host: explicit[1]!.replace(/^\[|\]$/g, ''), port: Number(explicit[2]) };
  const app = typeof md.TSMESH_APP_ADDRESS === 'string' && isIP(md.TSMESH_APP_ADDRESS) ? md.TSMESH_APP_ADDRESS : undefined;
  return { host: app ?? p.ipAddresses[0]!, port: ADMIN_PORT };
}

export function isLoopback(addr: string | undefined): boolean {
  if (!addr) return false;
  const a = addr.replace(/^::ffff:/, '');
  return a === '::1' || /^127\./.test(a);
}

export type TapOpen = { ok: true; proxy: Proxy; stream: IncomingMessage; stop: () => void } | { ok: false; status: number; error: string };

/**
 * Opens a tap on one proxy for the dashboard or the endpoint below: the proxy's NDJSON stream
 * (call stop() to end it; the proxy drops the tap when the connection closes).
 */
export async function openTap(deps: TapDeps, r: TapRequest, caller: string): Promise<TapOpen> {
  const proxy = findTapProxy(deps, r.pod, r.namespace);
  if ('error' in proxy) return { ok: false, status: proxy.status, error: proxy.error };
  const { host, port } = adminAddress(proxy);
  const claims: TapClaims = { maxRps: r.maxRps, admin: adminKey(host, port), ...(r.pathPrefix ? { pathPrefix: r.pathPrefix } : {}), ...(r.method ? { method: r.method } : {}), ...(r.showQuery ? { showQuery: true } : {}) };
  const token = await deps.signer.sign(proxy.id, claims, caller);
  return new Promise((resolve) => {
    const req = request({ host, port, method: 'POST', path: '/tap', headers: { authorization: `Bearer ${token}`, 'content-length': 0 } });
    req.on('response', (res) => {
      if (res.statusCode !== 200) {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d.slice(0, 2000)));
        res.on('end', () => resolve({ ok: false, status: res.statusCode === 429 ? 429 : 502, error: `proxy ${podOf(proxy)} refused the tap (HTTP ${res.statusCode}): ${body.trim()}` }));
        return;
      }
      resolve({ ok: true, proxy, stream: res, stop: () => req.destroy() });
    });
    req.on('error', (e) => resolve({ ok: false, status: 502, error: `cannot reach the admin API of ${podOf(proxy)} at ${host}:${port}: ${e.message}` }));
    req.end();
  });
}

/** The HTTP side: serves /debug/tap; false for any other path. */
export function tapHandler(deps: () => TapDeps | undefined): (req: IncomingMessage, res: ServerResponse) => boolean {
  return (req, res) => {
    const url = new URL(req.url ?? '/', 'http://controlplane');
    if (url.pathname !== TAP_PATH) return false;
    const fail = (status: number, why: string) => void res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8' }).end(`${why}\n`);
    if (req.method !== 'GET') return fail(405, 'use GET'), true;
    if (!isLoopback(req.socket.remoteAddress)) return fail(403, 'tap is allowed from this machine only (a loopback address)'), true;
    const d = deps();
    if (!d) return fail(503, 'the control plane is still starting'), true;
    const parsed = parseTapQuery(url.searchParams);
    if ('error' in parsed) return fail(400, parsed.error), true;
    let closed = false;
    let stop = () => undefined as void;
    res.on('close', () => {
      closed = true;
      stop();
    });
    openTap(d, parsed, req.socket.remoteAddress ?? '').then(
      (t) => {
        if (!t.ok) return fail(t.status, t.error);
        stop = t.stop;
        if (closed) return t.stop();
        res.writeHead(200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-cache', 'x-content-type-options': 'nosniff' });
        res.write(JSON.stringify({ type: 'relay', pod: podOf(t.proxy), namespace: t.proxy.namespace, node: t.proxy.id }) + '\n');
        t.stream.pipe(res, { end: false });
        const finish = (reason: string) => {
          if (closed) return;
          res.end(JSON.stringify({ type: 'end', reason }) + '\n');
        };
        t.stream.on('end', () => finish('the proxy ended the tap (it is shutting down)'));
        t.stream.on('error', (e) => finish(`the proxy's stream failed: ${e.message}`));
      },
      (e: unknown) => fail(500, `tap: ${(e as Error).message}`),
    );
    return true;
  };
}
