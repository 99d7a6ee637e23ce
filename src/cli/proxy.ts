/**
 * `tsmesh proxy`: the data-plane proxy (Envoy's job). Either from an Envoy v3 bootstrap
 * (--bootstrap / -c) or from sidecar flags the way pilot-agent builds one. With --token-file the
 * sidecar also runs the workload agent in the primary process (pilot-agent's security role:
 * certificate from the CA, served to the proxy over SDS on a private Unix socket). Prints one
 * line when ready ("tsmesh proxy ready: admin 127.0.0.1:15000, N listeners"), drains on
 * SIGTERM/SIGINT or /quitquitquit and exits 0.
 */
import { parseArgs } from 'node:util';
import { loadBootstrapFile, validateBootstrap, type ParsedBootstrap } from '../proxy/bootstrap.ts';
import { buildSidecarBootstrap, parseLabels, SDS_CLUSTER, SIDECAR_DEFAULTS } from '../agent/bootstrap.ts';
import { AGENT_FLAG_OPTIONS, AGENT_FLAGS_HELP, agentOptionsFromFlags } from '../agent/flags.ts';
import type { WorkloadAgentOptions } from '../agent/workload_agent.ts';
import type { SidecarAgent } from '../agent/sidecar_agent.ts';
import { ProxyServer } from '../proxy/server.ts';
import { AdminServer } from '../proxy/admin/admin.ts';
import { isProxyWorker, runWorker, WorkerPool } from '../proxy/worker.ts';
import { log, setLogLevel } from '../proxy/logger.ts';
import { ERR, TsmeshError } from '../api/errors.ts';
import { dnsCaptureRequested, istioMetaFromEnv } from '../agent/dns/meta.ts';
import { checkDnsAddress } from '../agent/dns/address.ts';
import { collectGarbage } from '../proxy/startup_gc.ts';

const HELP = `Usage: tsmesh proxy [--bootstrap <file> | sidecar flags] [options]

Run the data-plane proxy (Envoy's role) from an Envoy v3 bootstrap (YAML or JSON), or build the
bootstrap from sidecar flags as Istio's pilot-agent does.

Bootstrap:
  -c, --bootstrap <file>        Envoy v3 Bootstrap, YAML or JSON

Sidecar flags (used when no --bootstrap is given):
  --discovery-address <h:p>     control plane xDS address (default 127.0.0.1:15010)
  --control-plane-auth-policy <NONE|MUTUAL_TLS>
                                xDS over TLS with the workload certificate (Istio's
                                controlPlaneAuthPolicy; default MUTUAL_TLS when the discovery
                                port is 15012 and --token-file is given, else NONE)
  --workload-name <name>        workload name (default workload)
  --pod-name <name>             pod/instance name in the node id (default: workload name)
  --namespace <ns>              namespace (default default)
  --labels k=v,...              workload labels
  --service-account <sa>        service account
  --ip <ip>                     instance IP (default 127.0.0.1)
  --type sidecar|router         proxy type (default sidecar; router for gateways)
  --ports p1,p2,...             ports the workload serves (POD_PORTS metadata)
  --delta                       use incremental (delta) xDS

Workload identity (the agent runs, and listeners get certificates over SDS, when --token-file
is given; with --bootstrap, identity comes from its node metadata and the agent serves SDS on
the path of its static sds-grpc cluster):
${AGENT_FLAGS_HELP}

Options:
  --admin-port <port>           admin API port on 127.0.0.1 (default 15000, or the bootstrap's)
  --status-port <port>          run pilot-agent's status server on the node's IP (INSTANCE_IPS):
                                /healthz/ready and /stats/prometheus merging the proxy's, the
                                agent's and the app's metrics (Istio: 15020; default off)
  --readiness-port <port>       readiness probe port beside it (default 15021)
  --concurrency <n>             worker processes sharing the listeners (default 1)
  --drain-time-s <s>            drain time on listener update and shutdown (default 5)
  -l, --log-level <level>       trace|debug|info|warning|error|critical|off (default info)
  --explicit-proxy              accept a PROXY v1 line as the original destination on
                                use_original_dst listeners (demos and tests without iptables)
  --dns-address <ip:port>       where the agent's DNS proxy serves when the node metadata has
                                DNS_CAPTURE=true (env ISTIO_META_DNS_CAPTURE; default 127.0.0.1:15053;
                                loopback only: it forwards any name it does not know)
  -h, --help                    show this help
`;

const VERSION = 'tsmesh/0.1.0/RELEASE/node';

/** The primary's agent socket, for workers' bootstraps (they never dial it: secrets come from the primary). */
const SDS_SOCKET_ENV = 'TSMESH_AGENT_SDS_SOCKET';

export async function proxyCommand(argv: string[]): Promise<number> {
  let v: Record<string, string | boolean | undefined>;
  try {
    v = parseArgs({
      args: argv,
      options: {
        bootstrap: { type: 'string', short: 'c' },
        'discovery-address': { type: 'string' },
        'control-plane-auth-policy': { type: 'string' },
        'workload-name': { type: 'string' },
        'pod-name': { type: 'string' },
        namespace: { type: 'string' },
        labels: { type: 'string' },
        'service-account': { type: 'string' },
        ip: { type: 'string' },
        type: { type: 'string' },
        ports: { type: 'string' },
        delta: { type: 'boolean' },
        'admin-port': { type: 'string' },
        concurrency: { type: 'string' },
        'drain-time-s': { type: 'string' },
        'log-level': { type: 'string', short: 'l' },
        'explicit-proxy': { type: 'boolean' },
        'status-port': { type: 'string' },
        'readiness-port': { type: 'string' },
        'dns-address': { type: 'string' },
        ...AGENT_FLAG_OPTIONS,
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    }).values;
  } catch (e) {
    console.error(`tsmesh proxy: ${(e as Error).message}\n\n${HELP}`);
    return 2;
  }
  if (v.help) {
    console.log(HELP);
    return 0;
  }
  const num = (name: string, def: number, min = 0): number => {
    const raw = v[name];
    if (raw === undefined) return def;
    const n = Number(raw);
    if (!Number.isFinite(n) || n < min) throw new Error(`--${name}: expected a number >= ${min}, got ${JSON.stringify(raw)}`);
    return n;
  };
  let bootstrap: ParsedBootstrap;
  let concurrency: number;
  let drainMs: number;
  let sidecar: SidecarAgent | undefined;
  const worker = isProxyWorker();
  try {
    if (v['log-level'] && !setLogLevel(String(v['log-level']))) throw new Error(`--log-level: unknown level ${v['log-level']}`);
    concurrency = Math.floor(num('concurrency', 1, 1));
    drainMs = num('drain-time-s', 5) * 1000;
    if (v['dns-address'] !== undefined) checkDnsAddress(String(v['dns-address']));
    if (v.bootstrap) {
      bootstrap = loadBootstrapFile(String(v.bootstrap));
      // The bootstrap names the agent's socket (its sds-grpc cluster) and the workload's identity
      // (node metadata), as pilot-agent writes both for Envoy.
      // Only a token asks the node for an identity: a static bootstrap may have no node at all.
      const agentOpts = typeof v['token-file'] === 'string' ? agentOptionsFromFlags(v, bootstrapAgentContext(bootstrap)) : agentOptionsFromFlags(v, { discoveryAddress: '', namespace: '' });
      if (agentOpts && !worker) sidecar = await startAgent(agentOpts, sdsSocketOf(bootstrap));
    } else {
      const type = String(v.type ?? 'sidecar');
      if (type !== 'sidecar' && type !== 'router') throw new Error(`--type: expected sidecar or router, got ${type}`);
      const ports = v.ports ? String(v.ports).split(',').map((p) => Number(p.trim())) : undefined;
      if (ports?.some((p) => !Number.isInteger(p) || p <= 0 || p > 65535)) throw new Error(`--ports: expected a list of ports, got ${v.ports}`);
      const discoveryAddress = String(v['discovery-address'] ?? SIDECAR_DEFAULTS.discoveryAddress);
      const namespace = String(v.namespace ?? SIDECAR_DEFAULTS.namespace);
      const agentOpts = agentOptionsFromFlags(v, { discoveryAddress, namespace, serviceAccount: v['service-account'] ? String(v['service-account']) : undefined });
      let sdsSocket: string | undefined;
      if (agentOpts && worker) sdsSocket = process.env[SDS_SOCKET_ENV];
      else if (agentOpts) {
        sidecar = await startAgent(agentOpts);
        sdsSocket = sidecar.socket;
        process.env[SDS_SOCKET_ENV] = sdsSocket;
      }
      bootstrap = validateBootstrap(
        buildSidecarBootstrap({
          ...SIDECAR_DEFAULTS,
          discoveryAddress,
          workloadName: String(v['workload-name'] ?? SIDECAR_DEFAULTS.workloadName),
          podName: v['pod-name'] ? String(v['pod-name']) : undefined,
          namespace,
          labels: v.labels ? parseLabels(String(v.labels)) : {},
          serviceAccount: v['service-account'] ? String(v['service-account']) : undefined,
          ip: String(v.ip ?? SIDECAR_DEFAULTS.ip),
          type,
          adminPort: num('admin-port', 15000),
          ports,
          delta: v.delta === true,
          ...(sdsSocket ? { sdsSocket } : {}),
          // pilot-agent's ISTIO_META_* environment (DNS_CAPTURE, DNS_AUTO_ALLOCATE, ...).
          metadata: istioMetaFromEnv(process.env),
        }),
      );
    }
    await installOriginalDestination(bootstrap, v['explicit-proxy'] === true);
  } catch (e) {
    await sidecar?.close();
    const code = e instanceof TsmeshError ? ` [${e.code}]` : '';
    console.error(`tsmesh proxy:${code} ${(e as Error).message}`);
    return 2;
  }
  // Istio's DNS proxy: the agent answers DNS from the NDS name table on this proxy's xDS stream.
  let dns: import('../agent/dns/dns_agent.ts').DnsAgent | undefined;
  if (!worker && bootstrap.ads && dnsCaptureRequested(bootstrap.node.metadata as Record<string, unknown> | undefined)) {
    try {
      const { startDnsAgent } = await import('../agent/dns/dns_agent.ts');
      dns = await startDnsAgent(bootstrap.node, { ...(v['dns-address'] ? { address: String(v['dns-address']) } : {}), log: (m) => log.info(m) });
    } catch (e) {
      await sidecar?.close();
      console.error(`tsmesh proxy: DNS proxy: ${(e as Error).message}`);
      return 1;
    }
  }
  const admin = { ip: bootstrap.admin?.ip ?? '127.0.0.1', port: v['admin-port'] !== undefined ? num('admin-port', 15000) : bootstrap.admin?.port ?? 15000 };
  const role = concurrency > 1 ? (worker ? 'worker' : 'primary') : 'standalone';
  let adsTls: import('../xds/client/transport.ts').XdsTls | undefined;
  try {
    adsTls = await xdsTls(v, bootstrap, sidecar);
  } catch (e) {
    await sidecar?.close();
    console.error(`tsmesh proxy: ${(e as Error).message}`);
    return 2;
  }
  const server = new ProxyServer({ bootstrap, drainMs, role, concurrency, commandLine: argv, explicitProxy: v['explicit-proxy'] === true, ...(dns ? { agentWatches: [dns.watch] } : {}), ...(adsTls ? { adsTls } : {}) });

  let done!: (code: number) => void;
  const finished = new Promise<number>((r) => (done = r));
  let stopping = false;

  if (role === 'worker') {
    const stop = (ms: number, graceMs = 0) => {
      if (stopping) return;
      stopping = true;
      void server.shutdown(ms, graceMs).then(() => done(0));
    };
    // The primary decides when workers drain (with its withdraw grace); a terminal's SIGINT
    // reaches the whole process group, so workers leave that one to the primary.
    process.on('SIGTERM', () => stop(drainMs));
    process.on('SIGINT', () => undefined);
    // Orphaned (the primary died): drain and go, never serve without a control loop.
    process.on('disconnect', () => stop(drainMs));
    try {
      await runWorker(server, stop);
    } catch (e) {
      console.error(`tsmesh proxy worker: ${(e as Error).message}`);
      return 1;
    }
    const code = await finished;
    // The cluster worker's IPC and shared handles would keep it alive; drained is done.
    process.exit(code);
  }

  const pool = role === 'primary' ? new WorkerPool(server, concurrency) : undefined;
  const adminServer = new AdminServer({
    server,
    snapshot: pool ? () => pool.snapshot() : undefined,
    onQuit: () => stop('quitquitquit'),
    ...(sidecar ? { agent: () => sidecar.agent.state() } : {}),
    version: VERSION,
    commandLineOptions: {
      concurrency,
      drain_time: `${drainMs / 1000}s`,
      log_level: String(v['log-level'] ?? 'info'),
      config_path: v.bootstrap ?? '',
      admin_address_path: '',
      mode: 'Serve',
      restart_epoch: 0,
      service_cluster: bootstrap.node.cluster ?? '',
      service_node: bootstrap.node.id,
    },
  });
  const stop = (why: string) => {
    if (stopping) return;
    stopping = true;
    log.info(`shutting down (${why})`);
    void (async () => {
      // Workers keep accepting as long as the primary does after it withdraws from xDS.
      const graceMs = server.withdrawGraceMs(drainMs);
      await Promise.all([server.shutdown(drainMs, graceMs), pool?.drain(drainMs, graceMs)]);
      health?.stop();
      await adminServer.close();
      await status?.close();
      await dns?.close();
      await sidecar?.close();
      done(0);
    })();
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  let status: import('../agent/status_server.ts').StatusServer | undefined;
  let health: import('../agent/health/workload_health.ts').WorkloadHealth | undefined;
  try {
    // Admin first, like Envoy: /ready answers 503 while initializing.
    admin.port = await adminServer.listen(admin.ip, admin.port).catch((e: NodeJS.ErrnoException) => {
      if (e.code !== 'EADDRINUSE') throw e;
      throw new TsmeshError(ERR.ADDRESS_IN_USE, `admin address ${admin.ip}:${admin.port} is already in use (port ${admin.port}); choose another with --admin-port`);
    });
    // Where the control plane reaches this admin API (tap; the admin port may not be 15000), before
    // the node reaches it. A wildcard bind is reached on the node's first instance IP.
    {
      const md = (bootstrap.node.metadata ??= {}) as Record<string, unknown>;
      const wildcard = admin.ip === '0.0.0.0' || admin.ip === '::';
      const host = wildcard ? String(md.INSTANCE_IPS ?? '127.0.0.1').split(',')[0]!.trim() || '127.0.0.1' : admin.ip;
      md.TSMESH_ADMIN_ADDRESS = host.includes(':') ? `[${host}]:${admin.port}` : `${host}:${admin.port}`;
    }
    // pilot-agent's status server, before the proxy initializes: readiness is 503 until it is LIVE.
    if (v['status-port'] !== undefined) {
      const { startProxyStatus, mergedMetricsAnnotations } = await import('../agent/status_server.ts');
      const { stringMapOf } = await import('../common/string_map.ts');
      const md = (bootstrap.node.metadata ??= {}) as Record<string, unknown>;
      const nodeIp = String(md.INSTANCE_IPS ?? '127.0.0.1').split(',')[0]!.trim() || '127.0.0.1';
      status = await startProxyStatus({
        address: nodeIp,
        statusPort: num('status-port', 15020),
        readinessPort: num('readiness-port', 15021),
        proxyState: () => server.state,
        xdsConnected: () => (bootstrap.ads ? server.store.gauge('control_plane.connected_state').value() : undefined),
        admin: { ip: admin.ip, port: () => admin.port },
        ...(sidecar ? { certNotAfter: () => { const c = sidecar.agent.state().certificate; return c ? Date.parse(c.notAfter) : undefined; } } : {}),
        prometheusAnnotations: process.env.ISTIO_PROMETHEUS_ANNOTATIONS,
        appHost: typeof md.TSMESH_APP_ADDRESS === 'string' ? md.TSMESH_APP_ADDRESS : nodeIp,
      }).catch((e: Error) => {
        throw /already in use/.test(e.message) ? new TsmeshError(ERR.ADDRESS_IN_USE, `${e.message}; choose other ports with --status-port / --readiness-port`) : e;
      });
      console.log(`tsmesh proxy status: ${nodeIp}:${status.statusPort} (/stats/prometheus, /healthz/ready), readiness ${nodeIp}:${status.readinessPort}`);
      // What Istio's injector writes on the pod (metrics merging), before the node reaches the
      // control plane: Prometheus finds this pod's merged metrics at the port it really got.
      md.ANNOTATIONS = { ...stringMapOf(md.ANNOTATIONS), ...mergedMetricsAnnotations(status.statusPort) };
    }
    await server.start();
    if (pool) await pool.start();
    // A VM's WorkloadGroup probe (ProxyConfig.readinessProbe in the node): run by the agent,
    // reported to the control plane on this proxy's xDS stream (Istio's health check over xDS).
    const md = bootstrap.node.metadata as Record<string, unknown> | undefined;
    if ((md?.PROXY_CONFIG as { readinessProbe?: unknown } | undefined)?.readinessProbe !== undefined) {
      const { startNodeHealth } = await import('../agent/health/node_probe.ts');
      health = startNodeHealth(md, (healthy, message) => {
        log.info(`workload ${healthy ? 'healthy' : `unhealthy: ${message}`} (readiness probe)`);
        server.reportHealth(healthy, message);
      });
    }
  } catch (e) {
    const code = e instanceof TsmeshError ? ` [${e.code}]` : '';
    console.error(`tsmesh proxy:${code} ${(e as Error).message}`);
    await status?.close();
    await adminServer.close();
    await server.shutdown(0).catch(() => {});
    await dns?.close();
    await sidecar?.close();
    return 1;
  }
  const n = server.listeners.active.size;
  // Start-up's garbage goes now rather than whenever the old generation next fills (src/proxy/startup_gc.ts).
  collectGarbage();
  console.log(`tsmesh proxy ready: admin ${admin.ip}:${admin.port}, ${n} listener${n === 1 ? '' : 's'}`);
  const code = await finished;
  // Anything left open (a stuck socket) must not keep a drained proxy alive.
  setTimeout(() => process.exit(code), 2000).unref();
  return code;
}

/**
 * A sidecar in INTERCEPTION_MODE REDIRECT gets its traffic through iptables REDIRECT (tsmesh init):
 * the address the app dialed is then only in conntrack, read with SO_ORIGINAL_DST by the native
 * addon. TPROXY mode needs it too: only inbound uses TPROXY (the destination stays the socket's
 * local address, which the addon falls back to), outbound is still REDIRECTed to 15001.
 * Checked at start, so a sidecar without the addon refuses to run instead of looping captured
 * connections back to itself. --explicit-proxy (no iptables: PROXY lines name the destination)
 * needs no addon.
 */
async function installOriginalDestination(b: ParsedBootstrap, explicitProxy: boolean): Promise<void> {
  const md = (b.node.metadata ?? {}) as Record<string, unknown>;
  const mode = typeof md.INTERCEPTION_MODE === 'string' ? md.INTERCEPTION_MODE.trim().toUpperCase() : '';
  if (!b.node.id.startsWith('sidecar~') || (mode !== 'REDIRECT' && mode !== 'TPROXY') || explicitProxy) return;
  const { soOriginalDestination } = await import('../proxy/listener/so_original_dst.ts');
  const { setOriginalDestination } = await import('../proxy/listener/original_dst.ts');
  setOriginalDestination(soOriginalDestination());
}

/**
 * ADS over TLS (istiod's :15012) as Istio's agent dials it: the server verified against the mesh
 * root under istiod's name, the agent's workload certificate presented (read per connection, so a
 * rotated one is used by the next). Waits (bounded) for the first certificate so the first stream
 * already carries the identity.
 */
async function xdsTls(v: Record<string, unknown>, b: ParsedBootstrap, sidecar: SidecarAgent | undefined): Promise<import('../xds/client/transport.ts').XdsTls | undefined> {
  const raw = v['control-plane-auth-policy'];
  const policy = raw === undefined ? (sidecar && b.ads && /:15012$/.test(b.ads.address) ? 'MUTUAL_TLS' : 'NONE') : String(raw).toUpperCase();
  if (policy !== 'NONE' && policy !== 'MUTUAL_TLS') throw new Error(`--control-plane-auth-policy: expected NONE or MUTUAL_TLS, got ${raw}`);
  // Workers take config from the primary, never from the control plane.
  if (policy === 'NONE' || !b.ads || isProxyWorker()) return undefined;
  if (!sidecar) throw new Error('--control-plane-auth-policy MUTUAL_TLS needs the workload agent (--token-file and --ca-root-cert)');
  const agent = sidecar.agent;
  await Promise.race([agent.ready(), new Promise<void>((r) => setTimeout(r, 10_000).unref())]);
  const { readFileSync } = await import('node:fs');
  return {
    // The roots the CA returned with the certificate; the --ca-root-cert file until then.
    rootCertPem: () => agent.current?.rootsPem ?? readFileSync(String(v['ca-root-cert']), 'utf8'),
    identity: () => {
      const c = agent.current;
      return c ? { certChainPem: c.chainPem, privateKeyPem: c.keyPem } : undefined;
    },
  };
}

/** Starts the workload agent (loaded only when a token is given: a plain proxy never pays for it). */
/** The identity and control plane address a bootstrap gives the agent. */
function bootstrapAgentContext(b: ParsedBootstrap): { discoveryAddress: string; namespace: string; serviceAccount?: string } {
  const md = (b.node.metadata ?? {}) as Record<string, unknown>;
  const namespace = typeof md.NAMESPACE === 'string' ? md.NAMESPACE : '';
  if (!namespace) throw new Error('--token-file: the bootstrap\'s node has no NAMESPACE metadata, so the agent cannot tell which identity to ask for');
  return {
    discoveryAddress: b.ads?.address ?? '127.0.0.1:15010',
    namespace,
    ...(typeof md.SERVICE_ACCOUNT === 'string' && md.SERVICE_ACCOUNT ? { serviceAccount: md.SERVICE_ACCOUNT } : {}),
  };
}

/** The pipe path of the bootstrap's static sds-grpc cluster: where the agent must serve SDS. */
function sdsSocketOf(b: ParsedBootstrap): string {
  const c = b.clusters.find((x) => x.name === SDS_CLUSTER);
  const path = c?.load_assignment?.endpoints?.[0]?.lb_endpoints?.[0]?.endpoint?.address?.pipe?.path;
  if (typeof path !== 'string' || !path) throw new Error(`--token-file: the bootstrap has no static ${SDS_CLUSTER} cluster with a pipe endpoint; the agent serves SDS on that socket`);
  return path;
}

async function startAgent(opts: WorkloadAgentOptions, socket?: string): Promise<SidecarAgent> {
  const { startSidecarAgent } = await import('../agent/sidecar_agent.ts');
  const a = await startSidecarAgent(opts, socket);
  log.info(`agent: ${a.agent.identity} from CA ${opts.caAddress}; SDS on ${a.socket}`);
  return a;
}
