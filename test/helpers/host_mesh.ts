/**
 * A mesh across hosts for issue 14's capture and multi-host tests: hosts are network namespaces
 * (test/helpers/netns.ts); one runs `tsmesh controlplane` on its own address (Istio's ports:
 * xDS 15010, CA 15012, HTTP 15014), serving a config dir of Istio / Kubernetes YAML (a Kubernetes
 * Service with a clusterIP and a selector picks sidecars through auto-registration, as in
 * test/helpers/mesh.ts); others run apps with a `tsmesh proxy` sidecar built from sidecar flags
 * (node metadata INTERCEPTION_MODE REDIRECT, --ip = the host's address, --ports = the app's ports)
 * as uid/gid 1337, with the host's traffic captured by `tsmesh init` (iptables REDIRECT into
 * 15001/15006).
 * The test process cannot reach addresses inside the hosts, so HTTP and TCP calls run inside a
 * host (a short-lived node process: `hostFetch`, `hostHttp`, `hostTcp`).
 *
 * API
 *   const lab = await netLab(t);
 *   const net = await lab.network('mesh', '10.88.0.0/24');
 *   const cpHost = await lab.host('cp', [{ network: net, ip: '10.88.0.2' }]);
 *   const mesh = await startHostMesh(t, cpHost, { config: { 'svc.yaml': yaml }, meshConfig: 'outboundTrafficPolicy: {mode: REGISTRY_ONLY}\n' });
 *   mesh.ip / mesh.xdsAddress ('10.88.0.2:15010') / mesh.caAddress / mesh.stateDir / mesh.configDir
 *   mesh.writeConfig('vs.yaml', yaml) / mesh.removeConfig('vs.yaml')   // the CP watches the dir
 *   await mesh.debug('/debug/syncz')                                    // the CP's HTTP API (JSON)
 *   const h = await lab.host('reviews-v1', [{ network: net, ip: '10.88.0.11', gateway?: ... }]);
 *   const sc = await mesh.startSidecar(h, {
 *     name: 'reviews-v1', labels: { app: 'reviews', version: 'v1' }, ports: [9080],
 *     app: httpEchoApp(9080, 'v1'),           // started first, as root, on 0.0.0.0
 *     capture: { excludeInboundPorts: [9999] }, // default {}: `tsmesh init` with Istio's injected flags; false: none
 *     identity: true,                          // token + root cert: the agent gets a certificate over SDS
 *   });
 *   await sc.stats()           // admin /stats as { name: value } (counters and gauges)
 *   await sc.admin('/config_dump')   // any admin path, body text
 *   sc.output() / sc.appOutput() / await sc.stop()
 *   await hostHttp(client, 'http://reviews:9080/', { count: 200 })   // [{ status, body }]
 *   await hostTcp(client, '10.96.0.20', 9000, 'hello', { count: 10 }) // [reply text]
 *   await applyCaptureRules(host, { excludeInboundPorts: [..] })     // tsmesh init alone
 * Everything stops in t.after (processes through the lab, which kills what host.spawn started).
 * Ready waits are bounded (60 s: a 2-core machine running other tests).
 */
import { mkdtempSync, mkdirSync, rmSync, unlinkSync, writeFileSync, copyFileSync, chmodSync, chownSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import type { Host } from './netns.ts';
import { REPO } from './processes.ts';
import { until } from './poll.ts';
import { tsmeshCommand } from '../../src/common/self_command.ts';
import { issueWorkloadToken } from '../../src/ca/token.ts';

/** Istio's proxy uid/gid: the capture rules let its own traffic out uncaptured. */
export const PROXY_UID = 1337;
export const PROXY_GID = 1337;
export const XDS_PORT = 15010;
export const CA_PORT = 15012;
export const CP_HTTP_PORT = 15014;
export const ADMIN_PORT = 15000;
const READY_MS = 60_000;

type After = { after(fn: () => Promise<void> | void): void };

/** A process started in a host: its output kept for failure messages (exported for tests that start their own, e.g. tsmesh sidecar on a VM). */
export interface Started {
  child: ChildProcess;
  output(): string;
  stop(): Promise<void>;
}

export function started(child: ChildProcess): Started {
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  return {
    child,
    output: () => out,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        const k = setTimeout(() => child.kill('SIGKILL'), 10_000);
        child.once('exit', () => {
          clearTimeout(k);
          resolve();
        });
        child.kill('SIGTERM');
      }),
  };
}

export function waitOutput(p: Started, re: RegExp, what: string, ms = READY_MS): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    const check = () => {
      const m = re.exec(p.output());
      if (m) {
        cleanup();
        resolve(m);
      }
    };
    const onExit = (code: number | null) => {
      cleanup();
      reject(new Error(`${what} exited with ${code}:\n${p.output().slice(-4000)}`));
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`${what} not ready in ${ms} ms:\n${p.output().slice(-4000)}`));
    }, ms);
    const cleanup = () => {
      clearTimeout(timer);
      p.child.stdout?.off('data', check);
      p.child.stderr?.off('data', check);
      p.child.off('exit', onExit);
    };
    p.child.stdout?.on('data', check);
    p.child.stderr?.on('data', check);
    p.child.once('exit', onExit);
    check();
  });
}

// ---- calls made from inside a host -----------------------------------------------------------

/** Runs a small ES module in the host with plain node (no TypeScript), returns its last stdout line as JSON. */
async function runJs(host: Host, script: string, args: unknown, timeoutMs = 60_000): Promise<any> {
  const r = await host.run(process.execPath, ['--input-type=module', '-e', script, JSON.stringify(args)], { timeoutMs });
  const last = r.stdout.trim().split('\n').pop() ?? '';
  try {
    return JSON.parse(last);
  } catch {
    throw new Error(`[${host.name}] script printed no JSON:\n${r.stderr}${r.stdout}`);
  }
}

const FETCH_JS = `
const { url, method, headers } = JSON.parse(process.argv[1]);
try {
  const r = await fetch(url, { method, headers, signal: AbortSignal.timeout(5000) });
  console.log(JSON.stringify({ status: r.status, body: await r.text() }));
} catch (e) { console.log(JSON.stringify({ status: 0, body: String(e.cause?.code ?? e.message) })); }
`;

/** One HTTP request from inside `host` ({ status: 0, body: error code } when it fails to connect). */
export function hostFetch(host: Host, url: string, o: { method?: string; headers?: Record<string, string> } = {}): Promise<{ status: number; body: string }> {
  return runJs(host, FETCH_JS, { url, method: o.method ?? 'GET', headers: o.headers ?? {} }, 15_000);
}

const HTTP_JS = `
import http from 'node:http';
const { url, count, headers } = JSON.parse(process.argv[1]);
const agent = new http.Agent({ keepAlive: false });
const out = [];
for (let i = 0; i < count; i++) {
  out.push(await new Promise((resolve) => {
    const req = http.get(url, { agent, headers, timeout: 5000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (e) => resolve({ status: 0, body: String(e.code ?? e.message) }));
  }));
}
console.log(JSON.stringify(out));
`;

/**
 * `count` plain HTTP/1.1 GETs from inside `host`, one connection each, as an app that knows
 * nothing of the mesh makes them (names resolve through the host's /etc/hosts).
 */
export function hostHttp(host: Host, url: string, o: { count?: number; headers?: Record<string, string> } = {}): Promise<{ status: number; body: string }[]> {
  return runJs(host, HTTP_JS, { url, count: o.count ?? 1, headers: o.headers ?? {} }, 120_000);
}

const TCP_JS = `
import net from 'node:net';
const { host, port, send, count } = JSON.parse(process.argv[1]);
const out = [];
for (let i = 0; i < count; i++) {
  out.push(await new Promise((resolve) => {
    let got = '';
    const s = net.connect({ host, port });
    s.setTimeout(5000, () => s.destroy(new Error('timeout')));
    s.setEncoding('utf8');
    s.on('connect', () => s.end(send));
    s.on('data', (d) => (got += d));
    s.on('error', (e) => resolve('ERROR ' + (e.code ?? e.message)));
    s.on('close', () => resolve(got));
  }));
}
console.log(JSON.stringify(out));
`;

/** `count` raw TCP connections from inside `host`: each sends `send`, half-closes, returns all it read ('ERROR <code>' on failure). */
export function hostTcp(host: Host, ip: string, port: number, send: string, o: { count?: number } = {}): Promise<string[]> {
  return runJs(host, TCP_JS, { host: ip, port, send, count: o.count ?? 1 }, 120_000);
}

// ---- apps ------------------------------------------------------------------------------------

/** An app to start in a host: a node ES module and its environment. */
export interface HostApp {
  script: string;
  args?: string[];
  /** A line on stdout that says it is listening. */
  ready: RegExp;
}

/** HTTP server on 0.0.0.0:port answering JSON { version, peer, local, host, path } (peer = the address it saw). */
export function httpEchoApp(port: number, version: string): HostApp {
  return {
    script: `
import http from 'node:http';
const [port, version] = [Number(process.argv[1]), process.argv[2]];
http.createServer((req, res) => {
  const body = JSON.stringify({ version, peer: req.socket.remoteAddress, local: req.socket.localAddress + ':' + req.socket.localPort, host: req.headers.host, path: req.url });
  res.writeHead(200, { 'content-type': 'application/json' }).end(body);
}).listen(port, '0.0.0.0', () => console.log('app listening ' + port));
`,
    args: [String(port), version],
    ready: new RegExp(`app listening ${port}`),
  };
}

/** TCP server on 0.0.0.0:port: answers "<version> <peer address>\n" then echoes what it reads. */
export function tcpEchoApp(port: number, version: string): HostApp {
  return {
    script: `
import net from 'node:net';
const [port, version] = [Number(process.argv[1]), process.argv[2]];
net.createServer({ allowHalfOpen: true }, (s) => {
  s.write(version + ' ' + s.remoteAddress + '\\n');
  s.on('error', () => {});
  s.pipe(s);
}).listen(port, '0.0.0.0', () => console.log('app listening ' + port));
`,
    args: [String(port), version],
    ready: new RegExp(`app listening ${port}`),
  };
}

/** Starts an app in `host` (as root) and waits for its ready line. */
export async function startHostApp(host: Host, app: HostApp): Promise<Started> {
  const p = started(host.spawn(process.execPath, ['--input-type=module', '-e', app.script, ...(app.args ?? [])], { cwd: REPO }));
  await waitOutput(p, app.ready, `[${host.name}] app`);
  return p;
}

// ---- capture ---------------------------------------------------------------------------------

export interface CaptureOptions {
  /** Inbound ports that bypass the sidecar (Istio's traffic.sidecar.istio.io/excludeInboundPorts). */
  excludeInboundPorts?: number[];
  /** Outbound ports that bypass it (excludeOutboundPorts). */
  excludeOutboundPorts?: number[];
  /** Outbound destinations that bypass it (excludeOutboundIPRanges). */
  excludeOutboundIPRanges?: string[];
}

/**
 * Captures the host's TCP into its sidecar with `tsmesh init` (istio-iptables' job), using the
 * flags an injected Istio sidecar runs: all outbound to 15001 except the proxy's uid/gid 1337,
 * all inbound to 15006 except the proxy's own ports (15090, 15021, 15020) and excluded ones.
 */
export async function applyCaptureRules(host: Host, o: CaptureOptions = {}): Promise<void> {
  const args = ['init', '-p', '15001', '-z', '15006', '-u', String(PROXY_UID), '-g', String(PROXY_GID), '-m', 'REDIRECT', '-i', '*', '-b', '*'];
  args.push('-d', [15090, 15021, 15020, ...(o.excludeInboundPorts ?? [])].join(','));
  if (o.excludeOutboundPorts?.length) args.push('-o', o.excludeOutboundPorts.join(','));
  if (o.excludeOutboundIPRanges?.length) args.push('-x', o.excludeOutboundIPRanges.join(','));
  const cmd = tsmeshCommand(args);
  await host.run(cmd.command, cmd.args, { timeoutMs: 60_000 });
}

// ---- the mesh --------------------------------------------------------------------------------

export interface HostMeshOptions {
  /** File name -> YAML, written into the config dir before the control plane starts. */
  config?: Record<string, string>;
  /** meshConfig YAML (--mesh). */
  meshConfig?: string;
  controlplaneArgs?: string[];
}

export interface SidecarOptions {
  name: string;
  namespace?: string;
  labels: Record<string, string>;
  serviceAccount?: string;
  /** The app's ports (POD_PORTS): the inbound listeners 15006 dispatches to. */
  ports?: number[];
  /** Started before the sidecar, as root, listening on 0.0.0.0. */
  app?: HostApp;
  /** iptables capture of this host (default {}: the standard rules); false leaves the host uncaptured. */
  capture?: CaptureOptions | false;
  /** Run the agent: a workload token and the mesh root; certificates from the CA at mesh.caAddress. */
  identity?: boolean;
  proxyArgs?: string[];
  env?: NodeJS.ProcessEnv;
}

export interface Sidecar {
  readonly name: string;
  readonly host: Host;
  /** The host's (first) address: the workload's INSTANCE_IPS. */
  readonly ip: string;
  readonly proxy: ChildProcess;
  output(): string;
  appOutput(): string;
  /** GET an admin path inside the host (127.0.0.1:15000), body text. */
  admin(path: string): Promise<string>;
  /** Admin /stats as name -> value (counters and gauges; histograms left out). */
  stats(): Promise<Record<string, number>>;
  stop(): Promise<void>;
}

export interface HostMesh {
  readonly host: Host;
  readonly ip: string;
  readonly xdsAddress: string;
  readonly caAddress: string;
  readonly configDir: string;
  readonly stateDir: string;
  readonly sidecars: readonly Sidecar[];
  output(): string;
  writeConfig(file: string, yaml: string): void;
  removeConfig(file: string): void;
  /** GET a control-plane HTTP path (e.g. /debug/syncz), parsed as JSON. */
  debug(path: string): Promise<any>;
  startSidecar(host: Host, o: SidecarOptions): Promise<Sidecar>;
  stop(): Promise<void>;
}

export async function startHostMesh(t: After, cpHost: Host, o: HostMeshOptions = {}): Promise<HostMesh> {
  const ip = Object.values(cpHost.ips)[0];
  if (!ip) throw new Error(`startHostMesh: host ${cpHost.name} has no address`);
  const dir = mkdtempSync(join(tmpdir(), 'tsmesh-hostmesh-'));
  // Sidecars run as 1337 and read their token and the root certificate from here.
  chmodSync(dir, 0o755);
  const configDir = join(dir, 'config');
  const stateDir = join(dir, 'state');
  const bootDir = join(dir, 'boot');
  for (const d of [configDir, stateDir, bootDir]) mkdirSync(d, { recursive: true });
  chmodSync(bootDir, 0o755);
  for (const [f, y] of Object.entries(o.config ?? {})) writeFileSync(join(configDir, f), y);
  const args = ['controlplane', '--config', configDir, '--address', '0.0.0.0', '--grpc-port', String(XDS_PORT), '--http-port', String(CP_HTTP_PORT), '--secure-grpc-port', String(CA_PORT), '--zipkin-port', 'off', '--state-dir', stateDir];
  if (o.meshConfig !== undefined) {
    writeFileSync(join(dir, 'mesh.yaml'), o.meshConfig);
    args.push('--mesh', join(dir, 'mesh.yaml'));
  }
  args.push(...(o.controlplaneArgs ?? []));
  const cmd = tsmeshCommand(args);
  const cp = started(cpHost.spawn(cmd.command, cmd.args, { cwd: REPO }));
  const sidecars: Sidecar[] = [];
  let stopped: Promise<void> | undefined;
  const stop = () =>
    (stopped ??= (async () => {
      await Promise.all(sidecars.map((s) => s.stop()));
      await cp.stop();
      rmSync(dir, { recursive: true, force: true });
    })());
  t.after(stop);
  await waitOutput(cp, /tsmesh controlplane ready/, `[${cpHost.name}] tsmesh controlplane`);
  const mesh: HostMesh = {
    host: cpHost,
    ip,
    xdsAddress: `${ip}:${XDS_PORT}`,
    caAddress: `${ip}:${CA_PORT}`,
    configDir,
    stateDir,
    sidecars,
    output: cp.output,
    writeConfig: (f, y) => writeFileSync(join(configDir, f), y),
    removeConfig: (f) => unlinkSync(join(configDir, f)),
    debug: async (path) => {
      const r = await hostFetch(cpHost, `http://127.0.0.1:${CP_HTTP_PORT}${path}`);
      if (r.status !== 200) throw new Error(`control plane ${path}: ${r.status} ${r.body.slice(0, 300)}`);
      return JSON.parse(r.body);
    },
    startSidecar: async (host, so) => {
      const sc = await startSidecar(mesh, host, so, bootDir);
      sidecars.push(sc);
      return sc;
    },
    stop,
  };
  return mesh;
}

async function startSidecar(mesh: HostMesh, host: Host, o: SidecarOptions, bootDir: string): Promise<Sidecar> {
  const ip = Object.values(host.ips)[0]!;
  const namespace = o.namespace ?? 'default';
  const serviceAccount = o.serviceAccount ?? 'default';
  const app = o.app ? await startHostApp(host, o.app) : undefined;
  if (o.capture !== false) await applyCaptureRules(host, o.capture ?? {});
  const args = [
    'proxy',
    '--discovery-address', mesh.xdsAddress,
    '--workload-name', o.name,
    '--pod-name', o.name,
    '--namespace', namespace,
    '--labels', Object.entries(o.labels).map(([k, v]) => `${k}=${v}`).join(','),
    '--service-account', serviceAccount,
    '--ip', ip,
    '--drain-time-s', '0',
  ];
  if (o.ports?.length) args.push('--ports', o.ports.join(','));
  if (o.identity) {
    const token = join(bootDir, `${o.name}.token`);
    writeFileSync(token, await issueWorkloadToken(mesh.stateDir, { namespace, serviceAccount, podName: o.name }), { mode: 0o600 });
    chownSync(token, PROXY_UID, PROXY_GID);
    const root = join(bootDir, 'root-cert.pem');
    copyFileSync(join(mesh.stateDir, 'ca', 'root-cert.pem'), root);
    chmodSync(root, 0o644);
    args.push('--token-file', token, '--ca-root-cert', root, '--ca-address', mesh.caAddress);
  }
  args.push(...(o.proxyArgs ?? []));
  const cmd = tsmeshCommand(args);
  // HOME and the temp dir somewhere 1337 may write (tsx's cache, the agent's SDS socket).
  const proxy = started(host.spawn(cmd.command, cmd.args, { cwd: REPO, user: { uid: PROXY_UID, gid: PROXY_GID }, env: { ...process.env, HOME: '/tmp', TMPDIR: '/tmp', ...o.env } }));
  const admin = async (path: string) => {
    const r = await hostFetch(host, `http://127.0.0.1:${ADMIN_PORT}${path}`);
    if (r.status === 0) throw new Error(`[${host.name}] admin ${path}: ${r.body}`);
    return r.body;
  };
  const sc: Sidecar = {
    name: o.name,
    host,
    ip,
    proxy: proxy.child,
    output: proxy.output,
    appOutput: () => app?.output() ?? '',
    admin,
    stats: async () => {
      const out: Record<string, number> = {};
      for (const line of (await admin('/stats')).split('\n')) {
        const m = /^([^:\s]+): (-?\d+(?:\.\d+)?)$/.exec(line.trim());
        if (m) out[m[1]!] = Number(m[2]);
      }
      return out;
    },
    stop: async () => {
      await proxy.stop();
      await app?.stop();
    },
  };
  try {
    await waitOutput(proxy, /tsmesh proxy ready/, `[${host.name}] tsmesh proxy`);
    await until(async () => (await hostFetch(host, `http://127.0.0.1:${ADMIN_PORT}/ready`)).status === 200, `[${host.name}] sidecar /ready`, READY_MS, 200);
  } catch (e) {
    await sc.stop();
    throw new Error(`${(e as Error).message}\n--- sidecar output ---\n${proxy.output().slice(-4000)}`);
  }
  return sc;
}
