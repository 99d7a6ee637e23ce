/**
 * Istio's probe rewriting: the kubelet's httpGet / tcpSocket / grpc probes of app containers go
 * to the agent's status port (15020) at /app-health/<container>/livez|readyz|startupz, and the
 * agent runs the original probe from inside the pod (where mTLS and capture do not get in the
 * way). The originals travel to the agent in the proxy's ISTIO_KUBE_APP_PROBERS env, keyed by
 * those paths, with named ports resolved.
 */
import type { Container, Probe } from './objects.ts';

export const REWRITE_PROBES_ANNOTATION = 'sidecar.istio.io/rewriteAppHTTPProbers';
export const APP_PROBERS_ENV = 'ISTIO_KUBE_APP_PROBERS';
export const STATUS_PORT = 15020;

const KINDS = [
  ['livenessProbe', 'livez'],
  ['readinessProbe', 'readyz'],
  ['startupProbe', 'startupz'],
] as const;

/** What the agent runs for one path: the original handler and its timeout. */
export interface AppProber {
  httpGet?: Record<string, unknown>;
  tcpSocket?: Record<string, unknown>;
  grpc?: Record<string, unknown>;
  timeoutSeconds?: number;
}

/** Whether this pod's probes are rewritten: the annotation, else the injection value. */
export function rewriteEnabled(annotations: Record<string, string>, byDefault: boolean): boolean {
  const a = annotations[REWRITE_PROBES_ANNOTATION];
  return a === undefined ? byDefault : a === 'true';
}

/**
 * Rewrites the probes of `containers` in place; returns the originals keyed by their new path
 * (sorted, so the env is stable).
 */
export function rewriteProbes(containers: Container[]): Record<string, AppProber> {
  const probers: Record<string, AppProber> = {};
  for (const c of containers) {
    for (const [field, suffix] of KINDS) {
      const p = c[field];
      if (!p) continue;
      const path = `/app-health/${c.name}/${suffix}`;
      const prober = originalProber(p, c);
      if (!prober) continue;
      probers[path] = prober;
      c[field] = rewritten(p, path);
    }
  }
  return Object.fromEntries(Object.entries(probers).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

function originalProber(p: Probe, c: Container): AppProber | undefined {
  // Kubernetes' default (1 s) when unset: the API server fills it in before a webhook sees the pod,
  // so kube-inject's output and the webhook's agree.
  const timeout = { timeoutSeconds: p.timeoutSeconds ?? 1 };
  if (p.httpGet) {
    const port = resolvePort(p.httpGet.port, c);
    if (port === undefined) return undefined;
    // Already pointing at the agent (a pod injected by hand): nothing to move.
    if (port === STATUS_PORT) return undefined;
    const { port: _named, ...rest } = p.httpGet;
    return { httpGet: { ...rest, port, ...(rest.scheme ? {} : { scheme: 'HTTP' }) }, ...timeout };
  }
  if (p.tcpSocket) {
    const port = resolvePort(p.tcpSocket.port, c);
    if (port === undefined) return undefined;
    return { tcpSocket: { ...p.tcpSocket, port }, ...timeout };
  }
  if (p.grpc) return { grpc: { ...p.grpc }, ...timeout };
  return undefined; // exec probes run in the container; nothing to rewrite
}

function rewritten(p: Probe, path: string): Probe {
  const { httpGet, tcpSocket: _t, grpc: _g, ...rest } = p;
  // httpGet keeps its headers (the agent forwards them); its host would send the kubelet elsewhere.
  const headers = httpGet?.httpHeaders ? { httpHeaders: httpGet.httpHeaders } : {};
  return { ...rest, httpGet: { path, port: STATUS_PORT, scheme: 'HTTP', ...headers } };
}

/** A probe's port: a number, or the name of one of the container's ports. */
function resolvePort(port: number | string, c: Container): number | undefined {
  if (typeof port === 'number') return port;
  if (/^\d+$/.test(port)) return Number(port);
  return c.ports?.find((p) => p.name === port)?.containerPort;
}
