/**
 * Status write-back (istiod's analysis controller): the analyzers of `tsmesh analyze` run over
 * what the informers hold, and each Istio resource's status.validationMessages is patched to
 * what they found, only when it differs from what the resource already carries. Only the leader
 * writes (see ../leader); the others keep their caches warm and take over when it goes.
 *
 * Passes are debounced as pilot's pushes are: a quiet time after the last change, but never
 * longer than maxWaitMs after the first, so a cluster whose pods change status every few hundred
 * milliseconds still gets its status written. Context updates that only touch what the analyzers
 * never read (status, resourceVersion, managedFields: kubelet heartbeats) schedule nothing.
 */
import { analyze } from '../../api/analysis/run.ts';
import { toResource } from '../../api/analysis/load.ts';
import type { Resource } from '../../api/analysis/types.ts';
import { stableStringify } from '../../api/canonical.ts';
import type { KubeClient } from '../client/client.ts';
import type { Informer, InformerEvent, KubeObject } from '../informers/informer.ts';
import { objectPath, type ResourceType } from '../informers/resources.ts';
import { sortValidationMessages, validationMessage, type ValidationMessage } from './validation_messages.ts';

export interface StatusWriterOptions {
  /** Istio kinds whose status is written, with their informers. */
  istio: ReadonlyArray<{ type: ResourceType; informer: Informer }>;
  /** Other objects the analyzers read (Services, Pods, Namespaces, ConfigMaps ...). */
  context: readonly Informer[];
  /** Mesh config for the analyzers (rootNamespace etc.); else the `istio` ConfigMap they find. */
  meshConfig?: () => Record<string, any> | undefined;
  /** Quiet time after a change before analysing (ms; default 500). */
  debounceMs?: number;
  /** Longest wait after the first change of a burst, however busy (ms; default 5000). */
  maxWaitMs?: number;
  log?: (line: string) => void;
}

export class StatusWriter {
  readonly #client: KubeClient;
  readonly #o: StatusWriterOptions;
  readonly #unsubscribe: Array<() => void> = [];
  #enabled = false;
  #timer: NodeJS.Timeout | undefined;
  /** When the first change of the pending burst arrived (0: none pending). */
  #firstChange = 0;
  #running: Promise<void> | undefined;
  #again = false;
  /** Status patches sent, and analysis passes run (for tests and /debug). */
  writes = 0;
  passes = 0;

  constructor(client: KubeClient, opts: StatusWriterOptions) {
    this.#client = client;
    this.#o = opts;
    for (const { informer } of opts.istio) this.#unsubscribe.push(informer.on(() => this.#schedule()));
    for (const inf of opts.context) this.#unsubscribe.push(inf.on((events) => events.some(readByAnalyzers) && this.#schedule()));
  }

  /** Leader: write from now on (and analyse at once); not leader: write nothing. */
  setEnabled(enabled: boolean): void {
    this.#enabled = enabled;
    if (enabled) this.#schedule();
    else {
      clearTimeout(this.#timer);
      this.#firstChange = 0;
    }
  }

  async close(): Promise<void> {
    this.#enabled = false;
    clearTimeout(this.#timer);
    for (const u of this.#unsubscribe.splice(0)) u();
    await this.#running;
  }

  #schedule(): void {
    if (!this.#enabled) return;
    const now = Date.now();
    if (this.#firstChange === 0) this.#firstChange = now;
    const untilMax = this.#firstChange + (this.#o.maxWaitMs ?? 5000) - now;
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => this.#run(), Math.max(0, Math.min(this.#o.debounceMs ?? 500, untilMax)));
  }

  #run(): void {
    this.#firstChange = 0;
    if (this.#running) {
      this.#again = true;
      return;
    }
    this.#running = this.reconcile()
      .catch((err) => this.#o.log?.(`status: ${(err as Error).message}`))
      .finally(() => {
        this.#running = undefined;
        if (this.#again) {
          this.#again = false;
          this.#schedule();
        }
      });
  }

  /** One pass: analyse everything, patch the resources whose messages changed. */
  async reconcile(): Promise<void> {
    if (!this.#enabled) return;
    this.passes++;
    const resources: Resource[] = [];
    for (const inf of [...this.#o.istio.map((i) => i.informer), ...this.#o.context]) for (const o of inf.list()) resources.push(toResource(o, undefined, {}, () => undefined));
    const mesh = this.#o.meshConfig?.();
    const messages = analyze(resources, mesh ? { meshConfig: mesh } : {});
    const found = new Map<string, ValidationMessage[]>();
    for (const m of messages) {
      const r = m.resource;
      if (!r || !r.group.endsWith('istio.io')) continue;
      const k = `${r.kind}/${r.namespace}/${r.name}`;
      const list = found.get(k) ?? [];
      list.push(validationMessage(m));
      found.set(k, list);
    }
    for (const { type, informer } of this.#o.istio) {
      for (const o of informer.list()) {
        if (!this.#enabled) return;
        const want = sortValidationMessages(found.get(`${type.kind}/${o.metadata.namespace}/${o.metadata.name}`) ?? []);
        const have: unknown[] = Array.isArray(o.status?.validationMessages) ? o.status.validationMessages : [];
        if (stableStringify(have) === stableStringify(want)) continue;
        await this.#patch(type, o, want);
      }
    }
  }

  async #patch(type: ResourceType, o: KubeObject, messages: ValidationMessage[]): Promise<void> {
    const status: Record<string, unknown> = { validationMessages: messages.length > 0 ? messages : null };
    if (typeof o.metadata.generation === 'number') status.observedGeneration = o.metadata.generation;
    const path = `${objectPath(type, o.metadata.namespace ?? 'default', o.metadata.name)}/status`;
    try {
      await this.#client.request('PATCH', path, { status }, 'application/merge-patch+json');
      this.writes++;
    } catch (err) {
      // Deleted meanwhile, or a conflict: the informer's next event schedules another pass.
      this.#o.log?.(`status: ${type.kind} ${o.metadata.namespace}/${o.metadata.name}: ${(err as Error).message}`);
    }
  }
}

/** Whether a context event can change what the analyzers find: not a write of status alone. */
function readByAnalyzers(e: InformerEvent<KubeObject>): boolean {
  if (e.type !== 'update' || !e.old) return true;
  return analyzedPart(e.old) !== analyzedPart(e.object);
}

function analyzedPart(o: KubeObject): string {
  const { status: _status, metadata, ...rest } = o;
  const { resourceVersion: _rv, managedFields: _mf, ...meta } = metadata as KubeObject['metadata'] & { managedFields?: unknown };
  return stableStringify({ ...rest, metadata: meta });
}
