/**
 * Everything the demo decides before it starts a process: which config, which ports, which pod
 * gets which addresses and how each app runs. Problems found here stop the demo with nothing
 * started; each comes back as a sentence that says what to do.
 */
import { join, resolve } from 'node:path';
import { formatValidationError, type Config } from '../api/types.ts';
import { listDeployments } from '../registry/deployments.ts';
import { appLaunch, type AppLaunch } from './apps.ts';
import { displayPath, gatewayPorts, loadConfigSources, remapGatewayPort, type GatewayPort } from './config_copy.ts';
import { sidecarInjection } from './injection.ts';
import { APP_NET, POD_NET, allocatePods, checkPort, describeBindProblem, freePort, pickPort, podPorts, preferredPort, type PodSlot } from './ports.ts';
import { readdirSync } from 'node:fs';

export const INGRESS_LABELS = { istio: 'ingressgateway', app: 'istio-ingressgateway' };
export const GATEWAY_HOST = '127.0.0.1';
export const CONTROLPLANE_HOST = '127.0.0.1';
export const DEFAULT_XDS_PORT = 15010;
export const DEFAULT_HTTP_PORT = 15014;
/** The CA and xDS over TLS (istiod's :15012). */
export const DEFAULT_SECURE_GRPC_PORT = 15012;
export const DEFAULT_GATEWAY_ADMIN_PORT = 15000;
/** The control plane's embedded trace collector (Zipkin's port). */
export const DEFAULT_ZIPKIN_PORT = 9411;
export const SAMPLE_CONFIG_DIR = 'samples/bookinfo/config';

export interface PlanOptions {
  repoRoot: string;
  /** Files / directories; default: the top-level files of samples/bookinfo/config. */
  configs?: string[];
  /** --port: where the ingress gateway should serve. */
  port?: number;
  xdsPort?: number;
  httpPort?: number;
  /** The control plane's CA port; port 0 (the default when xdsPort is 0) lets it pick. */
  secureGrpcPort?: number;
  /** The ingress gateway's admin port (default 15000, or a free one). */
  gatewayAdminPort?: number;
  /** The embedded Zipkin collector (default 9411, or a free one; a free one when xdsPort is 0). */
  zipkinPort?: number;
  /**
   * With `port` and your own config: move the Gateway's port in the demo's copy, as with the
   * built-in sample (tests run Istio's bookinfo-gateway.yaml, which says 8080, on a free port).
   */
  remapGatewayPort?: boolean;
  /**
   * Pod addresses: `podNet + N` / `appNet + N` (default 127.0.1. / 127.0.2.). Tests give each
   * demo its own pair so that demos in concurrent test files never share an address.
   */
  podNet?: string;
  appNet?: string;
  /** meshConfig YAML for the control plane (`--mesh`), e.g. outboundTrafficPolicy REGISTRY_ONLY. */
  meshFile?: string;
}

export interface PodPlan {
  slot: PodSlot;
  launch: AppLaunch;
  /** Whether the pod runs a sidecar (src/demo/injection.ts decides), and why. */
  sidecar: boolean;
  injection: string;
  /** Container ports some Service sends traffic to: the sidecar's inbound listeners (pod IP); none without a sidecar. */
  inboundPorts: number[];
}

export interface DemoPlan {
  configs: Config[];
  /** Lines to show before starting (ports moved, warnings). */
  notes: string[];
  /** 0 until the control plane has said which port it bound (when the preferred one was taken). */
  xdsPort: number;
  httpPort: number;
  secureGrpcPort: number;
  /** 0 until the gateway has said which admin port it bound. */
  gatewayAdminPort: number;
  /**
   * The trace collector's port, fixed before anything starts: every proxy's mesh config names it
   * (defaultConfig.tracing.zipkin.address), so it cannot wait for the control plane's ready line.
   */
  zipkinPort: number;
  /** Ports the ingress gateway will listen on (from the Gateways selecting it). */
  gatewayPorts: GatewayPort[];
  /** The port productpage is reached on, if any Gateway gives one. */
  gatewayPort: number | undefined;
  pods: PodPlan[];
  usingSample: boolean;
}

export type PlanResult = { ok: true; plan: DemoPlan } | { ok: false; errors: string[]; exitCode: number };

/** The default sources: our sample's top-level files (networking/ holds alternatives to apply later). */
export function sampleSources(repoRoot: string): string[] {
  const dir = join(repoRoot, SAMPLE_CONFIG_DIR);
  return readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isFile() && /\.(ya?ml|json)$/.test(e.name))
    .map((e) => join(dir, e.name))
    .sort();
}

export async function makePlan(o: PlanOptions): Promise<PlanResult> {
  const usingSample = !o.configs || o.configs.length === 0;
  const sources = usingSample ? sampleSources(o.repoRoot) : o.configs!.map((c) => resolve(c));
  const loaded = loadConfigSources(sources);
  if (loaded.errors.length > 0) {
    return { ok: false, exitCode: 1, errors: [...loaded.errors.map(formatValidationError), `the demo did not start: ${loaded.errors.length} problem(s) in the config above`] };
  }
  const notes = loaded.warnings.map((w) => `warning: ${w}`);
  let configs = loaded.configs;

  const deployments = listDeployments(configs);
  // An empty mesh is a fine start: Deployments applied later start their pods (src/demo/live.ts).
  if (deployments.length === 0) {
    notes.push(`no Deployment in ${sources.map(displayPath).join(', ')}: no pods yet; \`tsmesh apply -f <file>\` a Deployment (Istio's samples/httpbin/httpbin.yaml has one) to start its pods`);
  }

  // The ingress gateway's ports come from the Gateways; --port moves only our own sample's.
  let gw = gatewayPorts(configs, INGRESS_LABELS);
  if (o.port !== undefined && !gw.some((g) => g.port === o.port)) {
    if (gw.length === 0) {
      notes.push(`warning: --port ${o.port}: no Gateway selects istio=ingressgateway, so the ingress gateway has nothing to listen on`);
    } else if (usingSample || o.remapGatewayPort) {
      const from = gw[0]!.port;
      configs = remapGatewayPort(configs, INGRESS_LABELS, from, o.port);
      notes.push(`--port ${o.port}: the demo's copy of Gateway ${gw[0]!.gateway} listens on ${o.port} instead of ${from} (${usingSample ? SAMPLE_CONFIG_DIR : 'your files are'} unchanged)`);
      gw = gatewayPorts(configs, INGRESS_LABELS);
    } else {
      const list = gw.map((g) => `${g.port} (Gateway ${g.gateway}${g.file ? ` in ${g.file}` : ''})`).join(', ');
      return {
        ok: false,
        exitCode: 2,
        errors: [
          `--port ${o.port}: the ingress gateway listens where your Gateways say: ${list}. ` +
            `The demo never changes your files; set spec.servers[].port.number to ${o.port} in (a copy of) your Gateway, or drop --port.`,
        ],
      };
    }
  }
  if (gw.length === 0) notes.push('warning: no Gateway selects istio=ingressgateway: nothing will be reachable through the ingress gateway');
  const gatewayPort = o.port ?? gw.find((g) => !g.protocol || /^HTTP$/i.test(g.protocol))?.port ?? gw[0]?.port;

  const errors: string[] = [];
  for (const port of [...new Set(gw.map((g) => g.port))]) {
    const c = await checkPort(GATEWAY_HOST, port);
    if (c.free) continue;
    if (c.code === 'EADDRINUSE') {
      const alt = await pickPort(GATEWAY_HOST, port === 9090 ? 9091 : 9090);
      errors.push(
        usingSample
          ? `port ${port} on ${GATEWAY_HOST} is in use, and the ingress gateway listens there: pick another port with \`npx tsmesh demo --port ${alt.port}\``
          : `port ${port} on ${GATEWAY_HOST} is in use, and your Gateway ${gw.find((g) => g.port === port)!.gateway} listens there: stop what uses it, or change the port in (a copy of) your Gateway`,
      );
    } else {
      errors.push(describeBindProblem(GATEWAY_HOST, port, c.code));
    }
  }

  // Istio's ports when free; else (or when asked for 0) port 0: the process binds a port the
  // kernel picks and names it in its ready line, which the demo reads (no probe-then-bind race).
  const xds = await preferredPort(CONTROLPLANE_HOST, o.xdsPort ?? DEFAULT_XDS_PORT);
  const http = await preferredPort(CONTROLPLANE_HOST, o.httpPort ?? DEFAULT_HTTP_PORT);
  const secure = await preferredPort(CONTROLPLANE_HOST, o.secureGrpcPort ?? (o.xdsPort === 0 ? 0 : DEFAULT_SECURE_GRPC_PORT));
  const admin = await preferredPort(GATEWAY_HOST, o.gatewayAdminPort ?? DEFAULT_GATEWAY_ADMIN_PORT);
  const wantZipkin = o.zipkinPort ?? (o.xdsPort === 0 ? 0 : DEFAULT_ZIPKIN_PORT);
  const zipkin = wantZipkin === 0 ? { port: await freePort(CONTROLPLANE_HOST), preferred: true } : await pickPort(CONTROLPLANE_HOST, wantZipkin);
  if (!zipkin.preferred) notes.push(`port ${wantZipkin} is in use: the trace collector is on port ${zipkin.port}`);
  if (!secure.preferred) notes.push(`port ${DEFAULT_SECURE_GRPC_PORT} is in use: the control plane's CA is on another port`);
  if (!xds.preferred) notes.push(`port ${o.xdsPort ?? DEFAULT_XDS_PORT} is in use: the control plane serves xDS on another port`);
  if (!http.preferred) notes.push(`port ${o.httpPort ?? DEFAULT_HTTP_PORT} is in use: the control plane's HTTP API is on another port`);
  if (!admin.preferred) notes.push(`port ${o.gatewayAdminPort ?? DEFAULT_GATEWAY_ADMIN_PORT} is in use: the ingress gateway's admin is on another port`);

  const byName = new Map(configs.filter((c) => c.kind === 'Deployment').map((c) => [`${c.metadata.namespace}/${c.metadata.name}`, c]));
  const pods: PodPlan[] = [];
  const busyPods: string[] = [];
  for (const slot of allocatePods(deployments, { podNet: o.podNet ?? POD_NET, appNet: o.appNet ?? APP_NET })) {
    const pod = planPod(byName.get(`${slot.deployment.namespace}/${slot.deployment.name}`)!, slot, configs, o.repoRoot);
    if ('error' in pod) {
      errors.push(`${podLabel(slot)}: ${pod.error}`);
      continue;
    }
    for (const p of podPorts(slot, pod.sidecar)) {
      const c = await checkPort(p.host, p.port);
      if (!c.free) {
        if (c.code === 'EADDRINUSE') busyPods.push(`${p.host}:${p.port}`);
        else errors.push(`${podLabel(slot)}: ${describeBindProblem(p.host, p.port, c.code)}`);
        break;
      }
    }
    pods.push(pod);
  }
  // Usually all of them at once: another demo holds the pod addresses. Say it once.
  if (busyPods.length === 1) errors.push(describeBindProblem(...splitHostPort(busyPods[0]!), 'EADDRINUSE'));
  if (busyPods.length > 1) errors.push(`${busyPods.length} pod addresses are in use (${busyPods[0]}, ${busyPods[1]}${busyPods.length > 2 ? ', ...' : ''}): is another tsmesh demo running? Stop it with Ctrl-C first; two demos cannot share the pod addresses`);
  if (errors.length > 0) return { ok: false, exitCode: 1, errors };

  return {
    ok: true,
    plan: { configs, notes, xdsPort: xds.port, httpPort: http.port, secureGrpcPort: secure.port, gatewayAdminPort: admin.port, zipkinPort: zipkin.port, gatewayPorts: gw, gatewayPort, pods, usingSample },
  };
}

/** One pod's plan: sidecar or not (as Istio's injection would decide), how its app runs. */
export function planPod(deployment: Config, slot: PodSlot, configs: readonly Config[], repoRoot: string): PodPlan | { error: string } {
  const injection = sidecarInjection(deployment, configs);
  const launch = appLaunch(deployment, slot, repoRoot, injection.sidecar);
  if ('error' in launch) return { error: launch.error };
  return { slot, launch, sidecar: injection.sidecar, injection: injection.reason, inboundPorts: injection.sidecar ? inboundPorts(configs, slot) : [] };
}

/** How a pod is named in progress lines: its name, with its namespace unless `default` (pods of two namespaces may share a name). */
export function podLabel(slot: Pick<PodSlot, 'name' | 'deployment'>): string {
  return slot.deployment.namespace === 'default' ? slot.name : `${slot.deployment.namespace}/${slot.name}`;
}

/** A pod's log and bootstrap file stem: `<name>`, or `<name>.<namespace>` outside `default`. */
export function podFileStem(slot: Pick<PodSlot, 'name' | 'deployment'>): string {
  return slot.deployment.namespace === 'default' ? slot.name : `${slot.name}.${slot.deployment.namespace}`;
}

/**
 * The container ports that Services selecting this pod target (Istio builds inbound listeners
 * for those only): a numeric targetPort, a named one resolved through the container's ports,
 * or the Service port when targetPort is absent.
 */
export function inboundPorts(configs: readonly Config[], slot: PodSlot): number[] {
  const d = slot.deployment;
  const out = new Set<number>();
  for (const c of configs) {
    if (c.kind !== 'Service' || c.metadata.namespace !== d.namespace) continue;
    const sel = c.spec?.selector;
    if (!sel || typeof sel !== 'object' || Object.keys(sel).length === 0) continue;
    if (!Object.entries(sel as Record<string, unknown>).every(([k, v]) => d.labels[k] === v)) continue;
    for (const p of Array.isArray(c.spec?.ports) ? c.spec.ports : []) {
      const tp = p?.targetPort ?? p?.port;
      const n = typeof tp === 'string' && !/^\d+$/.test(tp) ? d.ports[tp] : Number(tp);
      if (n && Number.isInteger(n) && d.containerPorts.includes(n)) out.add(n);
    }
  }
  return [...out].sort((a, b) => a - b);
}

function splitHostPort(hp: string): [string, number] {
  const i = hp.lastIndexOf(':');
  return [hp.slice(0, i), Number(hp.slice(i + 1))];
}
