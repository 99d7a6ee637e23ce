/**
 * Applying and deleting the manifest through the API server (no kubectl needed): server-side
 * apply with field manager `tsmesh-install`, one line per object as kubectl prints it
 * (`created`, `configured`, `unchanged`, `deleted`), and a bounded wait for the CRDs to be
 * Established so Istio resources can be applied right after `tsmesh install` returns.
 */
import { ApiextensionsV1Api, KubeConfig, KubernetesObjectApi, PatchStrategy, type KubernetesObject } from '@kubernetes/client-node';
import { kubectlName } from './manifest.ts';
import type { KubeObject } from './types.ts';

export const FIELD_MANAGER = 'tsmesh-install';

export interface ApplyOptions {
  log(line: string): void;
  /** How long to wait for CRDs to be Established (ms). */
  crdTimeoutMs?: number;
}

/** Loads a kubeconfig as kubectl does: the file given, else $KUBECONFIG, ~/.kube/config, in-cluster. */
export function kubeConfig(file?: string): KubeConfig {
  const kc = new KubeConfig();
  if (file) kc.loadFromFile(file);
  else kc.loadFromDefault();
  if (!kc.getCurrentCluster()) throw new Error(`no cluster in ${file ?? process.env.KUBECONFIG ?? '~/.kube/config'}: pass --kubeconfig <file> or set KUBECONFIG`);
  return kc;
}

/** Applies every object in order; throws on the first failure, naming the object. */
export async function applyObjects(kc: KubeConfig, objects: readonly KubeObject[], opts: ApplyOptions): Promise<void> {
  const api = KubernetesObjectApi.makeApiClient(kc);
  for (const o of objects) {
    const name = kubectlName(o);
    const before = await readOrUndefined(api, o, name, kc);
    let after: KubernetesObject;
    try {
      after = await api.patch(o as KubernetesObject, undefined, undefined, FIELD_MANAGER, true, PatchStrategy.ServerSideApply);
    } catch (e) {
      throw apiError(e, `apply ${name}`, kc);
    }
    const verb = !before ? 'created' : before.metadata?.resourceVersion === after.metadata?.resourceVersion ? 'unchanged' : 'configured';
    opts.log(`${name} ${verb}`);
  }
  const crds = objects.filter((o) => o.kind === 'CustomResourceDefinition').map((o) => o.metadata.name);
  if (crds.length) await waitEstablished(kc, crds, opts.crdTimeoutMs ?? 30_000);
}

/** Deletes every object in reverse order; an object already gone is reported, not an error. */
export async function deleteObjects(kc: KubeConfig, objects: readonly KubeObject[], opts: ApplyOptions): Promise<void> {
  const api = KubernetesObjectApi.makeApiClient(kc);
  for (const o of [...objects].reverse()) {
    const name = kubectlName(o);
    const [what, id] = [name.slice(0, name.indexOf('/')), o.metadata.name];
    try {
      await api.delete(o as KubernetesObject, undefined, undefined, undefined, undefined, 'Background');
      opts.log(`${what} "${id}" deleted`);
    } catch (e) {
      if (statusOf(e) === 404) opts.log(`${what} "${id}" not found (already deleted)`);
      else throw apiError(e, `delete ${name}`, kc);
    }
  }
}

async function readOrUndefined(api: KubernetesObjectApi, o: KubeObject, name: string, kc: KubeConfig): Promise<KubernetesObject | undefined> {
  try {
    return await api.read({ apiVersion: o.apiVersion, kind: o.kind, metadata: { name: o.metadata.name, namespace: o.metadata.namespace } });
  } catch (e) {
    if (statusOf(e) === 404) return undefined;
    throw apiError(e, `read ${name}`, kc);
  }
}

async function waitEstablished(kc: KubeConfig, names: readonly string[], timeoutMs: number): Promise<void> {
  const api = kc.makeApiClient(ApiextensionsV1Api);
  const deadline = Date.now() + timeoutMs;
  const pending = new Set(names);
  while (pending.size > 0) {
    for (const name of [...pending]) {
      const crd = await api.readCustomResourceDefinition({ name }).catch((e) => {
        throw apiError(e, `read customresourcedefinition ${name}`, kc);
      });
      if (crd.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True')) pending.delete(name);
    }
    if (pending.size === 0) return;
    if (Date.now() > deadline) throw new Error(`CRDs not Established after ${Math.round(timeoutMs / 1000)}s: ${[...pending].join(', ')}; check the API server's log, then run tsmesh install again`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

function statusOf(e: unknown): number | undefined {
  const code = (e as { code?: unknown }).code;
  return typeof code === 'number' ? code : undefined;
}

/** An error a user can act on: the API server's own message, or where the server could not be reached. */
function apiError(e: unknown, what: string, kc: KubeConfig): Error {
  const code = statusOf(e);
  if (code !== undefined) {
    const body = (e as { body?: unknown }).body;
    let message: string | undefined;
    try {
      message = (typeof body === 'string' ? JSON.parse(body) : (body as { message?: string }))?.message;
    } catch {
      message = typeof body === 'string' ? body : undefined;
    }
    const hint = code === 401 || code === 403 ? ' (check the kubeconfig user: tsmesh install needs cluster-admin)' : '';
    return new Error(`${what}: ${code} ${message ?? (e as Error).message}${hint}`);
  }
  const server = kc.getCurrentCluster()?.server ?? '?';
  return new Error(`${what}: cannot reach the API server at ${server}: ${(e as Error).message}; check --kubeconfig / KUBECONFIG and that the cluster is up`);
}
