/**
 * Applying and deleting the manifest through the API server (no kubectl needed): server-side
 * apply with field manager `tsmesh-install`, one line per object as kubectl prints it
 * (`created`, `configured`, `unchanged`, `deleted`), and a bounded wait for the CRDs to be
 * Established so Istio resources can be applied right after `tsmesh install` returns.
 *
 * Requests go through src/kube/client (plain JSON): client-node's typed serializers drop the
 * `x-kubernetes-*` schema keys of a CRD, which would make its schema non-structural.
 */
import { KubeApiError, KubeClient, loadKubeConfig } from '../client/client.ts';
import { kubectlName } from './manifest.ts';
import type { KubeObject } from './types.ts';

export const FIELD_MANAGER = 'tsmesh-install';

export interface ApplyOptions {
  log(line: string): void;
  /** How long to wait for CRDs to be Established (ms). */
  crdTimeoutMs?: number;
}

/** The REST collection of each kind the manifest holds (its plural), so no discovery is needed. */
const PLURALS: Record<string, string> = {
  Namespace: 'namespaces',
  CustomResourceDefinition: 'customresourcedefinitions',
  ClusterRole: 'clusterroles',
  ClusterRoleBinding: 'clusterrolebindings',
  Role: 'roles',
  RoleBinding: 'rolebindings',
  ServiceAccount: 'serviceaccounts',
  ConfigMap: 'configmaps',
  Service: 'services',
  Deployment: 'deployments',
  MutatingWebhookConfiguration: 'mutatingwebhookconfigurations',
  ValidatingWebhookConfiguration: 'validatingwebhookconfigurations',
};

/** /api/v1/namespaces/istio-system/services/istiod and the like. */
export function objectPath(o: KubeObject): string {
  const plural = PLURALS[o.kind];
  if (!plural) throw new Error(`tsmesh install does not know the REST path of ${o.kind}`);
  const prefix = o.apiVersion === 'v1' ? '/api/v1' : `/apis/${o.apiVersion}`;
  const ns = o.metadata.namespace ? `/namespaces/${encodeURIComponent(o.metadata.namespace)}` : '';
  return `${prefix}${ns}/${plural}/${encodeURIComponent(o.metadata.name)}`;
}

/** A client for the kubeconfig given, else $KUBECONFIG, ~/.kube/config, or the in-cluster config. */
export function kubeClient(file?: string, context?: string): KubeClient {
  const kc = loadKubeConfig(file);
  if (context) {
    if (!kc.getContextObject(context)) throw new Error(`no context "${context}" in the kubeconfig; kubectl config get-contexts lists them`);
    kc.setCurrentContext(context);
  }
  return new KubeClient(kc);
}

/** Applies every object in order; throws on the first failure, naming the object. */
export async function applyObjects(client: KubeClient, objects: readonly KubeObject[], opts: ApplyOptions): Promise<void> {
  for (const o of objects) {
    const name = kubectlName(o);
    const path = objectPath(o);
    const before = await call(client, `read ${name}`, () => client.get(path)).catch((e) => {
      if (e instanceof KubeApiError && e.statusCode === 404) return undefined;
      throw e;
    });
    const after = await call(client, `apply ${name}`, () =>
      client.request('PATCH', `${path}?fieldManager=${FIELD_MANAGER}&force=true`, o, 'application/apply-patch+yaml'),
    );
    const verb = !before ? 'created' : before.metadata?.resourceVersion === after?.metadata?.resourceVersion ? 'unchanged' : 'configured';
    opts.log(`${name} ${verb}`);
  }
  const crds = objects.filter((o) => o.kind === 'CustomResourceDefinition');
  if (crds.length) await waitEstablished(client, crds, opts.crdTimeoutMs ?? 30_000);
}

/** Deletes every object in reverse order; an object already gone is reported, not an error. */
export async function deleteObjects(client: KubeClient, objects: readonly KubeObject[], opts: ApplyOptions): Promise<void> {
  for (const o of [...objects].reverse()) {
    const name = kubectlName(o);
    const what = name.slice(0, name.indexOf('/'));
    try {
      await call(client, `delete ${name}`, () => client.request('DELETE', `${objectPath(o)}?propagationPolicy=Background`));
      opts.log(`${what} "${o.metadata.name}" deleted`);
    } catch (e) {
      if (e instanceof KubeApiError && e.statusCode === 404) opts.log(`${what} "${o.metadata.name}" not found (already deleted)`);
      else throw e;
    }
  }
}

async function waitEstablished(client: KubeClient, crds: readonly KubeObject[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let pending = [...crds];
  for (;;) {
    const still: KubeObject[] = [];
    for (const crd of pending) {
      const got = await call(client, `read ${kubectlName(crd)}`, () => client.get(objectPath(crd)));
      if (!got?.status?.conditions?.some((c: { type: string; status: string }) => c.type === 'Established' && c.status === 'True')) still.push(crd);
    }
    pending = still;
    if (pending.length === 0) return;
    if (Date.now() > deadline) {
      throw new Error(`CRDs not Established after ${Math.round(timeoutMs / 1000)}s: ${pending.map((c) => c.metadata.name).join(', ')}; see kubectl describe crd <name>, then run tsmesh install again`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Runs one request; an error says which object and, when the server was not reached, what to check. */
async function call<T>(client: KubeClient, what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof KubeApiError) {
      const hint = e.statusCode === 401 || e.statusCode === 403 ? ' (tsmesh install needs a cluster-admin kubeconfig user)' : '';
      const err = new KubeApiError(e.statusCode, e.reason, `${what}: ${e.message}${hint}`);
      throw err;
    }
    throw new Error(`${what}: cannot reach the API server at ${client.server}: ${(e as Error).message}; check --kubeconfig / KUBECONFIG and that the cluster is up`);
  }
}
