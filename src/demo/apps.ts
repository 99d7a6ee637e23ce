/**
 * How the demo runs a Deployment's container without a container runtime. Two ways:
 *  - the container's command is `node ... <file in this repository>` (tsmesh's own samples):
 *    run that file with this Node and the container's args;
 *  - otherwise an app known by its `app` label, whose image we cannot run: tsmesh's TypeScript
 *    Bookinfo in the version of its `version` label (Istio's bookinfo.yaml), tsmesh's httpbin
 *    (Istio's httpbin.yaml and the httpbin-v1/v2 of its mirroring task), or, for Istio's
 *    `curl`/`sleep` client pods (`sleep infinity`: only there to send requests from), a stand-in
 *    process that keeps the pod up while requests are sent through its sidecar, as
 *    `kubectl exec deploy/curl -- curl ...` would.
 * With a sidecar, the app listens on its container port at the pod's app address and sends its
 * outbound calls to the sidecar's HTTP proxy listener, as iptables capture would. Without one
 * (injection off), it listens at the pod address itself and nothing stands in its way.
 */
import { existsSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import type { Config } from '../api/types.ts';
import type { PodSlot } from './ports.ts';
import { SIDECAR_OUTBOUND_PORT } from './ports.ts';

export const BOOKINFO_APPS = ['productpage', 'details', 'reviews', 'ratings'] as const;
export const BOOKINFO_MAIN = 'samples/bookinfo/src/main.ts';
export const HTTPBIN_MAIN = 'samples/httpbin/main.ts';
/** Istio's client pods (samples/curl, samples/sleep): nothing to serve, only a sidecar to send through. */
export const CLIENT_APPS = ['curl', 'sleep'] as const;
export const CLIENT_STANDIN_MAIN = 'samples/echo/main.ts';

export interface AppLaunch {
  command: string;
  args: string[];
  env: Record<string, string>;
  /** The port the app listens on (at the pod's app IP). */
  port: number;
  /** HTTP path answering 200 when ready (the readinessProbe), else a TCP connect is the probe. */
  healthPath?: string;
  /** For messages: what runs. */
  description: string;
}

interface Container {
  name?: string;
  image?: string;
  command?: unknown[];
  args?: unknown[];
  env?: Array<{ name?: string; value?: unknown; valueFrom?: { fieldRef?: { fieldPath?: string } } }>;
  ports?: Array<{ containerPort?: number }>;
  readinessProbe?: { httpGet?: { path?: string; port?: unknown } };
}

/** The launch for one pod of `deployment`, or why it cannot be run here. */
export function appLaunch(deployment: Config, slot: PodSlot, repoRoot: string, sidecar = true): AppLaunch | { error: string } {
  const containers: Container[] = deployment.spec?.template?.spec?.containers ?? [];
  const c = containers[0];
  if (!c) return { error: 'the Deployment has no containers' };
  const labels = slot.deployment.labels;
  const env = containerEnv(c, slot);
  const envPort = Number(env.PORT);
  const port = Number.isInteger(envPort) && envPort > 0 ? envPort : slot.deployment.containerPorts[0] ?? 9080;
  Object.assign(env, {
    HOST: sidecar ? slot.appIP : slot.podIP,
    PORT: String(port),
    ...(sidecar ? { TSMESH_OUTBOUND_PROXY: `http://${slot.appIP}:${SIDECAR_OUTBOUND_PORT}` } : {}),
    POD_NAME: slot.name,
    ...(labels.version ? { SERVICE_VERSION: labels.version } : {}),
  });
  const healthPath = probePath(c, port);
  const base = { env, port, ...(healthPath ? { healthPath } : {}) };

  const cmd = (c.command ?? []).map(String);
  const script = cmd[0] === 'node' ? cmd.slice(1).find((a) => /\.(ts|mts|js|mjs)$/.test(a)) : undefined;
  if (script && !isAbsolute(script) && existsSync(join(repoRoot, script))) {
    return { ...base, command: process.execPath, args: [...cmd.slice(1), ...(c.args ?? []).map(String)], description: `${script} ${(c.args ?? []).join(' ')}`.trim() };
  }
  const app = labels.app;
  if (app && (BOOKINFO_APPS as readonly string[]).includes(app)) {
    const version = labels.version ?? 'v1';
    return {
      ...base,
      command: process.execPath,
      args: ['--import', 'tsx', BOOKINFO_MAIN, app, '--version', version, '--port', String(port)],
      description: `Bookinfo ${app} ${version}`,
    };
  }
  if (app === 'httpbin') {
    return { ...base, command: process.execPath, args: ['--import', 'tsx', HTTPBIN_MAIN], description: `httpbin${labels.version ? ` ${labels.version}` : ''}` };
  }
  if (app && (CLIENT_APPS as readonly string[]).includes(app)) {
    return { ...base, command: process.execPath, args: ['--import', 'tsx', CLIENT_STANDIN_MAIN], description: `${app} (stand-in: \`tsmesh exec\` runs commands as this pod)` };
  }
  return {
    error:
      `cannot run image ${c.image ?? '(none)'} without a container runtime: the demo runs tsmesh's Bookinfo apps ` +
      `(label app=${BOOKINFO_APPS.join('|')}), httpbin, the curl/sleep client pods and containers whose command is \`node <file in this repository>\``,
  };
}

/** Literal env values, plus the fieldRefs a pod would resolve. */
function containerEnv(c: Container, slot: PodSlot): Record<string, string> {
  const env: Record<string, string> = {};
  const fields: Record<string, string> = {
    'metadata.name': slot.name,
    'metadata.namespace': slot.deployment.namespace,
    'status.podIP': slot.podIP,
    'spec.serviceAccountName': slot.deployment.serviceAccount ?? 'default',
  };
  for (const e of c.env ?? []) {
    if (!e?.name) continue;
    if (e.value !== undefined && e.value !== null) env[e.name] = String(e.value);
    else if (e.valueFrom?.fieldRef?.fieldPath && fields[e.valueFrom.fieldRef.fieldPath]) env[e.name] = fields[e.valueFrom.fieldRef.fieldPath]!;
  }
  return env;
}

function probePath(c: Container, port: number): string | undefined {
  const g = c.readinessProbe?.httpGet;
  if (!g?.path) return undefined;
  // A named or different port would need resolving; then a TCP check is the honest probe.
  return g.port === undefined || Number(g.port) === port ? g.path : undefined;
}
