/**
 * `tsmesh dashboard`: opens the mesh dashboard the control plane serves on its debug port
 * (/dashboard/: the graph, per-service charts, traces, tap), as `istioctl dashboard kiali` opens
 * Kiali. With --port (or --address) it listens there and forwards to the control plane, as
 * istioctl's port-forward does, until interrupted; without, it opens the control plane's URL.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
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
                             control plane's own address is opened)
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
  const server = createServer((client) => {
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    const upstream = createConnection({ host: target.hostname, port: Number(target.port || 80) });
    client.pipe(upstream).pipe(client);
    const close = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', close);
    upstream.on('error', close);
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
