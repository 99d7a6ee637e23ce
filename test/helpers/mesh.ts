/**
 * A whole mesh on loopback for integration tests: a temp config dir of Istio YAML, a real
 * `tsmesh controlplane` serving it, and "pods" = an app (run in the test process, so the test can
 * count what it receives) plus a real `tsmesh proxy` sidecar started from the same bootstrap the
 * demo writes (Istio's NONE interception mode, src/agent/bootstrap.ts).
 *
 * Addresses: each Mesh takes a free block `127.11.<k>.N` (pod IPs: the sidecar's inbound
 * listeners) / `127.12.<k>.N` (app IPs: the app, the sidecar's admin on :15000 and its HTTP
 * proxy listener on :15080), N = 1, 2, ... per pod, so apps keep fixed ports (8080, 9080...) and
 * meshes in concurrent test files never clash with each other or with the demo (127.0.1/2.N).
 * Gateways bind `127.13.<k>.N` (GATEWAY_BIND_ADDRESS) on the ports their Gateways name.
 * Pods become endpoints through auto-registration: a Service whose selector matches a pod's
 * labels picks it, with endpoint port = the Service's targetPort on the pod IP.
 *
 * API
 *   const mesh = await startMesh(t, { config: { 'echo.yaml': yaml } });   // stopped in t.after
 *   mesh.writeConfig('vs.yaml', yaml) / mesh.removeConfig('vs.yaml')      // the CP watches the dir
 *   const v1 = await mesh.startPod({ name: 'echo-v1', labels: { app: 'echo', version: 'v1' },
 *     ports: { http: 8080 }, app: (ip) => startEcho({ host: ip, port: 8080, log: () => {} }) });
 *   const client = await mesh.startPod({ name: 'client', labels: { app: 'client' } });
 *   const r = await client.request('echo:80', '/path', { headers: { 'end-user': 'jason' } });
 *   r.status, r.headers, r.body, r.json()
 *   await client.waitFor('echo:80', '/', (r) => r.status === 200)         // bounded polling
 *   client.outbound            // 'http://<appIP>:15080' (HTTP proxy listener; route by Host)
 *   client.appIP / podIP / admin ('http://<appIP>:15000') / proxy (Proc) / configDump()
 *   await mesh.apply('vs.yaml', yaml, [client])  // write, then wait until client ACKed the push
 *   const gw = await mesh.startGateway({ ports: [8080] });  // ingress gateway at 127.13.<k>.N
 *   await gw.request(8080, 'bookinfo.example.com', '/productpage')
 *   mesh.syncz() / mesh.cp.output() / mesh.controlplane ('http://127.0.0.1:<http port>')
 *   await mesh.stop()          // idempotent; also registered with t.after by startMesh(t, ...)
 * Timeouts are generous (a 2-core machine running other tests): 60 s per process to be ready.
 */
import { mkdirSync, mkdtempSync, renameSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { createServer, connect, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { Pool } from 'undici';
import { gatewayBootstrap, sidecarBootstrap, writeBootstrap } from '../../src/agent/bootstrap.ts';
import { issueWorkloadToken } from '../../src/ca/token.ts';
import { until } from './poll.ts';
import { REPO, spawnTsmesh, startControlPlane, type ControlPlaneProc, type Proc } from './processes.ts';

export const ADMIN_PORT = 15000;
export const OUTBOUND_PORT = 15080;
const READY_MS = 60_000;

/** Anything the pod's app function returns: closed when the pod stops. */
export interface Closable {
  close(): Promise<void> | void;
}

export interface PodOptions {
  name: string;
  namespace?: string;
  /** Labels for Service selectors and subsets (auto-registration needs at least one). */
  labels: Record<string, string>;
  /** Named container ports (Istio's POD_PORTS), e.g. { http: 8080 }. */
  ports?: Record<string, number>;
  /**
   * Starts the app on the pod's app IP (in the test process, or spawn a child and return its
   * closer); its calls to other services go to `http://<appIP>:15080` (OUTBOUND_PORT) by Host.
   * None for a client-only pod.
   */
  app?: (appIP: string) => Promise<Closable> | Closable;
  serviceAccount?: string;
  /** Ports the sidecar must be listening on at the pod IP before the pod counts as ready (default: every value of `ports`). */
  inboundPorts?: number[];
  /** Extra `tsmesh proxy` flags. */
  proxyArgs?: string[];
  /** Environment for the sidecar process (e.g. a log level). */
  env?: NodeJS.ProcessEnv;
  /**
   * A workload identity: the sidecar runs its agent (a token minted for its service account,
   * the control plane's root, its CA port) and gets certificates of `certTtl` (e.g. '4s') over SDS.
   */
  identity?: Identity;
}

/** A proxy's workload identity: its agent asks the control plane's CA (or `caAddress`) for certificates of `certTtl`. */
export interface Identity {
  certTtl?: string;
  caAddress?: string;
}

export interface MeshResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  json(): any;
}

export interface RequestOptions {
  method?: string;
  headers?: Record<string, string>;
  body?: string;
  /** Abort after this long (default 15 s): a hung request fails the test instead of hanging it. */
  timeoutMs?: number;
}

export interface Pod {
  readonly name: string;
  readonly namespace: string;
  readonly index: number;
  readonly podIP: string;
  readonly appIP: string;
  /** The sidecar's HTTP proxy listener (route by Host header). */
  readonly outbound: string;
  /** The sidecar's admin API. */
  readonly admin: string;
  readonly proxy: Proc;
  readonly bootstrapFile: string;
  /** One HTTP/1.1 request through this pod's sidecar, with `Host: <host>` (keep-alive pool). */
  request(host: string, path: string, o?: RequestOptions): Promise<MeshResponse>;
  /** Repeats the request until `ok` holds (or throws after timeoutMs), returns the last response. */
  waitFor(host: string, path: string, ok: (r: MeshResponse) => boolean, o?: RequestOptions & { waitMs?: number }): Promise<MeshResponse>;
  configDump(): Promise<any>;
  stop(): Promise<void>;
}

/** One row of the control plane's /debug/syncz (see src/xds/server/connection.ts). */
export interface SyncRow {
  id: string;
  proxyId: string;
  types: Record<string, { sentVersion: string; ackedVersion: string; synced: boolean; lastNack?: { nonce: string; version: string; code: number; message: string }; lastError?: string }>;
}

export interface GatewayOptions {
  name?: string;
  namespace?: string;
  /** Default Istio's { istio: 'ingressgateway', app: 'istio-ingressgateway' }. */
  labels?: Record<string, string>;
  /** Ports the Gateways give this gateway: ready once it listens on each. */
  ports: number[];
  proxyArgs?: string[];
  /** A workload identity for the gateway's agent (its service account `<name>-service-account`). */
  identity?: Identity;
}

export interface Gateway {
  /** Where its listeners bind: `127.13.<k>.N`. */
  readonly ip: string;
  readonly admin: string;
  readonly proxy: Proc;
  /** 'http://<ip>:<port>' */
  url(port: number): string;
  /** One request to the gateway's `port` with `Host: <host>`. */
  request(port: number, host: string, path: string, o?: RequestOptions): Promise<MeshResponse>;
  waitFor(port: number, host: string, path: string, ok: (r: MeshResponse) => boolean, o?: RequestOptions & { waitMs?: number }): Promise<MeshResponse>;
  stop(): Promise<void>;
}

export interface MeshOptions {
  /** Files to write into the config dir before the control plane starts: file name -> YAML. */
  config?: Record<string, string>;
  /** Extra `tsmesh controlplane` flags. */
  controlplaneArgs?: string[];
}

export interface Mesh {
  readonly dir: string;
  readonly cp: Proc;
  readonly grpcPort: number;
  readonly httpPort: number;
  /** The control plane's CA port and state directory (its root: <stateDir>/ca/root-cert.pem). */
  readonly secureGrpcPort: number;
  readonly stateDir: string;
  /** 'http://127.0.0.1:<http port>': /ready, /debug/syncz, /debug/configz... */
  readonly controlplane: string;
  /** `127.11.<k>.` and `127.12.<k>.`: pod N gets podNet+N / appNet+N. */
  readonly podNet: string;
  readonly appNet: string;
  readonly pods: readonly Pod[];
  writeConfig(file: string, yaml: string): void;
  removeConfig(file: string): void;
  startPod(o: PodOptions): Promise<Pod>;
  /** An ingress (or egress) gateway: a router proxy binding GATEWAY_BIND_ADDRESS 127.13.<k>.N. */
  startGateway(o: GatewayOptions): Promise<Gateway>;
  /**
   * Writes (yaml) or removes (undefined) a config file, then waits until every pod in `pods` has
   * been sent a new version of some resource type and has ACKed everything (a NACK throws with
   * the proxy's error). Only for changes that do change what those pods get. With `changes`
   * (type URLs), the new version must be of those types: a push caused by something else (a pod
   * that just started) then cannot end the wait before this file's push has been ACKed.
   */
  apply(file: string, yaml: string | undefined, pods: readonly Pod[], timeoutMs?: number, changes?: readonly string[]): Promise<void>;
  /** The control plane's /debug/syncz rows of this pod's ADS connection(s). */
  syncOf(pod: Pod): Promise<SyncRow[]>;
  syncz(): Promise<SyncRow[]>;
  stop(): Promise<void>;
}

export { spawnTsmesh };

function tcpOpen(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host, port });
    const done = (ok: boolean) => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(1000, () => done(false));
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}

async function httpOk(url: string): Promise<boolean> {
  const r = await fetch(url, { signal: AbortSignal.timeout(2000) });
  await r.arrayBuffer();
  return r.status === 200;
}

/**
 * Holds `127.11.<k>.0:15999` for the mesh's lifetime: a second mesh (another test file, running
 * concurrently) finds it taken and moves on to another block.
 */
async function lockBlock(): Promise<{ k: number; lock: Server }> {
  const start = 1 + ((process.pid * 7) % 240);
  for (let i = 0; i < 250; i++) {
    const k = 1 + ((start + i) % 250);
    const lock = createServer();
    const ok = await new Promise<boolean>((resolve) => {
      lock.once('error', () => resolve(false));
      lock.listen({ host: `127.11.${k}.0`, port: 15999, exclusive: true }, () => resolve(true));
    });
    if (ok) return { k, lock };
  }
  throw new Error('no free 127.11.<k>.0/24 block for a test mesh');
}

export async function startMesh(t: { after(fn: () => Promise<void> | void): void } | undefined, o: MeshOptions = {}): Promise<Mesh> {
  const { k, lock } = await lockBlock();
  const dir = mkdtempSync(join(tmpdir(), 'tsmesh-mesh-'));
  const configDir = join(dir, 'config');
  const bootDir = join(dir, 'bootstrap');
  mkdirSync(configDir, { recursive: true });
  for (const [file, yaml] of Object.entries(o.config ?? {})) writeYaml(configDir, file, yaml);
  let cp: ControlPlaneProc;
  try {
    cp = await startControlPlane(configDir, o.controlplaneArgs ?? []);
  } catch (e) {
    lock.close();
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  const pods: Pod[] = [];
  const gateways: Gateway[] = [];
  // Taken synchronously, so pods started in parallel get distinct addresses.
  let nextIndex = 1;
  let stopped: Promise<void> | undefined;
  const { grpcPort, httpPort, secureGrpcPort, stateDir } = cp;
  const mesh: Mesh = {
    dir: configDir,
    cp,
    grpcPort,
    httpPort,
    secureGrpcPort,
    stateDir,
    controlplane: `http://127.0.0.1:${httpPort}`,
    podNet: `127.11.${k}.`,
    appNet: `127.12.${k}.`,
    pods,
    writeConfig: (file, yaml) => writeYaml(configDir, file, yaml),
    removeConfig: (file) => unlinkSync(join(configDir, file)),
    startPod: async (po) => {
      const pod = await startPod(mesh, po, nextIndex++, bootDir);
      pods.push(pod);
      return pod;
    },
    startGateway: async (go) => {
      const gw = await startGateway(mesh, go, `127.13.${k}.${nextIndex++}`, bootDir);
      gateways.push(gw);
      return gw;
    },
    syncz: async () => (await fetch(`http://127.0.0.1:${httpPort}/debug/syncz`, { signal: AbortSignal.timeout(5000) })).json() as Promise<SyncRow[]>,
    syncOf: async (pod) => (await mesh.syncz()).filter((r) => r.proxyId.includes(`~${pod.podIP}~`)),
    apply: async (file, yaml, targets, timeoutMs = READY_MS, changes) => {
      const counted = (t: string) => !changes || changes.includes(t);
      const key = (rows: SyncRow[]) =>
        rows
          .map(
            (r) =>
              `${r.id}:${Object.entries(r.types)
                .filter(([t]) => counted(t))
                .map(([t, w]) => `${t}=${w.sentVersion}`)
                .join(',')}`,
          )
          .join(';');
      const before = await Promise.all(targets.map(async (p) => key(await mesh.syncOf(p))));
      if (yaml === undefined) mesh.removeConfig(file);
      else mesh.writeConfig(file, yaml);
      for (const [i, pod] of targets.entries()) {
        let nack = '';
        await until(
          async () => {
            const rows = await mesh.syncOf(pod);
            const bad = rows.flatMap((r) => Object.entries(r.types)).find(([, w]) => w.lastNack && !w.synced);
            if (bad) nack = `${bad[0]}: ${bad[1].lastNack!.message}`;
            if (nack) return true;
            return rows.length > 0 && key(rows) !== before[i] && rows.every((r) => Object.values(r.types).every((w) => w.synced));
          },
          `${pod.name} to ACK the config after writing ${file}`,
          timeoutMs,
          100,
        );
        if (nack) throw new Error(`${pod.name} NACKed the config after writing ${file}: ${nack}`);
      }
    },
    stop: () =>
      (stopped ??= (async () => {
        await Promise.all([...pods, ...gateways].map((p) => p.stop()));
        await cp.stop();
        await new Promise<void>((r) => lock.close(() => r()));
        rmSync(dir, { recursive: true, force: true });
      })()),
  };
  t?.after(() => mesh.stop());
  return mesh;
}

/**
 * The config dir takes YAML files, each written whole: written beside the dir, then renamed in,
 * so the store never reads a half-written file (a truncated file read under load is a config
 * change of its own, pushed and ACKed before the real one, and `apply` would return on it).
 */
function writeYaml(configDir: string, file: string, yaml: string): void {
  const dest = join(configDir, file);
  mkdirSync(dirname(dest), { recursive: true });
  const tmp = join(dirname(configDir), `.${basename(file)}.${process.pid}.tmp`);
  writeFileSync(tmp, yaml);
  renameSync(tmp, dest);
}

/** Requests with a Host header over a keep-alive pool; `waitFor` retries until `ok` (bounded). */
function requester(pool: Pool, who: string) {
  const request = async (host: string, path: string, ro: RequestOptions = {}): Promise<MeshResponse> => {
    const r = await pool.request({
      method: (ro.method ?? 'GET') as 'GET',
      path,
      headers: { host, ...ro.headers },
      body: ro.body,
      signal: AbortSignal.timeout(ro.timeoutMs ?? 15_000),
    });
    const body = await r.body.text();
    return { status: r.statusCode, headers: r.headers, body, json: () => JSON.parse(body) };
  };
  const waitFor = async (host: string, path: string, ok: (r: MeshResponse) => boolean, ro: RequestOptions & { waitMs?: number } = {}): Promise<MeshResponse> => {
    let last: MeshResponse | undefined;
    let err: unknown;
    const deadline = Date.now() + (ro.waitMs ?? READY_MS);
    for (;;) {
      try {
        last = await request(host, path, { ...ro, timeoutMs: ro.timeoutMs ?? 5000 });
        if (ok(last)) return last;
      } catch (e) {
        err = e;
      }
      if (Date.now() > deadline) {
        throw new Error(`${who}: ${host}${path} never answered as expected; last: ${last ? `${last.status} ${last.body.slice(0, 300)}` : String(err)}`);
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  };
  return { request, waitFor };
}

/** `tsmesh proxy` flags that start its agent: a token for the identity, the mesh root, the CA's address. */
async function agentArgs(mesh: Mesh, id: Identity, who: { namespace: string; serviceAccount: string; pod: string }, bootDir: string): Promise<string[]> {
  const tokenFile = join(bootDir, `${who.pod}.token`);
  writeFileSync(tokenFile, await issueWorkloadToken(mesh.stateDir, { namespace: who.namespace, serviceAccount: who.serviceAccount, podName: who.pod }), { mode: 0o600 });
  const args = ['--token-file', tokenFile, '--ca-root-cert', join(mesh.stateDir, 'ca', 'root-cert.pem'), '--ca-address', id.caAddress ?? `127.0.0.1:${mesh.secureGrpcPort}`];
  if (id.certTtl) args.push('--workload-cert-ttl', id.certTtl);
  return args;
}

async function startGateway(mesh: Mesh, o: GatewayOptions, ip: string, bootDir: string): Promise<Gateway> {
  const name = o.name ?? 'istio-ingressgateway';
  const file = join(bootDir, `${name}.json`);
  writeBootstrap(
    file,
    gatewayBootstrap({
      name,
      namespace: o.namespace ?? 'istio-system',
      labels: o.labels ?? { istio: 'ingressgateway', app: 'istio-ingressgateway' },
      bindAddress: ip,
      adminPort: ADMIN_PORT,
      xds: { host: '127.0.0.1', port: mesh.grpcPort },
      ...(o.identity ? { sdsSocket: join(bootDir, `${name}.sock`) } : {}),
    }),
  );
  const identityArgs = o.identity ? await agentArgs(mesh, o.identity, { namespace: o.namespace ?? 'istio-system', serviceAccount: `${name}-service-account`, pod: name }, bootDir) : [];
  const proxy = await spawnTsmesh(['proxy', '--bootstrap', file, '--concurrency', '1', '--drain-time-s', '0', ...identityArgs, ...(o.proxyArgs ?? [])], /tsmesh proxy ready/);
  const pools = new Map<number, Pool>();
  const poolFor = (port: number) => {
    let p = pools.get(port);
    if (!p) pools.set(port, (p = new Pool(`http://${ip}:${port}`, { connections: 8, keepAliveTimeout: 30_000 })));
    return p;
  };
  let stopped: Promise<void> | undefined;
  const gw: Gateway = {
    ip,
    admin: `http://${ip}:${ADMIN_PORT}`,
    proxy,
    url: (port) => `http://${ip}:${port}`,
    request: (port, host, path, ro) => requester(poolFor(port), name).request(host, path, ro),
    waitFor: (port, host, path, ok, ro) => requester(poolFor(port), name).waitFor(host, path, ok, ro),
    stop: () =>
      (stopped ??= (async () => {
        await Promise.all([...pools.values()].map((p) => p.destroy().catch(() => undefined)));
        await proxy.stop();
      })()),
  };
  try {
    await until(() => httpOk(`${gw.admin}/ready`), `${name} /ready`, READY_MS, 100);
    for (const port of o.ports) await until(() => tcpOpen(ip, port), `${name} listening on ${ip}:${port} (does a Gateway select ${JSON.stringify(o.labels ?? 'istio=ingressgateway')} with that port?)`, READY_MS, 100);
  } catch (e) {
    const out = proxy.output();
    await gw.stop();
    throw new Error(`${(e as Error).message}\n--- gateway output ---\n${out.slice(-4000)}`);
  }
  return gw;
}

async function startPod(mesh: Mesh, o: PodOptions, index: number, bootDir: string): Promise<Pod> {
  const namespace = o.namespace ?? 'default';
  const podIP = mesh.podNet + index;
  const appIP = mesh.appNet + index;
  const ports = o.ports ?? {};
  const app = o.app ? await o.app(appIP) : undefined;
  const file = join(bootDir, `${o.name}.json`);
  writeBootstrap(
    file,
    sidecarBootstrap({
      pod: o.name,
      namespace,
      podIP,
      appIP,
      app: o.labels.app ?? o.name,
      labels: o.labels,
      serviceAccount: o.serviceAccount ?? 'default',
      workloadName: o.name,
      ports,
      containerPorts: Object.values(ports),
      adminPort: ADMIN_PORT,
      outboundPort: OUTBOUND_PORT,
      xds: { host: '127.0.0.1', port: mesh.grpcPort },
      ...(o.identity ? { sdsSocket: join(bootDir, `${o.name}.sock`) } : {}),
    }),
  );
  const identityArgs = o.identity ? await agentArgs(mesh, o.identity, { namespace, serviceAccount: o.serviceAccount ?? 'default', pod: o.name }, bootDir) : [];
  let proxy: Proc;
  try {
    proxy = await spawnTsmesh(['proxy', '--bootstrap', file, '--concurrency', '1', '--drain-time-s', '0', ...identityArgs, ...(o.proxyArgs ?? [])], /tsmesh proxy ready/, { env: o.env });
  } catch (e) {
    await app?.close();
    throw e;
  }
  const admin = `http://${appIP}:${ADMIN_PORT}`;
  const outbound = `http://${appIP}:${OUTBOUND_PORT}`;
  const pool = new Pool(outbound, { connections: 8, keepAliveTimeout: 30_000 });
  const http = requester(pool, o.name);
  let stopped: Promise<void> | undefined;
  const pod: Pod = {
    name: o.name,
    namespace,
    index,
    podIP,
    appIP,
    outbound,
    admin,
    proxy,
    bootstrapFile: file,
    request: (host, path, ro) => http.request(host, path, ro),
    waitFor: (host, path, ok, ro) => http.waitFor(host, path, ok, ro),
    configDump: async () => (await fetch(`${admin}/config_dump`)).json(),
    stop: () =>
      (stopped ??= (async () => {
        await pool.destroy().catch(() => undefined);
        await proxy.stop();
        await app?.close();
      })()),
  };
  try {
    await until(() => httpOk(`${admin}/ready`), `${o.name} sidecar /ready`, READY_MS, 100);
    await until(() => tcpOpen(appIP, OUTBOUND_PORT), `${o.name} HTTP proxy listener ${appIP}:${OUTBOUND_PORT}`, READY_MS, 100);
    for (const port of o.inboundPorts ?? Object.values(ports)) {
      await until(() => tcpOpen(podIP, port), `${o.name} inbound listener ${podIP}:${port} (does a Service select labels ${JSON.stringify(o.labels)}?)`, READY_MS, 100);
    }
  } catch (e) {
    const out = proxy.output();
    await pod.stop();
    throw new Error(`${(e as Error).message}\n--- sidecar output ---\n${out.slice(-4000)}`);
  }
  return pod;
}
