/**
 * End-to-end gateway fixture: a real `tsmesh controlplane` reading Istio YAML from a temp
 * directory, and a real `tsmesh proxy` started from a router bootstrap (the ingress gateway's
 * node id and labels, as src/agent/bootstrap.ts writes it) whose Gateway listeners bind one
 * loopback address (GATEWAY_BIND_ADDRESS). Backends are plain servers the tests start and put in
 * the mesh as WorkloadEntries or STATIC ServiceEntries, so no sidecar sits on the backend side.
 * Plus small clients (HTTP with an explicit Host, HTTPS with SNI, TCP lines) for asserting on
 * the wire.
 */
import type { TestContext } from 'node:test';
import { mkdirSync, mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import tls from 'node:tls';
import { gatewayBootstrap, writeBootstrap } from '../../src/agent/bootstrap.ts';
import { until } from './poll.ts';
import { freePort, startControlPlane, startTsmesh, type Proc } from './processes.ts';

export interface GatewayMesh {
  /** The loopback address the gateway's listeners bind. */
  ip: string;
  /** The control plane's config directory. */
  dir: string;
  cp: Proc;
  gw: Proc;
  adminPort: number;
  /** Writes (or replaces) one YAML file in the config directory; the control plane picks it up. */
  write(file: string, yaml: string): void;
  remove(file: string): void;
  /** GET on the gateway's admin API. */
  admin(path: string): Promise<string>;
  /** Output of both processes, for assertion messages. */
  logs(): string;
}

export interface GatewayMeshOptions {
  /** Loopback address for the gateway's listeners and admin (e.g. 127.0.21.10). */
  ip: string;
  /** Initial config files: name → YAML. */
  files: Record<string, string>;
  labels?: Record<string, string>;
  /** Gateway workload name and namespace (default istio-ingressgateway in istio-system). */
  name?: string;
  namespace?: string;
  /** Extra `tsmesh controlplane` flags (e.g. --mesh <file>). */
  controlplaneArgs?: string[];
}

/** Starts control plane + router proxy; everything stops (and the temp dir goes) in t.after. */
export async function startGatewayMesh(t: TestContext, o: GatewayMeshOptions): Promise<GatewayMesh> {
  const dir = mkdtempSync(join(tmpdir(), 'tsmesh-gw-'));
  const cfg = join(dir, 'config');
  const procs: Proc[] = [];
  t.after(async () => {
    for (const p of procs.reverse()) await p.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  mkdirSync(cfg);
  const write = (file: string, yaml: string) => writeFileSync(join(cfg, file), yaml);
  for (const [f, y] of Object.entries(o.files)) write(f, y);

  const cp = await startControlPlane(cfg, o.controlplaneArgs ?? []);
  const { grpcPort, httpPort } = cp;
  procs.push(cp);

  const bootstrapFile = join(dir, 'gateway-bootstrap.json');
  writeBootstrap(
    bootstrapFile,
    gatewayBootstrap({
      name: o.name,
      namespace: o.namespace,
      labels: o.labels,
      bindAddress: o.ip,
      adminPort: 0,
      xds: { host: '127.0.0.1', port: grpcPort },
    }),
  );
  const gw = await startTsmesh(['proxy', '--bootstrap', bootstrapFile, '--admin-port', '0', '--drain-time-s', '1'], /tsmesh proxy ready: admin [\d.]+:\d+/);
  procs.push(gw);
  const adminPort = Number(/tsmesh proxy ready: admin [\d.]+:(\d+)/.exec(gw.output())![1]);

  return {
    ip: o.ip,
    dir: cfg,
    cp,
    gw,
    adminPort,
    write,
    remove: (file) => unlinkSync(join(cfg, file)),
    admin: async (path) => (await fetch(`http://${o.ip}:${adminPort}${path}`)).text(),
    logs: () => `--- controlplane ---\n${cp.output()}\n--- gateway ---\n${gw.output()}`,
  };
}

/** Generous readiness: the machine is small and shared. */
export const READY_MS = 45_000;

export interface HttpResult {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** One HTTP/1.1 request to ip:port with an explicit Host header (no keep-alive). */
export function httpGet(ip: string, port: number, host: string, path = '/', headers: Record<string, string> = {}): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: ip, port, path, method: 'GET', headers: { host, ...headers }, agent: false, timeout: 10_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('request timed out')));
    req.on('error', reject);
    req.end();
  });
}

export interface HttpsOptions {
  ca: string;
  servername: string;
  cert?: string;
  key?: string;
  host?: string;
  maxVersion?: tls.SecureVersion;
}

/** One HTTPS request through the gateway: SNI `servername`, server verified against `ca`. */
export function httpsGet(ip: string, port: number, o: HttpsOptions, path = '/'): Promise<HttpResult & { peerCN?: string; protocol?: string | null }> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      {
        host: ip,
        port,
        path,
        method: 'GET',
        servername: o.servername,
        ca: o.ca,
        cert: o.cert,
        key: o.key,
        maxVersion: o.maxVersion,
        headers: { host: o.host ?? o.servername },
        agent: false,
        timeout: 10_000,
      },
      (res) => {
        const sock = res.socket as tls.TLSSocket;
        const peerCN = sock.getPeerCertificate?.()?.subject?.CN;
        const protocol = sock.getProtocol?.();
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body, peerCN: typeof peerCN === 'string' ? peerCN : undefined, protocol }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error('request timed out')));
    req.on('error', reject);
    req.end();
  });
}

/**
 * A bare TLS handshake: resolves with the negotiated protocol and peer subject CN, or rejects
 * with the handshake error (or when the server closes before the handshake completes).
 */
export function tlsHandshake(ip: string, port: number, o: tls.ConnectionOptions): Promise<{ protocol: string | null; peerCN?: string; socket: tls.TLSSocket }> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: ip, port, timeout: 10_000, ...o });
    s.once('secureConnect', () => {
      const cn = s.getPeerCertificate()?.subject?.CN;
      resolve({ protocol: s.getProtocol(), peerCN: typeof cn === 'string' ? cn : undefined, socket: s });
    });
    s.once('timeout', () => s.destroy(new Error('handshake timed out')));
    s.once('error', reject);
    s.once('close', () => reject(new Error('closed before the handshake completed')));
  });
}

/** Sends one line over a fresh TCP connection, half-closes, and resolves with all it got back. */
export function tcpExchange(ip: string, port: number, line: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: ip, port });
    let got = '';
    s.setEncoding('utf8');
    s.setTimeout(10_000, () => s.destroy(new Error('tcp exchange timed out')));
    s.on('connect', () => s.end(`${line}\n`));
    s.on('data', (d: string) => (got += d));
    s.on('error', reject);
    s.on('close', () => resolve(got));
  });
}

/** True if something accepts TCP connections on ip:port. */
export function canConnect(ip: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: ip, port });
    s.setTimeout(5_000, () => {
      s.destroy();
      resolve(false);
    });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** Polls until the gateway listens on `port` (LDS arrived and the socket is bound). */
export async function waitListening(ip: string, port: number, timeoutMs = READY_MS): Promise<void> {
  await until(() => canConnect(ip, port), `a listener on ${ip}:${port}`, timeoutMs, 200);
}

/** A port free on the loopback (a fresh one per Gateway server). */
export { freePort, until };
