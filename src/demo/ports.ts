/**
 * Where the demo's parts listen: free-port checks, the control plane's ports (Istio's 15010 and
 * 15014 unless taken), and one pair of loopback addresses per pod. All of 127.0.0.0/8 is local on
 * Linux, so every pod gets its own "pod IP" (127.0.1.N, where its sidecar listens) and "app IP"
 * (127.0.2.N, where the app and the sidecar's outbound side listen) with no root and no network
 * namespaces, and every app keeps its real port (9080).
 */
import { createServer } from 'node:net';
import type { DeploymentInfo } from '../registry/deployments.ts';

export type PortCheck = { free: true } | { free: false; code: string };

/** Tries to bind host:port and releases it at once. */
export function checkPort(host: string, port: number): Promise<PortCheck> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', (err: NodeJS.ErrnoException) => resolve({ free: false, code: err.code ?? err.message }));
    // exclusive: a port held by another process (even with SO_REUSEPORT) counts as taken.
    srv.listen({ host, port, exclusive: true }, () => srv.close(() => resolve({ free: true })));
  });
}

export async function isPortFree(host: string, port: number): Promise<boolean> {
  return (await checkPort(host, port)).free;
}

/**
 * A port the OS picks as free on `host`, released at once: racy (another process may bind it
 * before the caller does), so only for ports that must be written down before their process
 * starts and that it cannot report: a Gateway's listener port in config, an external program
 * (nginx) in benchmarks. Processes of ours bind port 0 and say which port they got instead.
 */
export function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen({ host, port: 0, exclusive: true }, () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

export interface PickedPort {
  port: number;
  /** False when `preferred` was taken and another port was chosen. */
  preferred: boolean;
}

/**
 * `preferred` when free on `host`, else 0: for a process of ours, which binds port 0 and
 * reports the port it got (0 asked for stays 0).
 */
export async function preferredPort(host: string, preferred: number): Promise<PickedPort> {
  if (preferred === 0) return { port: 0, preferred: true };
  return (await isPortFree(host, preferred)) ? { port: preferred, preferred: true } : { port: 0, preferred: false };
}

/**
 * `preferred` when free on `host`, else a free one; `avoid` lists ports already handed out.
 * A probe: only for ports that must be known before anything binds them (a Gateway's port).
 */
export async function pickPort(host: string, preferred: number, avoid: readonly number[] = []): Promise<PickedPort> {
  if (!avoid.includes(preferred) && (await isPortFree(host, preferred))) return { port: preferred, preferred: true };
  for (;;) {
    const port = await freePort(host);
    if (!avoid.includes(port)) return { port, preferred: false };
  }
}

/** One pod of one Deployment, with its addresses. */
export interface PodSlot {
  /** Pod name: the Deployment's name, suffixed with -2, -3... for further replicas. */
  name: string;
  deployment: DeploymentInfo;
  /** 1-based; the last octet of both addresses. */
  index: number;
  /** Where the sidecar's inbound listeners bind, and what the mesh routes to. */
  podIP: string;
  /** Where the app listens, and the sidecar's admin and outbound proxy listener. */
  appIP: string;
}

export const POD_NET = '127.0.1.';
export const APP_NET = '127.0.2.';
/** .0 is the network address and .255 the broadcast address of a /24: skip both. */
export const MAX_PODS = 254;

/** The two /24s pods get their addresses from: `podNet + N`, `appNet + N` (each ends with a dot). */
export interface PodNets {
  podNet: string;
  appNet: string;
}

/** One slot per replica, in listDeployments' order (namespace, then name). */
export function allocatePods(deployments: readonly DeploymentInfo[], nets: PodNets = { podNet: POD_NET, appNet: APP_NET }): PodSlot[] {
  const out: PodSlot[] = [];
  for (const d of deployments) {
    for (let r = 0; r < d.replicas; r++) {
      const index = out.length + 1;
      if (index > MAX_PODS) throw new Error(`too many pods: the demo gives each pod its own address in ${nets.podNet}0/24 and has room for ${MAX_PODS}`);
      out.push({ name: r === 0 ? d.name : `${d.name}-${r + 1}`, deployment: d, index, podIP: nets.podNet + index, appIP: nets.appNet + index });
    }
  }
  return out;
}

/** Ports each pod needs free before it starts: container ports on both addresses, admin, outbound. */
export const SIDECAR_ADMIN_PORT = 15000;
export const SIDECAR_OUTBOUND_PORT = 15080;

export function podPorts(slot: PodSlot, sidecar = true): Array<{ host: string; port: number; what: string }> {
  const out: Array<{ host: string; port: number; what: string }> = [];
  // Without a sidecar the app itself listens at the pod address.
  if (!sidecar) return slot.deployment.containerPorts.map((port) => ({ host: slot.podIP, port, what: 'app' }));
  for (const p of slot.deployment.containerPorts) {
    out.push({ host: slot.podIP, port: p, what: 'sidecar inbound' });
    out.push({ host: slot.appIP, port: p, what: 'app' });
  }
  out.push({ host: slot.appIP, port: SIDECAR_ADMIN_PORT, what: 'sidecar admin' });
  out.push({ host: slot.appIP, port: SIDECAR_OUTBOUND_PORT, what: 'sidecar outbound' });
  return out;
}

/** A sentence on why an address cannot be bound, for a "✖ ... failed:" line. */
export function describeBindProblem(host: string, port: number, code: string): string {
  if (code === 'EADDRINUSE') return `${host}:${port} is already in use (a demo still running? stop it with Ctrl-C)`;
  if (code === 'EADDRNOTAVAIL') {
    return `cannot bind ${host}: this system does not route all of 127.0.0.0/8 to loopback (on macOS: sudo ifconfig lo0 alias ${host} up)`;
  }
  if (code === 'EACCES') return `not allowed to bind ${host}:${port}`;
  return `cannot bind ${host}:${port}: ${code}`;
}
