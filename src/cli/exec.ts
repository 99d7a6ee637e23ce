/**
 * `tsmesh exec [-n <ns>] deploy/<name> -- <command...>`: runs a command as a pod of the running
 * demo would (kubectl exec's syntax), for Istio's tasks' `kubectl exec deploy/curl -- curl ...`.
 *
 * The demo's pods share this machine's network, so "inside the pod" means: the pod's outbound
 * traffic path. With a sidecar, the command's HTTP goes to that sidecar's outbound listener
 * (`http_proxy`, as the demo's apps send theirs). Without one, nothing intercepts it: a small
 * forwarder here stands in for cluster DNS and kube-proxy, sending each request straight from
 * the pod's address to an endpoint of the Service it names (`httpbin.foo`, `httpbin.foo:8000`,
 * `httpbin.foo.svc.cluster.local`), and any other host as the machine resolves it.
 */
import { spawn } from 'node:child_process';
import { request, createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect, isIP, type AddressInfo, type Socket } from 'node:net';
import { constants as osConstants } from 'node:os';
import { join } from 'node:path';
import { parseFlags, one } from './flags.ts';
import { loadDemoState, parsePodArg } from './pod_ref.ts';
import { displayPath } from '../demo/config_copy.ts';
import { SIDECAR_OUTBOUND_PORT } from '../demo/ports.ts';
import { DEFAULT_STATE_DIR, STATE_FILE, type DemoPodState, type DemoState } from '../demo/state.ts';

const HELP = `Usage: tsmesh exec [-n <namespace>] (deploy/<name> | <pod>[.<namespace>]) [--state-dir <dir>] -- <command> [args...]

Runs a command as a pod of the running demo would, like kubectl exec:
  - a pod with a sidecar: the command's HTTP requests go through that pod's sidecar
    (http_proxy / HTTP_PROXY point at its outbound listener);
  - a pod without one: requests go straight from the pod's address to the Service's endpoints
    (httpbin.foo:8000 resolves as cluster DNS and kube-proxy would).
Prints the command's output and exits with its exit code.

Flags:
  -n, --namespace <ns>   the pod's namespace (default: default)
  --state-dir <dir>      the demo's state directory (default ./${DEFAULT_STATE_DIR}, where
                         \`tsmesh demo\` keeps ${STATE_FILE})
  -i, -t, -c <container> accepted for kubectl's sake (stdin is always passed through)
  --help

Example (Istio's mutual TLS migration task):
  npx tsmesh exec -n foo deploy/curl -- curl -s -o /dev/null -w "%{http_code}\\n" http://httpbin.foo:8000/ip`;

/** The cluster's DNS domain (Istio's and Kubernetes' default). */
const DOMAIN = 'cluster.local';

export async function execCommand(argv: string[]): Promise<number> {
  const dash = argv.indexOf('--');
  const before = dash < 0 ? argv : argv.slice(0, dash);
  const command = dash < 0 ? [] : argv.slice(dash + 1);
  // kubectl's -it / -ti spelled together.
  const flagsIn = before.flatMap((a) => (a === '-it' || a === '-ti' ? ['-i', '-t'] : [a]));
  const parsed = parseFlags(flagsIn, [
    { name: 'namespace', alias: 'n' },
    { name: 'state-dir' },
    { name: 'container', alias: 'c' },
    { name: 'stdin', alias: 'i', boolean: true },
    { name: 'tty', alias: 't', boolean: true },
    { name: 'help', alias: 'h', boolean: true },
  ]);
  if (!parsed.ok) return usageError(parsed.error);
  if (parsed.flags.help) {
    console.log(HELP);
    return 0;
  }
  if (parsed.rest.length === 0) return usageError('which pod? give deploy/<name> or a pod name');
  if (parsed.rest.length > 1 || dash < 0) return usageError(dash < 0 ? 'put the command after --: tsmesh exec deploy/<name> -- <command>' : `unexpected argument ${parsed.rest[1]} before --`);
  if (command.length === 0) return usageError('no command after --');
  const container = one(parsed.flags, 'container');
  if (container === 'istio-proxy') return fail('-c istio-proxy: the demo\'s sidecar is a tsmesh proxy process, not a container to run commands in; its admin API is at the pod\'s admin URL in demo.json');

  const found = findPod(parsed.rest[0]!, one(parsed.flags, 'namespace'), one(parsed.flags, 'state-dir'));
  if ('error' in found) return fail(found.error);
  const { pod, state } = found;

  const env: NodeJS.ProcessEnv = { ...process.env, HOSTNAME: pod.name, POD_NAME: pod.name, POD_NAMESPACE: pod.namespace };
  for (const k of ['no_proxy', 'NO_PROXY', 'all_proxy', 'ALL_PROXY', 'https_proxy', 'HTTPS_PROXY']) delete env[k];
  let forwarder: Server | undefined;
  let proxyUrl: string;
  if (pod.sidecar !== false) {
    proxyUrl = `http://${pod.appIP}:${SIDECAR_OUTBOUND_PORT}`;
    env.TSMESH_OUTBOUND_PROXY = proxyUrl;
  } else {
    const services = await fetchServices(state);
    if ('error' in services) return fail(services.error);
    forwarder = await startForwarder(pod, services.registry);
    proxyUrl = `http://${pod.podIP}:${(forwarder.address() as AddressInfo).port}`;
    delete env.TSMESH_OUTBOUND_PROXY;
  }
  // curl reads only the lower-case http_proxy; most other clients either.
  env.http_proxy = env.HTTP_PROXY = proxyUrl;
  try {
    return await run(command, env);
  } finally {
    forwarder?.closeAllConnections();
    forwarder?.close();
  }
}

function usageError(why: string): number {
  console.error(`tsmesh exec: ${why}\n\n${HELP}`);
  return 2;
}

function fail(why: string): number {
  console.error(`tsmesh exec: ${why}`);
  return 1;
}

/**
 * The running demo's state and the pod to run as (a workload pod, ready), or a sentence saying
 * what to do. The demo and the pod name are read as every pod command reads them (pod_ref.ts:
 * deploy/<name>, <pod>, <pod>.<namespace>); `namespace` is -n (default: default).
 */
export function findPod(target: string, namespace: string | undefined, stateDir?: string, cwd = process.cwd()): { pod: DemoPodState; state: DemoState } | { error: string } {
  const loaded = loadDemoState(stateDir, cwd);
  if ('error' in loaded) return loaded;
  const { state } = loaded;
  const t = parsePodArg(target, namespace);
  if ('error' in t) return t;
  const ns = t.namespace;
  const match = (p: DemoPodState) => (t.kind === 'deployment' ? p.deployment === t.name : p.name === t.name);
  const candidates = state.pods.filter((p) => p.namespace === ns && match(p));
  const what = t.kind === 'deployment' ? `Deployment ${t.name}` : `pod ${t.name}`;
  if (candidates.length === 0) {
    const elsewhere = [...new Set(state.pods.filter(match).map((p) => p.namespace))];
    const hint = elsewhere.length > 0
      ? `it is in namespace ${elsewhere.join(', ')}: add -n ${elsewhere[0]}`
      : `apply it first (\`npx tsmesh apply -n ${ns} -f <file>\`); running here: ${describePods(state, ns)}`;
    return { error: `no ${what} in namespace ${ns} of the running demo: ${hint}` };
  }
  const ready = candidates.find((p) => p.ready !== false);
  if (!ready) return { error: `${t.kind === 'deployment' ? `pod ${candidates[0]!.name} of ${what}` : what} in namespace ${ns} is not ready yet: wait for its ✔ line in the demo's output (log in ${displayPath(join(state.stateDir, 'logs'))}), then run this again` };
  return { pod: ready, state };
}

function describePods(state: DemoState, namespace: string): string {
  const here = [...new Set(state.pods.filter((p) => p.namespace === namespace).map((p) => `deploy/${p.deployment}`))];
  return here.length > 0 ? here.join(', ') : `nothing in namespace ${namespace}`;
}

/** The Service registry the control plane serves (hostnames, ports, endpoints). */
interface Registry {
  services: Array<{ hostname: string; registry: string; ports: Array<{ name: string; port: number }> }>;
  endpoints: Record<string, Array<{ address: string; port: number; healthy: boolean }>>;
}

async function fetchServices(state: DemoState): Promise<{ registry: Registry } | { error: string }> {
  try {
    const res = await fetch(`${state.controlplane.http}/debug/registryz`, { signal: AbortSignal.timeout(10_000) });
    if (res.status !== 200) return { error: `the demo's control plane answered HTTP ${res.status} for its service registry (${state.controlplane.http}/debug/registryz)` };
    return { registry: (await res.json()) as Registry };
  } catch (e) {
    return { error: `cannot reach the demo's control plane at ${state.controlplane.http} (${(e as Error).message}): is the demo still running?` };
  }
}

/**
 * Where a connection to host:port from a pod of `namespace` lands, as cluster DNS (search path
 * `<ns>.svc.<domain> svc.<domain> <domain>`) and kube-proxy (service port → one ready endpoint)
 * decide: undefined when the name is a Service that cannot be reached on that port (refused).
 * Names that are no Kubernetes Service are left to the machine's resolver.
 */
export function clusterDestination(registry: Registry, namespace: string, host: string, port: number, random = Math.random): { host: string; port: number } | undefined {
  const name = host.replace(/\.$/, '').toLowerCase();
  if (isIP(name)) return { host: name, port };
  const candidates = [`${name}.${namespace}.svc.${DOMAIN}`, `${name}.svc.${DOMAIN}`, `${name}.${DOMAIN}`, name];
  for (const c of candidates) {
    const svc = registry.services.find((s) => s.hostname === c && s.registry === 'kubernetes');
    if (!svc) continue;
    if (!svc.ports.some((p) => p.port === port)) return undefined;
    const eps = (registry.endpoints[`${c}|${port}`] ?? []).filter((e) => e.healthy !== false);
    if (eps.length === 0) return undefined;
    const ep = eps[Math.floor(random() * eps.length)]!;
    return { host: ep.address, port: ep.port };
  }
  return { host: name, port };
}

/** An HTTP proxy on the pod's address: absolute-form requests and CONNECT, sent from the pod's address. */
function startForwarder(pod: DemoPodState, registry: Registry): Promise<Server> {
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let url: URL;
    try {
      url = new URL(req.url ?? '');
    } catch {
      res.writeHead(400).end('tsmesh exec: expected an absolute URL (a proxy request)\n');
      return;
    }
    const port = Number(url.port || (url.protocol === 'https:' ? 443 : 80));
    const dest = clusterDestination(registry, pod.namespace, url.hostname.replace(/^\[|\]$/g, ''), port);
    // A Service without a ready endpoint on that port: the connection fails, as it would in a cluster.
    if (!dest) return void reset(req.socket);
    const headers: string[] = [];
    for (let i = 0; i < req.rawHeaders.length; i += 2) {
      if (/^proxy-/i.test(req.rawHeaders[i]!)) continue;
      headers.push(req.rawHeaders[i]!, req.rawHeaders[i + 1]!);
    }
    const up = request({ host: dest.host, port: dest.port, localAddress: localFor(dest.host, pod.podIP), method: req.method, path: `${url.pathname}${url.search}`, headers, setHost: false, agent: false });
    up.on('response', (r) => {
      res.writeHead(r.statusCode ?? 502, r.statusMessage, r.rawHeaders);
      r.pipe(res);
    });
    // Refused or reset upstream (a STRICT port refusing plaintext): the client sees its connection
    // reset, as curl would without us in between (Istio's task shows exit code 56).
    up.on('error', () => reset(req.socket));
    req.pipe(up);
  });
  server.on('connect', (req: IncomingMessage, client: Socket, head: Buffer) => {
    const [h, p] = splitHostPort(req.url ?? '');
    const dest = clusterDestination(registry, pod.namespace, h, p);
    if (!dest) return void reset(client);
    const up = connect({ host: dest.host, port: dest.port, localAddress: localFor(dest.host, pod.podIP) }, () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length > 0) up.write(head);
      up.pipe(client);
      client.pipe(up);
    });
    up.on('error', () => reset(client));
    client.on('error', () => up.destroy());
  });
  return new Promise((resolveListen, reject) => {
    server.once('error', reject);
    server.listen(0, pod.podIP, () => resolveListen(server));
  });
}

function reset(s: Socket): void {
  if (!s.destroyed) s.resetAndDestroy();
}

/** Connections to loopback leave from the pod's address (what the destination sees); others from wherever the machine routes. */
function localFor(host: string, podIP: string): string | undefined {
  return host.startsWith('127.') ? podIP : undefined;
}

function splitHostPort(hp: string): [string, number] {
  const i = hp.lastIndexOf(':');
  return i < 0 ? [hp, 443] : [hp.slice(0, i).replace(/^\[|\]$/g, ''), Number(hp.slice(i + 1))];
}

function run(command: string[], env: NodeJS.ProcessEnv): Promise<number> {
  return new Promise((resolveRun) => {
    const child = spawn(command[0]!, command.slice(1), { stdio: 'inherit', env });
    // Ctrl-C reaches the child (same terminal process group); wait for it rather than leave it behind.
    const ignore = () => undefined;
    process.on('SIGINT', ignore);
    const done = (code: number) => {
      process.off('SIGINT', ignore);
      resolveRun(code);
    };
    child.once('error', (e: NodeJS.ErrnoException) => {
      console.error(e.code === 'ENOENT' ? `tsmesh exec: ${command[0]}: command not found on this machine (the demo's pods run their commands here)` : `tsmesh exec: ${command[0]}: ${e.message}`);
      done(e.code === 'ENOENT' ? 127 : 126);
    });
    child.once('exit', (code, signal) => done(code ?? 128 + (signal ? signalNumber(signal) : 0)));
  });
}

function signalNumber(signal: NodeJS.Signals): number {
  return (osConstants.signals as Record<string, number>)[signal] ?? 0;
}
