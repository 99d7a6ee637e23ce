/**
 * One run of a WorkloadGroup's readiness probe (Istio's `ReadinessProbe`: httpGet, tcpSocket or
 * exec), as the agent on a VM runs it against its app. Outcomes follow Kubernetes' probes, which
 * Istio's mirror: HTTP 200-399 passes, a TCP connect passes, an exit status of 0 passes; anything
 * else, or no answer within the timeout, fails with a reason.
 */
import { request as httpRequest, type ClientRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { connect } from 'node:net';
import { execFile } from 'node:child_process';

export interface HttpGetProbe {
  path?: string;
  port: number;
  host?: string;
  scheme?: string;
  httpHeaders?: { name: string; value: string }[];
}
export interface TcpSocketProbe {
  host?: string;
  port: number;
}
export interface ExecProbe {
  command: string[];
}

/** Istio's networking.v1alpha3.ReadinessProbe, as WorkloadGroup.spec.probe and ProxyConfig.readinessProbe carry it. */
export interface ReadinessProbe {
  initialDelaySeconds?: number;
  timeoutSeconds?: number;
  periodSeconds?: number;
  successThreshold?: number;
  failureThreshold?: number;
  httpGet?: HttpGetProbe;
  tcpSocket?: TcpSocketProbe;
  exec?: ExecProbe;
}

export interface ProbeResult {
  healthy: boolean;
  /** An HTTP probe's status code, when the app answered. */
  status?: number;
  /** Why it failed (sent to the control plane with an unhealthy report). */
  message: string;
}

/** RFC 9110 token, and a field value without control characters but tab (what Node's http accepts). */
const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const HEADER_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;

/**
 * Checks a probe's shape; returns the problem (naming the field) or undefined. Exactly one of
 * httpGet / tcpSocket / exec, as Istio's validation requires.
 */
export function probeProblem(p: unknown): string | undefined {
  if (typeof p !== 'object' || p === null || Array.isArray(p)) return 'probe: expected an object';
  const r = p as Record<string, unknown>;
  if (r.grpc !== undefined) return 'probe.grpc: gRPC health probes are not run by tsmesh yet; use httpGet, tcpSocket or exec';
  const kinds = ['httpGet', 'tcpSocket', 'exec'].filter((k) => r[k] !== undefined);
  if (kinds.length !== 1) return `probe: exactly one of httpGet, tcpSocket, exec is required (got ${kinds.length ? kinds.join(', ') : 'none'})`;
  for (const f of ['initialDelaySeconds', 'timeoutSeconds', 'periodSeconds', 'successThreshold', 'failureThreshold']) {
    const v = r[f];
    if (v !== undefined && (typeof v !== 'number' || !Number.isInteger(v) || v < 0)) return `probe.${f}: expected a whole number >= 0, got ${JSON.stringify(v)}`;
  }
  const port = (x: unknown) => typeof x === 'number' && Number.isInteger(x) && x > 0 && x < 65536;
  if (r.httpGet !== undefined) {
    const h = r.httpGet as Record<string, unknown>;
    if (!port(h?.port)) return `probe.httpGet.port: expected a port number, got ${JSON.stringify(h?.port)}`;
    if (h.scheme !== undefined && !/^https?$/i.test(String(h.scheme))) return `probe.httpGet.scheme: expected HTTP or HTTPS, got ${JSON.stringify(h.scheme)}`;
    const headers = h.httpHeaders;
    if (headers !== undefined) {
      if (!Array.isArray(headers)) return 'probe.httpGet.httpHeaders: expected a list of {name, value}';
      for (const [i, hh] of headers.entries()) {
        const { name, value } = (hh ?? {}) as Record<string, unknown>;
        // Node's http refuses these synchronously; caught here so the VM's files are refused, not the running probe.
        if (typeof name !== 'string' || !HEADER_NAME.test(name)) return `probe.httpGet.httpHeaders[${i}].name: not a valid HTTP header name: ${JSON.stringify(name)}`;
        if (value !== undefined && (typeof value !== 'string' || !HEADER_VALUE.test(value))) return `probe.httpGet.httpHeaders[${i}].value: expected a string without control characters (CR, LF, NUL)`;
      }
    }
  }
  if (r.tcpSocket !== undefined && !port((r.tcpSocket as Record<string, unknown>)?.port)) return `probe.tcpSocket.port: expected a port number`;
  if (r.exec !== undefined) {
    const c = (r.exec as Record<string, unknown>)?.command;
    if (!Array.isArray(c) || c.length === 0 || c.some((x) => typeof x !== 'string')) return 'probe.exec.command: expected a non-empty list of strings';
  }
  return undefined;
}

/** Runs the probe once. `defaultHost`: where httpGet/tcpSocket go without a host (Istio: the workload's IP). */
export function runProbe(p: ReadinessProbe, defaultHost: string, timeoutMs: number): Promise<ProbeResult> {
  if (p.httpGet) return httpProbe(p.httpGet, defaultHost, timeoutMs);
  if (p.tcpSocket) return tcpProbe(p.tcpSocket, defaultHost, timeoutMs);
  if (p.exec) return execProbe(p.exec, timeoutMs);
  return Promise.resolve({ healthy: false, message: 'probe: no httpGet, tcpSocket or exec' });
}

function httpProbe(h: HttpGetProbe, defaultHost: string, timeoutMs: number): Promise<ProbeResult> {
  const https = String(h.scheme ?? 'HTTP').toUpperCase() === 'HTTPS';
  const host = h.host || defaultHost;
  const headers: Record<string, string> = { 'user-agent': 'tsmesh-probe', connection: 'close' };
  for (const hh of h.httpHeaders ?? []) if (hh?.name) headers[hh.name] = String(hh.value ?? '');
  const path = h.path ? (h.path.startsWith('/') ? h.path : `/${h.path}`) : '/';
  return new Promise((resolve) => {
    let settled = false;
    const done = (r: ProbeResult) => {
      if (settled) return;
      settled = true;
      req.destroy();
      resolve(r);
    };
    let req: ClientRequest;
    try {
      // Kubernetes does not verify the app's certificate on HTTPS probes; neither does Istio's agent.
      req = (https ? httpsRequest : httpRequest)({ host, port: h.port, path, method: 'GET', headers, timeout: timeoutMs, ...(https ? { rejectUnauthorized: false } : {}) }, (res) => {
        const code = res.statusCode ?? 0;
        res.resume();
        done(code >= 200 && code < 400 ? { healthy: true, message: '', status: code } : { healthy: false, status: code, message: `HTTP probe ${host}:${h.port}${path}: status ${code}` });
      });
    } catch (e) {
      // A header or path Node refuses synchronously (a probe that bypassed probeProblem): a failed probe, never a crash.
      settled = true;
      resolve({ healthy: false, message: `HTTP probe ${host}:${h.port}${path}: ${(e as Error).message}` });
      return;
    }
    req.on('timeout', () => done({ healthy: false, message: `HTTP probe ${host}:${h.port}${path}: no answer within ${timeoutMs} ms` }));
    req.on('error', (e) => done({ healthy: false, message: `HTTP probe ${host}:${h.port}${path}: ${e.message}` }));
    req.end();
  });
}

function tcpProbe(t: TcpSocketProbe, defaultHost: string, timeoutMs: number): Promise<ProbeResult> {
  const host = t.host || defaultHost;
  return new Promise((resolve) => {
    const s = connect({ host, port: t.port });
    const timer = setTimeout(() => done({ healthy: false, message: `TCP probe ${host}:${t.port}: no connection within ${timeoutMs} ms` }), timeoutMs);
    const done = (r: ProbeResult) => {
      clearTimeout(timer);
      s.destroy();
      resolve(r);
    };
    s.once('connect', () => done({ healthy: true, message: '' }));
    s.once('error', (e) => done({ healthy: false, message: `TCP probe ${host}:${t.port}: ${e.message}` }));
  });
}

function execProbe(e: ExecProbe, timeoutMs: number): Promise<ProbeResult> {
  const [cmd, ...args] = e.command;
  return new Promise((resolve) => {
    execFile(cmd!, args, { timeout: timeoutMs, killSignal: 'SIGKILL' }, (err) => {
      if (!err) return resolve({ healthy: true, message: '' });
      const ex = err as NodeJS.ErrnoException & { killed?: boolean; code?: number | string };
      const why = ex.killed ? `no exit within ${timeoutMs} ms` : typeof ex.code === 'number' ? `exit status ${ex.code}` : ex.message;
      resolve({ healthy: false, message: `exec probe ${e.command.join(' ')}: ${why}` });
    });
  });
}
