/**
 * The admin API's POST /tap (Envoy's admin /tap streams the traces of one tap config while the
 * client stays connected): here, newline-delimited JSON TapEvents for as long as the client
 * reads. Only a control-plane-signed token (tap_token.ts) in `Authorization: Bearer` opens a tap;
 * the tap's match and rate are the token's. The tap ends the moment the client goes away.
 *
 * Lines: {"type":"start",...}, then {"type":"event",...} per request, and
 * {"type":"stats","sent":n,"droppedRate":n,"droppedQueue":n} once a second when a figure changed,
 * so the reader learns what the bounds dropped, and at least every HEARTBEAT_MS regardless, so a
 * dead reader on a quiet tap is noticed (the write fails) and the tap ends.
 * At most MAX_TAPS taps run at once (429 beyond).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ProxyServer } from '../server.ts';
import { readDataSource } from '../tls/tls_context.ts';
import { activeTaps, addTap, bindTapStats, MAX_TAPS } from './tap_manager.ts';
import { TapSession } from './tap_session.ts';
import { adminKey, verifyTapToken } from './tap_token.ts';

const ROOT_SECRET = 'ROOTCA';
const STATS_INTERVAL_MS = 1000;
const HEARTBEAT_MS = 5000;
/** Events written per turn of the event loop, so a full queue never blocks the proxy's work. */
const WRITE_BATCH = 100;

export function tapAdminHandler(server: ProxyServer): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  bindTapStats(server.store);
  return async (req, res) => {
    const refuse = (status: number, why: string) => {
      res.writeHead(status, { 'content-type': 'text/plain; charset=UTF-8' });
      res.end(`${why}\n`);
    };
    if (req.method !== 'POST') return refuse(405, 'This endpoint requires POST');
    // Workers run the traffic in other processes: their streams are not relayed to the primary yet.
    if (server.opts.role === 'primary') return refuse(501, 'tap needs a proxy run with --concurrency 1');
    const auth = req.headers.authorization ?? '';
    if (!auth.startsWith('Bearer ')) return refuse(401, 'tap needs a token from the control plane: use `tsmesh tap deploy/<name>` (the control plane signs it)');
    // Before the token is checked, so a refused tap does not use it up.
    if (activeTaps() >= MAX_TAPS) return refuse(429, `this proxy already runs ${activeTaps()} taps, the most it allows (${MAX_TAPS}): stop one (Ctrl-C its tsmesh tap) and try again`);
    let roots: string | undefined;
    try {
      const r = readDataSource(server.secrets.get(ROOT_SECRET)?.validation_context?.trusted_ca, ROOT_SECRET);
      roots = r === undefined ? undefined : r.toString();
    } catch {
      roots = undefined;
    }
    // The address this request reached: the one the control plane dialled when it signed.
    const own = req.socket.localAddress && req.socket.localPort ? [adminKey(req.socket.localAddress, req.socket.localPort)] : [];
    const v = await verifyTapToken(auth.slice(7).trim(), roots, String(server.opts.bootstrap.node?.id ?? ''), own);
    if (!v.ok) return refuse(403, v.reason);
    if (res.destroyed) return;
    if (activeTaps() >= MAX_TAPS) return refuse(429, `this proxy already runs ${activeTaps()} taps, the most it allows (${MAX_TAPS}): stop one (Ctrl-C its tsmesh tap) and try again`);

    const session = new TapSession(v.claims, { maxRps: v.claims.maxRps });
    const remove = addTap(session);
    res.writeHead(200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-cache', 'x-content-type-options': 'nosniff' });
    res.write(JSON.stringify({ type: 'start', node: server.opts.bootstrap.node?.id, maxRps: session.maxRps, pathPrefix: v.claims.pathPrefix, method: v.claims.method }) + '\n');
    let blocked = false;
    let scheduled = false;
    const flush = () => {
      scheduled = false;
      if (blocked || res.destroyed) return;
      const batch = session.drain(WRITE_BATCH);
      if (batch.length === 0) return;
      if (!res.write(batch.map((e) => JSON.stringify(e)).join('\n') + '\n')) blocked = true;
      else if (session.queued > 0) schedule();
    };
    const schedule = () => {
      if (!scheduled) (scheduled = true), setImmediate(flush);
    };
    // Written after the stream finished, off the request path.
    session.onReadable = schedule;
    res.on('drain', () => {
      blocked = false;
      flush();
    });
    let last = '';
    let lastAt = Date.now();
    const timer = setInterval(() => {
      const line = JSON.stringify({ type: 'stats', sent: session.sent, droppedRate: session.droppedRate, droppedQueue: session.droppedQueue });
      if (blocked || (line === last && Date.now() - lastAt < HEARTBEAT_MS)) return;
      last = line;
      lastAt = Date.now();
      res.write(line + '\n');
    }, STATS_INTERVAL_MS);
    timer.unref();
    const end = () => {
      clearInterval(timer);
      remove();
    };
    // The client went away (Ctrl-C in tsmesh tap closes the relay, the relay closes this).
    res.on('close', end);
  };
}
