/**
 * The app probes the injector moved to the agent (Istio's probe rewriting): the kubelet asks the
 * status port for /app-health/<container>/livez|readyz|startupz, and the agent runs the pod's
 * original httpGet, tcpSocket or grpc probe from inside the pod, taken from the proxy's
 * ISTIO_KUBE_APP_PROBERS env (JSON keyed by those paths, ports already resolved to numbers).
 * As Istio's agent answers: an HTTP probe passes on the app's own status code; a TCP connect or a
 * gRPC SERVING is 200; anything else (refused, timed out, NOT_SERVING) is 500 with the reason.
 */
import { runProbe, probeProblem, type ProbeResult } from './probe.ts';
import { grpcHealthProbe } from './grpc_probe.ts';

export const APP_PROBERS_ENV = 'ISTIO_KUBE_APP_PROBERS';
export const APP_HEALTH_PREFIX = '/app-health/';

export interface AppProber {
  httpGet?: { path?: string; port: number; host?: string; scheme?: string; httpHeaders?: { name: string; value: string }[] };
  tcpSocket?: { port: number; host?: string };
  grpc?: { port: number; host?: string; service?: string };
  timeoutSeconds?: number;
}

export type AppProbers = ReadonlyMap<string, AppProber>;

/** ISTIO_KUBE_APP_PROBERS parsed and checked; throws naming the path and field of a bad entry. */
export function parseAppProbers(json: string | undefined): AppProbers {
  const out = new Map<string, AppProber>();
  if (!json) return out;
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch (e) {
    throw new Error(`${APP_PROBERS_ENV} is not JSON: ${(e as Error).message}`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new Error(`${APP_PROBERS_ENV}: expected an object keyed by /app-health/<container>/<probe> paths`);
  for (const [path, p] of Object.entries(raw as Record<string, unknown>)) {
    if (!path.startsWith(APP_HEALTH_PREFIX)) throw new Error(`${APP_PROBERS_ENV}: key ${JSON.stringify(path)} does not start with ${APP_HEALTH_PREFIX}`);
    const r = (p ?? {}) as Record<string, unknown>;
    if (r.grpc !== undefined) {
      const g = r.grpc as Record<string, unknown>;
      if (typeof g?.port !== 'number' || !Number.isInteger(g.port) || g.port <= 0 || g.port > 65535) throw new Error(`${APP_PROBERS_ENV}[${path}].grpc.port: expected a port number`);
      if (g.service !== undefined && typeof g.service !== 'string') throw new Error(`${APP_PROBERS_ENV}[${path}].grpc.service: expected a string`);
    } else {
      const problem = probeProblem(r);
      if (problem) throw new Error(`${APP_PROBERS_ENV}[${path}]: ${problem}`);
    }
    out.set(path, r as AppProber);
  }
  return out;
}

export interface AppHealthAnswer {
  status: number;
  body: string;
}

/** Runs the probe registered for `path` against the app at `appHost`; 404 for a path no probe has. */
export async function appHealth(probers: AppProbers, path: string, appHost: string): Promise<AppHealthAnswer> {
  const p = probers.get(path);
  if (!p) return { status: 404, body: `no app probe at ${path}\n` };
  // Kubernetes' own default when a probe sets none.
  const timeoutMs = Math.max(1, p.timeoutSeconds ?? 1) * 1000;
  if (p.grpc) return answer(await grpcHealthProbe(p.grpc.host ?? appHost, p.grpc.port, p.grpc.service ?? '', timeoutMs));
  if (p.httpGet) {
    const r = await runProbe({ httpGet: p.httpGet }, appHost, timeoutMs);
    // The app's own code goes back to the kubelet (it judges 200-399); no answer at all is a 500.
    return r.status !== undefined ? { status: r.status, body: r.healthy ? 'ok\n' : `${r.message}\n` } : answer(r);
  }
  return answer(await runProbe({ tcpSocket: p.tcpSocket! }, appHost, timeoutMs));
}

function answer(r: ProbeResult): AppHealthAnswer {
  return r.healthy ? { status: 200, body: 'ok\n' } : { status: 500, body: `${r.message}\n` };
}
