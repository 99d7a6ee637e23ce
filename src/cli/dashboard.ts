/**
 * `tsmesh dashboard`: opens the mesh dashboard the control plane serves on its debug port
 * (/dashboard/: the graph, per-service charts, traces, tap), as `istioctl dashboard kiali` opens
 * Kiali. With --port (or --address) it listens there and forwards to the control plane, as
 * istioctl's port-forward does, until interrupted; without, it opens the control plane's URL.
 * The forwarder is HTTP-aware: the control plane trusts loopback callers (tap, config writes), and
 * every forwarded request reaches it from loopback, so a caller from another machine gets only
 * the dashboard's pages and its read-only /api/ (forwardRefusal).
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer, request, type IncomingMessage, type ServerResponse } from 'node:http';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { findControlPlane } from './apply_client.ts';
import { DEFAULT_STATE_DIR, STATE_FILE, readState } from '../demo/state.ts';

const HELP = `Usage: tsmesh dashboard [flags]

Open the mesh dashboard served by the running control plane (its debug port, 15014):
the service graph as Kiali draws it (request rate, errors, p95 latency, mTLS), per-service
and per-workload charts with their proxies' sync status and the Istio config that applies,
traces from the embedded Zipkin collector, and tap. Its JSON is at /api/namespaces/graph.

Flags:
      --address <ip>         address to listen on and forward to the control plane (istioctl's
                             port-forward); only an IP address or localhost (default: none, the
                             control plane's own address is opened). Callers from other machines
                             get the dashboard and its /api/ only: tap, /debug/ and config writes
                             answer 403 (run tsmesh dashboard on the control plane's machine)
  -p, --port <n>             local port to listen on and forward from (0: a random one)
      --browser=false        only print the URL; do not open a browser (default true; a browser
                             opens only where a display is: $DISPLAY or $WAYLAND_DISPLAY)
      --controlplane <url>   control plane HTTP address (default: $TSMESH_CONTROLPLANE, the
                             running demo's, else http://127.0.0.1:15014)
      --prometheus <url>     read rates from this Prometheus on loopback (default: the demo's,
                             when it runs with --addons prometheus; else the proxies' own metrics)
  -h, --help                 show this help
`;

export async function dashboardCommand(argv: string[]): Promise<number> {
  // --browser is a boolean that istioctl writes --browser=false.
  let browser = true;
  const args: string[] = [];
  for (const a of argv) {
    const m = /^--browser(?:=(true|false))?$/.exec(a);
    if (m) browser = m[1] !== 'false';
    else if (a.startsWith('--browser=')) {
      console.error(`tsmesh dashboard: --browser takes true or false, got ${JSON.stringify(a.slice('--browser='.length))}`);
      return 2;
    } else args.push(a);
  }
  let v: Record<string, string | boolean | undefined>;
  try {
    v = parseArgs({
      args,
      options: { address: { type: 'string' }, port: { type: 'string', short: 'p' }, controlplane: { type: 'string' }, prometheus: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (e) {
    console.error(`tsmesh dashboard: ${(e as Error).message}\n\n${HELP}`);
    return 2;
  }
  if (v.help) {
    console.log(HELP);
    return 0;
  }
  const port = v.port === undefined ? undefined : Number(v.port);
  if (port !== undefined && (!Number.isInteger(port) || port < 0 || port > 65535)) {
    console.error(`tsmesh dashboard: --port: expected a port number (0 for a random one), got ${JSON.stringify(v.port)}`);
    return 2;
  }
  const address = typeof v.address === 'string' ? v.address : undefined;
  if (address !== undefined && address !== 'localhost' && !/^[0-9.]+$|:/.test(address)) {
    console.error(`tsmesh dashboard: --address: only an IP address or localhost, got ${JSON.stringify(address)}`);
    return 2;
  }

  const cp = findControlPlane(typeof v.controlplane === 'string' ? v.controlplane : undefined);
  try {
    const r = await fetch(`${cp.url}/api/dashboard/info`, { signal: AbortSignal.timeout(5000) });
    if (r.status === 404) {
      console.error(`tsmesh dashboard: the control plane at ${cp.url} serves no dashboard (an older tsmesh?)`);
      return 1;
    }
  } catch {
    const why = cp.stale ? ` (found in ${cp.from}, but that demo is no longer running)` : cp.from === 'the default address' ? '' : ` (from ${cp.from})`;
    console.error(`tsmesh dashboard: no control plane answers at ${cp.url}${why}: start one with \`npx tsmesh demo\`, or say where it is with --controlplane <url> or $TSMESH_CONTROLPLANE`);
    return 1;
  }
  const prometheus = typeof v.prometheus === 'string' ? v.prometheus : demoPrometheus();
  const query = prometheus ? `?prometheus=${encodeURIComponent(prometheus)}` : '';

  if (port === undefined && address === undefined) {
    const url = `${cp.url}/dashboard/${query}`;
    open(url, browser);
    return 0;
  }
  // istioctl's way: a local port forwarded to the dashboard, for as long as the command runs.
  const target = new URL(cp.url);
  const sockets = new Set<{ destroy(): void }>();
  const server = createServer((req, res) => forward(req, res, target));
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  const host = address ?? 'localhost';
  try {
    await new Promise<void>((ok, fail) => {
      server.once('error', fail);
      server.listen(port ?? 0, host, () => ok());
    });
  } catch (e) {
    console.error(`tsmesh dashboard: cannot listen on ${host}:${port ?? 0}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    return 1;
  }
  const bound = (server.address() as { port: number }).port;
  const shown = host.includes(':') ? `[${host}]` : host;
  open(`http://${shown}:${bound}/dashboard/${query}`, browser);
  console.log(`forwarding ${shown}:${bound} to ${cp.url}; Ctrl-C to stop`);
  await new Promise<void>((done) => {
    const stop = () => {
      server.close(() => done());
      // A browser keeps its connections open: end them, or close would wait for it.
      for (const s of sockets) s.destroy();
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  return 0;
}

/** Paths a caller from another machine may reach: the dashboard's pages and its read-only JSON. */
const REMOTE_PATHS = /^\/(dashboard(\/|$)|api\/)/;

/**
 * Why a forwarded request must be refused (403), or undefined to forward it. Loopback callers get
 * everything (as on the control plane's own port); others GET/HEAD /dashboard/ and /api/ only.
 */
export function forwardRefusal(remoteAddress: string | undefined, method: string | undefined, url: string | undefined): string | undefined {
  const a = (remoteAddress ?? '').replace(/^::ffff:/, '');
  if (a === '::1' || /^127\./.test(a)) return undefined;
  const raw = (url ?? '/').split('?')[0]!;
  // As the control plane will read it: the URL parser folds %2e%2e and backslashes.
  let path: string;
  try {
    path = new URL(url ?? '/', 'http://forwarded').pathname;
  } catch {
    path = raw;
  }
  if ((method === 'GET' || method === 'HEAD') && REMOTE_PATHS.test(path) && REMOTE_PATHS.test(raw) && !raw.includes('..')) return undefined;
  return `${method} ${path}: tap, /debug/ and config writes are only for the control plane's machine; run tsmesh dashboard there (this forwarder serves other machines the dashboard and its /api/ only)`;
}

/** Forwards one request to the control plane, streaming both ways (tap streams stay open). */
function forward(req: IncomingMessage, res: ServerResponse, target: URL): void {
  const why = forwardRefusal(req.socket.remoteAddress, req.method, req.url);
  if (why !== undefined) return void res.writeHead(403, { 'content-type': 'text/plain; charset=utf-8' }).end(`${why}\n`);
  // Host and Origin go through as the browser sent them: the control plane checks they match.
  const { connection: _c, 'keep-alive': _k, ...headers } = req.headers;
  const up = request({ host: target.hostname, port: Number(target.port || 80), method: req.method, path: req.url, headers }, (upRes) => {
    const { connection: _uc, 'keep-alive': _uk, ...back } = upRes.headers;
    res.writeHead(upRes.statusCode ?? 502, back);
    upRes.pipe(res);
  });
  up.on('error', (e) => {
    if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain; charset=utf-8' }).end(`the control plane at ${target.origin} did not answer: ${e.message}\n`);
    else res.destroy();
  });
  res.on('close', () => up.destroy());
  req.pipe(up);
}

/** The running demo's Prometheus (tsmesh demo --addons prometheus), if any. */
function demoPrometheus(): string | undefined {
  return readState(resolve(process.cwd(), DEFAULT_STATE_DIR, STATE_FILE))?.addons?.prometheus;
}

/** Prints the URL (always, as istioctl does) and opens it where a browser can open. */
function open(url: string, browser: boolean): void {
  console.log(url);
  if (!browser) return;
  const opener = process.platform === 'darwin' ? '/usr/bin/open' : ['/usr/bin/xdg-open', '/usr/local/bin/xdg-open'].find((p) => existsSync(p));
  const display = process.platform === 'darwin' || !!process.env.DISPLAY || !!process.env.WAYLAND_DISPLAY;
  if (!opener || !display) {
    console.error('no browser can open here (no display or no xdg-open): open the URL above yourself');
    return;
  }
  const child = spawn(opener, [url], { stdio: 'ignore', detached: true });
  child.on('error', () => console.error(`could not run ${opener}: open the URL above yourself`));
  child.unref();
}
