/**
 * istiod in one object (Istio's pilot/pkg/bootstrap): the file config store, the registry, pilot's
 * generator and the ADS server wired together, plus the HTTP port for debug and apply. Each part
 * lives in its own folder; this file only connects them.
 */
import { homedir } from 'node:os';
import { join } from 'node:path';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { FileConfigStore } from '../api/file-store.ts';
import { defaultMeshConfig, loadMeshConfig } from '../api/mesh.ts';
import { meshSupportWarnings } from '../api/fields/mesh_support.ts';
import { formatValidationError, type Config, type ConfigStore, type MeshConfig } from '../api/types.ts';
import type { RegistrySource } from '../registry/source.ts';
import type { WorkloadIdentity } from '../ca/spiffe.ts';
import { Registry } from '../registry/index.ts';
import type { RegistrationHandle } from '../registry/index.ts';
import { TLS_MODE_LABEL } from '../registry/serviceentry.ts';
import { buildPushContext, updatePushContextEndpoints } from '../pilot/push_context.ts';
import { generate } from '../pilot/generator.ts';
import { parseProxy } from '../pilot/proxy.ts';
import { proxyShapeKey } from '../pilot/shape_key.ts';
import type { Proxy, PushContext } from '../pilot/types.ts';
import { DiscoveryServer } from '../xds/server/index.ts';
import { ADS_SERVICE } from '../xds/grpc.ts';
import { CertificateAuthority } from '../ca/authority.ts';
import { CaServer } from '../ca/server.ts';
import { debugHandler } from '../xds/debug.ts';
import { proxyVersion } from '../xds/debug_proxies.ts';
import { describeHandler } from './debug_describe.ts';
import { BatchedAutoRegistration, groupRegistrationProblem } from './autoregistration.ts';
import { ConfigApi } from './config_api.ts';
import { DashboardApi } from './graph_api.ts';
import { selectedConfigs } from './discovery_selectors.ts';
import { ZipkinCollector } from './zipkin/collector.ts';
import { PilotMetrics } from './metrics/pilot.ts';
import { PROMETHEUS_CONTENT_TYPE } from '../common/prometheus.ts';
import { tapHandler, type TapDeps } from './tap.ts';
import { httpGuard } from './http_guard.ts';
import { TapTokenSigner } from './tap_token.ts';

/**
 * Kinds pilot never reads: the registry turns them into services, endpoints and workloads. They
 * are not in the PushContext either, so a WorkloadEntry change leaves its config list as it was
 * (10 of 11 resources in a mesh of 1,000 services x 10 endpoints are WorkloadEntries).
 */
const REGISTRY_ONLY_KINDS = new Set(['WorkloadEntry', 'WorkloadGroup', 'Deployment']);

/** S: the config store's type (the file store unless `store` gives another). */
export interface ControlPlaneOptions<S extends ConfigStore & { close(): void } = FileConfigStore> {
  /** Directory of Istio YAML (the file store); unused when `store` is given. */
  configDir?: string;
  meshFile?: string;
  /**
   * Another config store instead of the directory (Kubernetes mode: src/kube's API-server store).
   * The control plane closes it.
   */
  store?: S;
  /** The mesh config itself (Kubernetes mode: the `istio` ConfigMap), instead of meshFile. */
  mesh?: MeshConfig;
  /** More registry sources (Kubernetes mode: Services + EndpointSlices from the API server). */
  registrySources?: RegistrySource[];
  /** How the CA authenticates CSRs' bearer tokens (Kubernetes mode: TokenReview); default the state dir's workload tokens. */
  authenticate?: (token: string) => Promise<WorkloadIdentity>;
  /** Address both ports bind (default 127.0.0.1). */
  address?: string;
  /** xDS gRPC port (Istio: 15010). 0 picks a free one. */
  grpcPort?: number;
  /** Debug/monitoring HTTP port (Istio: 15014). 0 picks a free one. */
  httpPort?: number;
  /** The CA's CSR service and ADS over TLS (Istio: 15012). 0 picks a free one. */
  secureGrpcPort?: number;
  /**
   * The embedded Zipkin collector (Zipkin's 9411): a port, 0 for a free one; undefined runs none.
   * `zipkinFallback`: when that port is taken, take a free one instead of failing (the CLI's default).
   */
  zipkinPort?: number;
  zipkinFallback?: boolean;
  /** Where the self-signed root and the workload-token key are kept (default ~/.tsmesh/controlplane). */
  stateDir?: string;
  /** Istio's plug-in CA directory (ca-cert.pem, ca-key.pem, root-cert.pem, cert-chain.pem). */
  cacertsDir?: string;
  /** A CA loaded elsewhere (Kubernetes mode: the istio-ca-secret Secret); stateDir, cacertsDir and workloadCertTtlSeconds then do not apply to it. */
  authority?: CertificateAuthority;
  /** Workload certificate lifetime when a CSR asks for none (Istio's DEFAULT_WORKLOAD_CERT_TTL, 24 h). */
  workloadCertTtlSeconds?: number;
  /** false: no default retry budget on outbound clusters (Istio's behaviour); see MeshConfig.defaultRetryBudget. */
  defaultRetryBudget?: boolean;
  debounce?: { afterMs?: number; maxMs?: number };
  log?: (line: string) => void;
}

export class ControlPlane<S extends ConfigStore & { close(): void } = FileConfigStore> {
  readonly mesh: MeshConfig;
  readonly store: S;
  readonly registry: Registry;
  readonly discovery: DiscoveryServer<PushContext, Proxy>;
  /** Connected sidecars as workloads, reaching the registry in batches. */
  readonly autoRegistration: BatchedAutoRegistration;
  /** istiod's own metrics, served on /metrics. */
  readonly metrics: PilotMetrics;
  private http?: Server;
  private ca?: CaServer;
  /** The dashboard's API; closed with the control plane so its scraper stops at once. */
  private dashboard?: DashboardApi;
  private readonly registrations = new Map<string, RegistrationHandle>();
  private readonly unsubscribe: Array<() => void> = [];
  private readonly log: (line: string) => void;
  /** The last PushContext built, and what changed since: what the next one must read again. */
  private lastPush: PushContext | undefined;
  private sinceLastPush: { full: boolean; hosts: Set<string> } = { full: true, hosts: new Set() };
  grpcPort = 0;
  httpPort = 0;
  secureGrpcPort = 0;
  /** The embedded trace collector, when it runs (see ControlPlaneOptions.zipkinPort). */
  zipkin?: ZipkinCollector;
  readonly stateDir: string;
  /** The CA, once start() loaded it (Kubernetes mode publishes its roots to every namespace). */
  authority?: CertificateAuthority;
  /** Live tap (/debug/tap): the connected proxies and a token signer from the CA, once it is loaded. */
  tap?: TapDeps;

  constructor(private readonly opts: ControlPlaneOptions<S>) {
    this.log = opts.log ?? ((l) => console.error(l));
    this.stateDir = opts.stateDir ?? defaultStateDir();
    if (opts.mesh) {
      this.mesh = opts.mesh;
    } else if (opts.meshFile) {
      const r = loadMeshConfig(opts.meshFile);
      for (const e of r.errors) this.log(`mesh config: ${formatValidationError(e)}`);
      // Accepted but not enforced (accessLogFile, enableTracing...): said once, at start.
      for (const w of meshSupportWarnings(r.mesh, opts.meshFile)) this.log(`mesh config: ${formatValidationError(w)}`);
      this.mesh = r.mesh;
    } else {
      this.mesh = defaultMeshConfig();
    }
    if (opts.defaultRetryBudget === false) this.mesh.defaultRetryBudget = false;
    if (!opts.store && !opts.configDir) throw new Error('ControlPlane: configDir or store is required');
    this.store = opts.store ?? (new FileConfigStore(opts.configDir!, { logger: (l) => this.log(configLine(l)) }) as unknown as S);
    this.autoRegistration = new BatchedAutoRegistration((ns, labels) => this.registry.selectsWorkload(ns, labels), undefined, undefined, (ns, name) => this.registry.config.workloadGroup(ns, name));
    this.registry = new Registry({ store: this.store, mesh: this.mesh, log: this.log, sources: [this.autoRegistration, ...(opts.registrySources ?? [])] });
    this.metrics = new PilotMetrics({
      proxyVersions: () => this.discovery.liveConnections().map((c) => String(c.proxy.metadata.ISTIO_VERSION ?? 'unknown')),
      services: () => this.registry.services().length,
      virtualServices: () => this.store.all().filter((c) => c.kind === 'VirtualService').length,
      citadel: () => this.ca?.stats() ?? {},
    });
    this.discovery = new DiscoveryServer({
      generator: generate,
      parseProxy,
      shapeKey: proxyShapeKey,
      buildPushContext: () => this.buildPushContext(),
      debounce: opts.debounce,
      // The identity the stream's TLS verified (:15012 with a client certificate), when it has one.
      onConnect: (conn) => this.autoRegister(conn.id, conn.proxy, (conn as { verifiedIdentity?: string }).verifiedIdentity),
      onDisconnect: (conn) => {
        this.registrations.get(conn.id)?.unregister();
        this.registrations.delete(conn.id);
      },
      // The agent's WorkloadGroup probe (Istio's health check over xDS): an unhealthy workload
      // stays an endpoint, marked UNHEALTHY, so proxies take it out of load balancing.
      onHealth: (conn, healthy, message) => {
        const handle = this.registrations.get(conn.id);
        if (!handle) return;
        this.log(`ads ${conn.id}: workload ${handle.namespace}/${handle.name} ${healthy ? 'healthy' : `unhealthy: ${message || 'probe failed'}`}`);
        handle.setHealthy(healthy);
      },
      metrics: this.metrics,
      log: { debug: () => undefined, info: (m: string) => this.log(m), warn: (m: string) => this.log(m) },
    });
    this.unsubscribe.push(
      this.store.watch((all) => {
        for (const e of all) this.metrics.configEvent(e.config.kind, e.type);
        // An edited WorkloadGroup is the template of the VMs already registered through it.
        for (const e of all) if (e.config.kind === 'WorkloadGroup') this.autoRegistration.groupChanged(e.config.metadata.namespace, e.config.metadata.name);
        // Workload and Deployment changes reach proxies through the registry, which knows when
        // only endpoints moved (an EDS-only push, as Istio does for WorkloadEntry).
        const events = all.filter((e) => !REGISTRY_ONLY_KINDS.has(e.config.kind));
        if (events.length === 0) return;
        this.sinceLastPush.full = true;
        this.metrics.trigger('config');
        const what = events.slice(0, 3).map((e) => `${e.type} ${e.config.kind} ${e.config.metadata.namespace}/${e.config.metadata.name}`);
        this.discovery.configUpdate({ full: true, reason: `config: ${what.join(', ')}${events.length > 3 ? ', ...' : ''}` });
      }),
      this.registry.onChange((e) => {
        if (!e.endpointsOnly) this.sinceLastPush.full = true;
        for (const h of e.services) this.sinceLastPush.hosts.add(h);
        // A workload that no service selects (a sidecar registering) changes nothing pilot
        // generates: no push, so no PushContext rebuild and no cache thrown away per connection.
        if (e.endpointsOnly && e.services.length === 0) return;
        this.metrics.trigger(e.endpointsOnly ? 'endpoint' : 'service');
        // New service accounts change clusters' SAN checks: push CDS too (istiod's EDSUpdate
        // does a full push then), while the PushContext is still only updated, not rebuilt.
        const full = !e.endpointsOnly || e.serviceAccountsChanged === true;
        const why = e.serviceAccountsChanged ? ' (service accounts changed)' : '';
        this.discovery.configUpdate({ full, services: e.services, reason: `registry: ${e.services.slice(0, 3).join(', ')}${why}` });
      }),
    );
  }

  /**
   * The PushContext for the next push. After endpoint changes alone it is the last one with those
   * services' endpoints read again (Istio's incremental EDS push); any config or Service change
   * builds it in full.
   */
  private buildPushContext(): PushContext {
    const since = this.sinceLastPush;
    this.sinceLastPush = { full: false, hosts: new Set() };
    try {
      this.lastPush = this.lastPush && !since.full ? updatePushContextEndpoints(this.lastPush, this.registry, since.hosts) : this.fullPushContext();
    } catch (err) {
      // Not built: the next push reads everything again.
      this.sinceLastPush.full = true;
      throw err;
    }
    return this.lastPush;
  }

  /**
   * The mesh config object was changed in place (Kubernetes mode: the `istio` ConfigMap was
   * edited): discovery selectors are read again and every proxy gets a full push.
   */
  meshChanged(): void {
    this.registry.setMesh(this.mesh);
    this.sinceLastPush.full = true;
    this.metrics.trigger('config');
    this.discovery.configUpdate({ full: true, reason: 'mesh config changed' });
  }

  /** A PushContext built from the whole config and registry, as it is now. */
  fullPushContext(): PushContext {
    return buildPushContext({
      mesh: this.mesh,
      configs: selectedConfigs(
        this.store.all().filter((c) => !REGISTRY_ONLY_KINDS.has(c.kind)),
        this.mesh,
        (ns) => this.registry.isNamespaceSelected(ns),
      ),
      registry: this.registry,
      // The CA below issues workload certificates; a proxy without an agent says so itself.
      workloadCertificates: true,
    });
  }

  /**
   * Istio's WorkloadGroup auto-registration: a sidecar that names its labels and IP becomes an
   * endpoint of every Service selecting it, for as long as its stream is up.
   */
  private autoRegister(connId: string, proxy: Proxy, verifiedIdentity?: string): void {
    // Istio's ISTIO_META_AUTO_REGISTER_GROUP: the WorkloadGroup (same namespace) this proxy joins.
    const group = typeof proxy.metadata.AUTO_REGISTER_GROUP === 'string' && proxy.metadata.AUTO_REGISTER_GROUP ? proxy.metadata.AUTO_REGISTER_GROUP : undefined;
    if (proxy.type !== 'sidecar' || proxy.generator === 'grpc' || (Object.keys(proxy.labels).length === 0 && !group)) return;
    const ip = proxy.ipAddresses[0];
    if (!ip) return;
    if (group) {
      const problem = groupRegistrationProblem(proxy.namespace, group, this.registry.config.workloadGroup(proxy.namespace, group), verifiedIdentity);
      if (problem) {
        // Not registered, but served: the proxy still gets its config.
        this.log(`auto-registration: refused ${proxy.id} (${ip}): ${problem}`);
        return;
      }
    }
    // An agent that runs a readiness probe (ProxyConfig.readinessProbe, from the WorkloadGroup's
    // probe) reports health once it passes; until then the workload takes no traffic.
    const proxyConfig = proxy.metadata.PROXY_CONFIG as { readinessProbe?: unknown } | undefined;
    const probed = typeof proxyConfig === 'object' && proxyConfig !== null && proxyConfig.readinessProbe !== undefined;
    const handle = this.autoRegistration.register({
      // Istio names an auto-registered WorkloadEntry `<group>-<ip>`: VMs share no pod names.
      name: group ? `${group}-${ip}` : proxy.workloadName,
      ...(group ? { workloadGroup: group } : {}),
      ...(probed ? { healthy: false } : {}),
      namespace: proxy.namespace,
      ip,
      // A sidecar without an agent has no certificate: clients must reach it in plaintext.
      labels: proxy.workloadCertificates === false ? { ...proxy.labels, [TLS_MODE_LABEL]: 'disabled' } : proxy.labels,
      serviceAccount: proxy.serviceAccount,
      locality: proxy.locality,
      // ISTIO_META_NETWORK: split-horizon EDS sends other networks to this one's gateway.
      ...(proxy.network ? { network: proxy.network } : {}),
    });
    this.registrations.set(connId, handle);
  }

  async start(): Promise<void> {
    const address = this.opts.address ?? '127.0.0.1';
    this.grpcPort = await this.discovery.listen(`${address}:${this.opts.grpcPort ?? 15010}`);
    // istiod's :15012: the CSR service, and ADS for proxies that verify the control plane.
    const authority = (this.authority =
      this.opts.authority ??
      (await CertificateAuthority.load({
        stateDir: this.stateDir,
        cacertsDir: this.opts.cacertsDir,
        trustDomain: this.mesh.trustDomain,
        workloadCertTtlSeconds: this.opts.workloadCertTtlSeconds,
      })));
    this.ca = new CaServer({
      ca: authority,
      stateDir: this.stateDir,
      ...(this.opts.authenticate ? { authenticate: this.opts.authenticate } : {}),
      extraServices: [{ definition: ADS_SERVICE, handlers: this.discovery.handlers() }],
      log: { info: (m) => this.log(m), warn: (m) => this.log(m) },
    });
    this.secureGrpcPort = await this.ca.listen(`${address}:${this.opts.secureGrpcPort ?? 15012}`);
    this.tap = { discovery: this.discovery, signer: new TapTokenSigner(authority) };
    const tap = tapHandler(() => this.tap);
    const debug = debugHandler(this.discovery, {
      configz: () => ({ resources: this.store.all().map(redactSecret), errors: this.store.errors().map(formatValidationError) }),
      registryz: () => ({ services: this.registry.services(), workloads: this.registry.workloads(), endpoints: Object.fromEntries(this.registry.snapshot().endpoints) }),
    });
    // tsmesh describe / tsmesh version: pilot's decisions for a pod or service, on the push proxies are served.
    const describe = describeHandler({ push: () => this.discovery.pushContext ?? this.fullPushContext(), proxies: () => this.discovery.liveConnections().map((c) => c.proxy), configs: () => this.store.all(), proxyVersion: (p) => proxyVersion(this.discovery.connectionsOf(p.id)[0]?.node) });
    // tsmesh apply writes the config directory; with another store (the API server) it has none.
    const api = this.store instanceof FileConfigStore && this.opts.configDir ? new ConfigApi(this.opts.configDir, this.store) : undefined;
    // The web UI and its graph API (src/dashboard); scrapes proxies only while someone looks.
    // The dashboard reads the store through the ConfigStore interface only, whichever store it is.
    const dashboard = (this.dashboard = new DashboardApi(this as unknown as ControlPlane));
    // DNS rebinding and cross-site pages: /debug/* and /apis/* answer this machine's tools only.
    const guard = httpGuard(this.opts.address);
    this.http = createServer((req, res) => {
      if (guard(req, res)) return;
      if (tap(req, res)) return;
      if (debug(req, res)) return;
      if (describe(req, res)) return;
      if (api?.handle(req, res)) return;
      if (dashboard.handle(req, res)) return;
      if ((req.url ?? '').split('?')[0] === '/metrics') {
        this.metrics.render().then(
          (text) => res.writeHead(200, { 'content-type': PROMETHEUS_CONTENT_TYPE }).end(text),
          (err: unknown) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`metrics: ${String(err)}\n`),
        );
        return;
      }
      route(req, res, this);
    });
    await new Promise<void>((resolve, reject) => {
      this.http!.once('error', reject);
      this.http!.listen(this.opts.httpPort ?? 15014, address, () => resolve());
    });
    this.httpPort = (this.http.address() as { port: number }).port;
    if (this.opts.zipkinPort !== undefined) await this.startZipkin(address, this.opts.zipkinPort);
    // Config problems were logged by the store's logger as it read the directory (each once).
  }

  /** The embedded collector; a busy default port falls back to a free one, said once. */
  private async startZipkin(address: string, port: number): Promise<void> {
    const z = new ZipkinCollector();
    try {
      await z.listen(port, address);
    } catch (e) {
      if (!this.opts.zipkinFallback || (e as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw e;
      await z.listen(0, address);
      this.log(`zipkin collector: port ${port} is in use, listening on ${z.port} instead`);
    }
    this.zipkin = z;
  }

  async close(): Promise<void> {
    this.dashboard?.close();
    await this.zipkin?.close();
    for (const u of this.unsubscribe) u();
    this.autoRegistration.close();
    this.store.close();
    await this.ca?.close();
    await this.discovery.close();
    await new Promise<void>((r) => (this.http ? this.http.close(() => r()) : r()));
    this.http?.closeAllConnections();
  }
}

/** The control plane's own files (CA root, token key) when no --state-dir is given. */
export function defaultStateDir(): string {
  return join(homedir(), '.tsmesh', 'controlplane');
}

/** Debug output shows that a Secret exists and which keys it has, never the key material. */
function redactSecret(c: Config): Config {
  if (c.kind !== 'Secret') return c;
  const redact = (m: unknown) => (m && typeof m === 'object' ? Object.fromEntries(Object.keys(m).map((k) => [k, '<redacted>'])) : m);
  return { ...c, spec: { ...c.spec, ...(c.spec?.data ? { data: redact(c.spec.data) } : {}), ...(c.spec?.stringData ? { stringData: redact(c.spec.stringData) } : {}) } };
}

/** A config problem as logged: a warning (e.g. a field not enforced yet) rejected nothing. */
function configLine(l: string): string {
  return l.startsWith('warning: ') ? `config ${l}` : `config rejected: ${l}`;
}

function route(req: IncomingMessage, res: ServerResponse, cp: ControlPlane<any>): void {
  const path = (req.url ?? '/').split('?')[0];
  if (path === '/ready') {
    res.writeHead(200, { 'content-type': 'text/plain' }).end('ready\n');
  } else if (path === '/version') {
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ name: 'tsmesh', grpcPort: cp.grpcPort, secureGrpcPort: cp.secureGrpcPort }));
  } else if (path === '/' || path === '/debug') {
    res.writeHead(200, { 'content-type': 'text/html' }).end(
      `<h1>tsmesh control plane</h1><ul>${['/debug/syncz', '/debug/connections', '/debug/configz', '/debug/registryz', '/metrics', '/ready'].map((p) => `<li><a href="${p}">${p}</a></li>`).join('')}</ul>`,
    );
  } else {
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
  }
}
