/**
 * A ConfigStore backed by the API server (istiod's CRD client + the Kubernetes objects pilot
 * reads): informers on every Istio kind tsmesh supports and on Namespaces, ServiceAccounts and
 * Secrets. Each object is validated as `tsmesh validate` does; an invalid one is not served (an
 * invalid update keeps the last good version serving) and is reported through errors().
 *
 * Services are not in this store: the Kubernetes registry source (../registry) reads them with
 * their EndpointSlices, so they are not counted twice.
 */
import { StoreBase, type Logger } from '../../api/store.ts';
import { configKey, isError, type Config, type Kind, type ValidationError } from '../../api/types.ts';
import { validateConfig } from '../../api/validation/index.ts';
import { CrossValidationCache } from '../../api/validation/cross.ts';
import type { KubeClient } from '../client/client.ts';
import type { Informer, InformerEvent, KubeObject } from '../informers/informer.ts';
import { informerFor, ISTIO_RESOURCES, KUBE_RESOURCES, type ResourceType } from '../informers/resources.ts';
import { configFromObject } from './convert.ts';

/** The Kubernetes kinds that go into the store (what pilot and the analyzers read besides Istio's). */
const STORE_KUBE: ResourceType[] = [KUBE_RESOURCES.Namespace, KUBE_RESOURCES.ServiceAccount, KUBE_RESOURCES.Secret];

export interface KubeConfigStoreOptions {
  logger?: Logger;
  domainSuffix?: string;
  /** Informers to reuse (shared with the registry and status writer), by kind. */
  informers?: Map<string, Informer>;
}

export class KubeConfigStore extends StoreBase {
  readonly informers = new Map<string, Informer>();
  readonly #unsubscribe: Array<() => void> = [];
  /** Per object key, the problems of its latest version (errors make it unserved). */
  readonly #problems = new Map<string, ValidationError[]>();
  readonly #cross: CrossValidationCache;

  constructor(client: KubeClient, opts: KubeConfigStoreOptions = {}) {
    super(opts.logger ?? (() => {}));
    this.#cross = new CrossValidationCache({ domainSuffix: opts.domainSuffix });
    for (const type of [...ISTIO_RESOURCES, ...STORE_KUBE]) {
      const inf = opts.informers?.get(type.kind) ?? informerFor(client, type, { log: this.log });
      this.informers.set(type.kind, inf);
      this.#unsubscribe.push(inf.on((events) => this.#apply(type.kind as Kind, events)));
    }
  }

  start(): void {
    for (const inf of this.informers.values()) inf.start();
  }

  /**
   * Resolves when every informer has listed once, or after `timeoutMs` (a kind whose CRD is not
   * installed never lists: the store serves the rest and picks it up when it appears).
   */
  async waitForSync(timeoutMs = 10_000): Promise<string[]> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((r) => (timer = setTimeout(r, timeoutMs)));
    await Promise.race([Promise.all([...this.informers.values()].map((i) => i.waitForSync())), timeout]);
    clearTimeout(timer);
    return [...this.informers.values()].filter((i) => !i.synced).map((i) => i.kind);
  }

  close(): void {
    for (const u of this.#unsubscribe.splice(0)) u();
    for (const inf of this.informers.values()) inf.stop();
  }

  #apply(kind: Kind, events: InformerEvent<KubeObject>[]): void {
    const changes = new Map<string, Config | undefined>();
    for (const e of events) {
      const config = configFromObject(e.object, kind);
      const key = configKey(config);
      if (e.type === 'delete') {
        this.#problems.delete(key);
        changes.set(key, undefined);
        continue;
      }
      const problems = validateConfig(config);
      if (problems.length > 0) this.#problems.set(key, problems.map((p) => ({ ...p, kind, namespace: config.metadata.namespace, name: config.metadata.name })));
      else this.#problems.delete(key);
      // Invalid: not served; an invalid update leaves the last good version serving.
      if (!problems.some(isError)) changes.set(key, config);
    }
    const applied = this.updateServed(changes);
    this.setErrors([...[...this.#problems.values()].flat(), ...this.#cross.update(this.all(), applied)]);
  }
}
