/**
 * istiod's Kubernetes job, assembled: one set of informers shared by the config store, the
 * registry source and the status writer; the mesh config from the `istio` ConfigMap (`istio-<rev>`
 * for a revision; a bad edit keeps the last good one); Lease leader election gating status writes
 * and the istio-ca-root-cert ConfigMaps; TokenReview for the CA, whose root can live in the
 * istio-ca-secret Secret (caSecret). The control plane (src/controlplane) takes the pieces through
 * its generic options and never imports Kubernetes.
 *
 *   const kube = await KubernetesMode.connect({ kubeconfig });
 *   const cp = new ControlPlane({ ...kube.controlPlaneOptions(), grpcPort: 15010 });
 *   await cp.start(); kube.attach(cp);
 */
import { hostname } from 'node:os';
import { defaultMeshConfig } from '../api/mesh.ts';
import type { MeshConfig } from '../api/types.ts';
import type { CertificateAuthority } from '../ca/authority.ts';
import type { WorkloadIdentity } from '../ca/spiffe.ts';
import type { RegistrySource } from '../registry/source.ts';
import { KubeClient } from './client/client.ts';
import type { Informer } from './informers/informer.ts';
import { informerFor, ISTIO_RESOURCES, KUBE_RESOURCES } from './informers/resources.ts';
import { KubeConfigStore } from './config/store.ts';
import { KubeRegistrySource } from './registry/source.ts';
import { ANALYZE_LEADER_LEASE, LeaderElector } from './leader/lease.ts';
import { StatusWriter } from './status/writer.ts';
import { tokenReviewAuthenticator } from './tokenreview/authenticator.ts';
import { MeshConfigMapReader, meshConfigMapName } from './mesh_config.ts';
import { loadKubeCa } from './ca_secret.ts';
import { RootCertPublisher } from './root_cert_publisher.ts';

/** Istio's mesh config ConfigMap, in the control plane's namespace, key `mesh` (`istio-<rev>` for a revision). */
export const MESH_CONFIGMAP = 'istio';

export interface KubernetesModeOptions {
  /** kubeconfig file; default $KUBECONFIG, then ~/.kube/config. */
  kubeconfig?: string;
  /** The control plane's namespace (Istio's istio-system): the Lease and the mesh ConfigMap live here. */
  namespace?: string;
  /** This replica's name in the Lease; default $POD_NAME, else hostname-pid. */
  identity?: string;
  domain?: string;
  /** Istio's revision (istiod's --revision, env REVISION; "default" or unset: the default revision): the mesh ConfigMap is istio-<rev>. */
  revision?: string;
  /**
   * The CA root from the Secret istio-ca-secret (created by the first replica), or Istio's plug-in
   * `cacerts` Secret when present, so every replica and restart shares one root. Off: the
   * control plane loads its CA from its state dir or --cacerts as without Kubernetes.
   */
  caSecret?: boolean;
  /** How long to wait for the first lists before serving (ms; default 30 s). */
  syncTimeoutMs?: number;
  /** Lease timing (tests shorten it); Istio's defaults otherwise. */
  lease?: { durationSeconds?: number; renewDeadlineMs?: number; retryPeriodMs?: number };
  statusDebounceMs?: number;
  log?: (line: string) => void;
}

/** What ControlPlane needs from here (a subset of ControlPlaneOptions). */
export interface KubeControlPlaneOptions {
  store: KubeConfigStore;
  mesh: MeshConfig;
  registrySources: RegistrySource[];
  authenticate: (token: string) => Promise<WorkloadIdentity>;
  /** The CA from the cluster's Secret (with caSecret). */
  authority?: CertificateAuthority;
}

/** The part of ControlPlane this module drives: its mesh object and the push on mesh changes. */
export interface MeshHolder {
  readonly mesh: MeshConfig;
  meshChanged(): void;
  /** The CA it serves with, once started: its roots are published to every namespace. */
  readonly authority?: { rootsPem(): string };
}

export class KubernetesMode {
  readonly client: KubeClient;
  readonly store: KubeConfigStore;
  readonly registry: KubeRegistrySource;
  readonly leader: LeaderElector;
  readonly status: StatusWriter;
  readonly configMaps: Informer;
  /** Istio's namespace controller: istio-ca-root-cert in every namespace (leader only). */
  readonly rootCerts: RootCertPublisher;
  readonly namespace: string;
  /** '' for the default revision. */
  readonly revision: string;
  readonly mesh: MeshConfig;
  /** The CA loaded from the cluster's Secret (caSecret), after connect(). */
  ca: CertificateAuthority | undefined;
  readonly #log: (line: string) => void;
  readonly #meshReader: MeshConfigMapReader;
  readonly #caSecret: boolean;
  #meshSnapshot: MeshConfig | undefined;
  #holder: MeshHolder | undefined;

  private constructor(opts: KubernetesModeOptions) {
    this.#log = opts.log ?? ((l) => console.error(l));
    this.client = KubeClient.fromFile(opts.kubeconfig);
    this.namespace = opts.namespace ?? 'istio-system';
    const rev = opts.revision ?? process.env.REVISION ?? '';
    this.revision = rev === 'default' ? '' : rev;
    this.#meshReader = new MeshConfigMapReader(this.namespace, meshConfigMapName(this.revision));
    this.#caSecret = opts.caSecret ?? false;
    const log = this.#log;
    // One informer per kind, shared: the store, the registry and the analyzers read the same cache.
    const informers = new Map<string, Informer>();
    for (const t of [...ISTIO_RESOURCES, ...Object.values(KUBE_RESOURCES)]) if (t.kind !== 'ConfigMap') informers.set(t.kind, informerFor(this.client, t, { log }));
    this.configMaps = informerFor(this.client, { ...KUBE_RESOURCES.ConfigMap, path: `/api/v1/namespaces/${encodeURIComponent(this.namespace)}/configmaps` }, { log });
    this.store = new KubeConfigStore(this.client, { informers, logger: (l) => log(l.startsWith('warning: ') ? `config ${l}` : `config rejected: ${l}`), ...(opts.domain ? { domainSuffix: opts.domain } : {}) });
    this.registry = new KubeRegistrySource(this.client, { informers, log, ...(opts.domain ? { domain: opts.domain } : {}) });
    this.mesh = defaultMeshConfig();
    this.leader = new LeaderElector(this.client, {
      namespace: this.namespace,
      name: ANALYZE_LEADER_LEASE,
      identity: opts.identity ?? process.env.POD_NAME ?? `${hostname()}-${process.pid}`,
      ...(opts.lease?.durationSeconds ? { leaseDurationSeconds: opts.lease.durationSeconds } : {}),
      ...(opts.lease?.renewDeadlineMs ? { renewDeadlineMs: opts.lease.renewDeadlineMs } : {}),
      ...(opts.lease?.retryPeriodMs ? { retryPeriodMs: opts.lease.retryPeriodMs } : {}),
      log,
    });
    const ctx = ['Service', 'Pod', 'Namespace', 'ServiceAccount', 'Secret'].map((k) => informers.get(k)!);
    this.status = new StatusWriter(this.client, {
      istio: ISTIO_RESOURCES.map((type) => ({ type, informer: informers.get(type.kind)! })),
      context: [...ctx, this.configMaps],
      meshConfig: () => ({ ...this.mesh }),
      ...(opts.statusDebounceMs !== undefined ? { debounceMs: opts.statusDebounceMs } : {}),
      log,
    });
    this.rootCerts = new RootCertPublisher({ client: this.client, namespaces: informers.get('Namespace')!, rootCert: '', mesh: () => this.mesh, log });
    this.leader.onChange((leading) => {
      this.status.setEnabled(leading);
      this.rootCerts.setEnabled(leading);
    });
    this.configMaps.on(() => this.#readMesh());
  }

  /**
   * Connects and waits for the first lists (bounded): the control plane then starts with the
   * cluster's config, not an empty one it would push first.
   */
  static async connect(opts: KubernetesModeOptions = {}): Promise<KubernetesMode> {
    const k = new KubernetesMode(opts);
    // A wrong kubeconfig or an unreachable server: say so now, not as informer retries.
    try {
      await k.client.get('/version');
    } catch (err) {
      throw new Error(`cannot reach the Kubernetes API server ${k.client.server}: ${(err as Error).message}; check --kubeconfig / KUBECONFIG and that the server is up`);
    }
    k.configMaps.start();
    k.store.start();
    k.registry.start();
    const timeout = opts.syncTimeoutMs ?? 30_000;
    const missing = await k.store.waitForSync(timeout);
    if (missing.length > 0) k.#log(`kubernetes: no list yet of ${missing.join(', ')} after ${timeout} ms (CRDs not installed? run tsmesh install); serving without them until they appear`);
    await Promise.race([Promise.all([k.registry.waitForSync(), k.configMaps.waitForSync()]), new Promise((r) => setTimeout(r, timeout).unref())]);
    if (k.#caSecret) {
      try {
        // After the mesh ConfigMap: the CA checks CSRs against its trust domain.
        k.ca = (await loadKubeCa({ client: k.client, namespace: k.namespace, trustDomain: k.mesh.trustDomain, log: k.#log })).ca;
      } catch (e) {
        await k.close();
        throw e;
      }
    }
    return k;
  }

  /**
   * The mesh config as a new object after each change (the control plane's own is edited in
   * place): for consumers that cache by identity, such as the injection webhook's settings.
   */
  currentMesh(): MeshConfig {
    return (this.#meshSnapshot ??= structuredClone(this.mesh));
  }

  controlPlaneOptions(): KubeControlPlaneOptions {
    return { store: this.store, mesh: this.mesh, registrySources: [this.registry], authenticate: tokenReviewAuthenticator(this.client), ...(this.ca ? { authority: this.ca } : {}) };
  }

  /** After the control plane started: mesh config edits reach it, and this replica runs for leader. */
  attach(cp: MeshHolder): void {
    this.#holder = cp;
    const roots = this.ca?.rootsPem() ?? cp.authority?.rootsPem();
    if (roots) this.rootCerts.setRoot(roots);
    this.rootCerts.start();
    this.leader.start();
  }

  async close(): Promise<void> {
    await this.leader.stop();
    await this.status.close();
    this.rootCerts.close();
    this.configMaps.stop();
    this.registry.close();
    this.store.close();
  }

  /**
   * The `istio` ConfigMap's `mesh` key, applied in place to the one MeshConfig object the control
   * plane holds; an edit that does not parse or validate is logged and changes nothing.
   */
  #readMesh(): void {
    const r = this.#meshReader.read(this.configMaps.get(this.#meshReader.name, this.namespace));
    for (const e of r.errors) this.#log(e);
    if (!r.mesh) return;
    const target = this.mesh as unknown as Record<string, unknown>;
    for (const k of Object.keys(target)) if (!(k in r.mesh)) delete target[k];
    Object.assign(target, r.mesh);
    this.#meshSnapshot = undefined;
    this.#holder?.meshChanged();
    // discoverySelectors may now select more namespaces.
    this.rootCerts.resync();
  }
}
