/**
 * Istio's namespace controller: the mesh's root certificate published as the ConfigMap
 * `istio-ca-root-cert` (key `root-cert.pem`) in every namespace, which injected pods mount at
 * /var/run/secrets/istio to verify the control plane and their peers. It is created when missing
 * (a new namespace, or someone deleted it), put back when edited, and rewritten in every namespace
 * when the root changes. As in Istio: Kubernetes' own namespaces and terminating ones are skipped,
 * namespaces meshConfig.discoverySelectors leaves out are left alone (their ConfigMap may belong
 * to another control plane), and only the leader writes.
 *
 *   const p = new RootCertPublisher({ client, namespaces, rootCert: ca.rootsPem(), mesh: () => mesh });
 *   p.start(); leader.onChange((l) => p.setEnabled(l));
 */
import { namespaceSelected } from '../api/namespaces.ts';
import type { MeshConfig } from '../api/types.ts';
import { KubeApiError, type KubeClient } from './client/client.ts';
import type { Informer, InformerEvent, KubeObject } from './informers/informer.ts';
import { informerFor, KUBE_RESOURCES } from './informers/resources.ts';

export const CA_ROOT_CONFIGMAP = 'istio-ca-root-cert';
export const CA_ROOT_KEY = 'root-cert.pem';
/** Istio's label on the ConfigMaps it owns. */
export const CA_ROOT_LABELS = { 'istio.io/config': 'true' } as const;
/** Kubernetes' system namespaces, which Istio neither injects nor publishes to. */
export const IGNORED_NAMESPACES: ReadonlySet<string> = new Set(['kube-system', 'kube-public', 'kube-node-lease', 'local-path-storage']);

export interface RootCertPublisherOptions {
  client: KubeClient;
  /** The shared Namespace informer (started by its owner). */
  namespaces: Informer;
  /** PEM bundle to publish: every trusted root, the current one first ('' until known: nothing is written). */
  rootCert: string;
  mesh: () => Pick<MeshConfig, 'discoverySelectors'>;
  /** Retry backoff after a failed write (ms; default 200 .. 30 000). */
  backoff?: { minMs?: number; maxMs?: number };
  log?: (line: string) => void;
}

export class RootCertPublisher {
  /** Every `istio-ca-root-cert` in the cluster (one name, field-selected server-side). */
  readonly configMaps: Informer;
  /** Creates and updates done, for tests and debugging. */
  writes = 0;
  readonly #o: RootCertPublisherOptions;
  readonly #log: (line: string) => void;
  readonly #pending = new Set<string>();
  readonly #unsubscribe: Array<() => void> = [];
  #root: string;
  #enabled = false;
  #closed = false;
  #draining = false;
  #timer: NodeJS.Timeout | undefined;
  #failures = 0;

  constructor(o: RootCertPublisherOptions) {
    this.#o = o;
    this.#log = o.log ?? (() => {});
    this.#root = o.rootCert;
    const log = this.#log;
    this.configMaps = informerFor(o.client, { ...KUBE_RESOURCES.ConfigMap, fieldSelector: `metadata.name=${CA_ROOT_CONFIGMAP}` }, { log });
    this.#unsubscribe.push(o.namespaces.on((events) => this.#enqueue(events, (obj) => obj.metadata.name)));
    this.#unsubscribe.push(this.configMaps.on((events) => this.#enqueue(events, (obj) => obj.metadata.namespace ?? '')));
  }

  get enabled(): boolean {
    return this.#enabled;
  }

  start(): void {
    this.configMaps.start();
  }

  /** Writes only while enabled (the leader); enabling reconciles every namespace. */
  setEnabled(enabled: boolean): void {
    if (enabled === this.#enabled) return;
    this.#enabled = enabled;
    if (enabled) this.resync();
  }

  /** A new root bundle (rotation): every namespace's ConfigMap is rewritten. */
  setRoot(rootCert: string): void {
    if (rootCert === this.#root) return;
    this.#root = rootCert;
    this.resync();
  }

  /** Reconciles every namespace (after a mesh config change: discovery selectors may select more). */
  resync(): void {
    for (const ns of this.#o.namespaces.list()) this.#pending.add(ns.metadata.name);
    this.#kick();
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
    for (const u of this.#unsubscribe.splice(0)) u();
    this.configMaps.stop();
  }

  #enqueue(events: InformerEvent<KubeObject>[], nsOf: (o: KubeObject) => string): void {
    for (const e of events) this.#pending.add(nsOf(e.object));
    this.#kick();
  }

  #kick(): void {
    if (this.#timer === undefined) void this.#drain();
  }

  async #drain(): Promise<void> {
    if (this.#draining || this.#closed || !this.#enabled) return;
    // Without both lists a missing ConfigMap is not known to be missing.
    if (!this.#o.namespaces.synced || !this.configMaps.synced) {
      await Promise.all([this.#o.namespaces.waitForSync(), this.configMaps.waitForSync()]);
      if (this.#closed || this.#draining || !this.#enabled) return;
    }
    this.#draining = true;
    let failed: string | undefined;
    try {
      while (this.#pending.size > 0 && this.#enabled && !this.#closed) {
        const ns = this.#pending.values().next().value as string;
        this.#pending.delete(ns);
        try {
          await this.#reconcile(ns);
        } catch (e) {
          this.#pending.add(ns);
          failed = `${ns}: ${(e as Error).message}`;
          break;
        }
      }
    } finally {
      this.#draining = false;
    }
    if (failed === undefined) {
      this.#failures = 0;
      return;
    }
    const min = this.#o.backoff?.minMs ?? 200;
    const delay = Math.min(min * 2 ** this.#failures++, this.#o.backoff?.maxMs ?? 30_000);
    this.#log(`namespace controller: ${CA_ROOT_CONFIGMAP} in ${failed}; retrying in ${delay} ms`);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.#drain();
    }, delay);
    this.#timer.unref();
  }

  async #reconcile(ns: string): Promise<void> {
    const namespace = this.#o.namespaces.get(ns);
    if (!this.#root || !namespace || namespace.status?.phase === 'Terminating' || IGNORED_NAMESPACES.has(ns)) return;
    if (!namespaceSelected(this.#o.mesh(), ns, namespace.metadata.labels)) return;
    const cm = this.configMaps.get(CA_ROOT_CONFIGMAP, ns);
    if (!cm) return this.#create(ns);
    if (cm.data?.[CA_ROOT_KEY] !== this.#root) await this.#update(cm);
  }

  async #create(ns: string): Promise<void> {
    const cm = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: CA_ROOT_CONFIGMAP, namespace: ns, labels: { ...CA_ROOT_LABELS } }, data: { [CA_ROOT_KEY]: this.#root } };
    try {
      await this.#o.client.request('POST', `/api/v1/namespaces/${encodeURIComponent(ns)}/configmaps`, cm);
      this.writes++;
    } catch (e) {
      // The cache was behind: it exists after all; compare with what the API server has.
      if (e instanceof KubeApiError && e.statusCode === 409) return this.#update(await this.#o.client.get(path(ns)));
      // The namespace is being deleted: nothing to publish.
      if (e instanceof KubeApiError && e.statusCode === 403 && /being terminated/.test(e.message)) return;
      throw e;
    }
  }

  /** Sets root-cert.pem, keeping other keys and labels (as Istio's InsertDataToConfigMap). */
  async #update(cm: KubeObject): Promise<void> {
    if (cm.data?.[CA_ROOT_KEY] === this.#root) return;
    const ns = cm.metadata.namespace!;
    const next = { ...cm, metadata: { ...cm.metadata, labels: { ...cm.metadata.labels, ...CA_ROOT_LABELS } }, data: { ...cm.data, [CA_ROOT_KEY]: this.#root } };
    try {
      // resourceVersion makes a concurrent change a 409, retried from the fresh object.
      await this.#o.client.request('PUT', path(ns), next);
      this.writes++;
    } catch (e) {
      if (e instanceof KubeApiError && e.statusCode === 409) return this.#update(await this.#o.client.get(path(ns)));
      if (e instanceof KubeApiError && e.statusCode === 404) return this.#create(ns);
      throw e;
    }
  }
}

function path(ns: string): string {
  return `/api/v1/namespaces/${encodeURIComponent(ns)}/configmaps/${CA_ROOT_CONFIGMAP}`;
}
