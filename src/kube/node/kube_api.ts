/**
 * The node agent's calls to the API server, through @kubernetes/client-node: the typed clients
 * for what has a typed body (Binding, Lease, TokenRequest, delete), merge patches for status
 * (plain JSON in, as the kubelet sends), and list + watch (watch_loop.ts).
 */
import { CoordinationV1Api, CoreV1Api, KubeConfig, PatchStrategy, V1MicroTime, Watch, setHeaderOptions, type V1Lease } from '@kubernetes/client-node';

export interface NodeApi {
  readonly kc: KubeConfig;
  readonly core: CoreV1Api;
  readonly coordination: CoordinationV1Api;
  readonly watch: Watch;
}

export function nodeApi(kubeconfig: string): NodeApi {
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfig);
  return { kc, core: kc.makeApiClient(CoreV1Api), coordination: kc.makeApiClient(CoordinationV1Api), watch: new Watch(kc) };
}

/** The HTTP status of a failed call (client-node's ApiException), else undefined. */
export function apiStatus(err: unknown): number | undefined {
  const code = (err as { code?: unknown })?.code;
  return typeof code === 'number' ? code : undefined;
}

/** A short reason for a failed call: the API server's Status message when it sent one. */
export function apiMessage(err: unknown): string {
  const body = (err as { body?: unknown })?.body;
  if (typeof body === 'string') {
    try {
      const msg = (JSON.parse(body) as { message?: string }).message;
      if (msg) return msg;
    } catch {
      // not JSON: fall through
    }
  }
  return err instanceof Error ? err.message.split('\n')[0]! : String(err);
}

const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

export async function patchPodStatus(api: NodeApi, namespace: string, name: string, status: unknown): Promise<void> {
  await api.core.patchNamespacedPodStatus({ namespace, name, body: { status } }, mergePatch);
}

export async function patchNodeStatus(api: NodeApi, name: string, status: unknown): Promise<void> {
  await api.core.patchNodeStatus({ name, body: { status } }, mergePatch);
}

/** Binds a pod to a node (the scheduler's write: the Binding subresource). */
export async function bindPod(api: NodeApi, namespace: string, name: string, uid: string | undefined, node: string): Promise<void> {
  await api.core.createNamespacedBinding({
    namespace,
    body: { apiVersion: 'v1', kind: 'Binding', metadata: { name, namespace, ...(uid ? { uid } : {}) }, target: { apiVersion: 'v1', kind: 'Node', name: node } },
  });
}

/** Removes a pod whose processes are gone, as a kubelet finishes a graceful deletion. */
export async function finalizePodDeletion(api: NodeApi, namespace: string, name: string, uid: string | undefined): Promise<void> {
  try {
    await api.core.deleteNamespacedPod({ namespace, name, gracePeriodSeconds: 0, body: { gracePeriodSeconds: 0, ...(uid ? { preconditions: { uid } } : {}) } });
  } catch (err) {
    // Already gone, or a new pod took the name (uid precondition): nothing of ours to remove.
    if (apiStatus(err) !== 404 && apiStatus(err) !== 409) throw err;
  }
}

/** A service-account token bound to the pod (what the kubelet projects into istio-token). */
export async function requestPodToken(api: NodeApi, pod: { namespace: string; name: string; uid?: string; serviceAccount: string }, audience: string, seconds: number): Promise<string> {
  const r = await api.core.createNamespacedServiceAccountToken({
    namespace: pod.namespace,
    name: pod.serviceAccount,
    body: {
      apiVersion: 'authentication.k8s.io/v1',
      kind: 'TokenRequest',
      spec: { audiences: [audience], expirationSeconds: seconds, boundObjectRef: { apiVersion: 'v1', kind: 'Pod', name: pod.name, ...(pod.uid ? { uid: pod.uid } : {}) } },
    },
  });
  const token = r.status?.token;
  if (!token) throw new Error(`the API server returned no token for service account ${pod.namespace}/${pod.serviceAccount}`);
  return token;
}

/**
 * The mesh root the control plane publishes in every namespace (ConfigMap istio-ca-root-cert, key
 * root-cert.pem: the injected istiod-ca-cert volume). Waits for it, bounded, as a kubelet holds a
 * pod in ContainerCreating until its ConfigMap volume exists; throws saying what is missing.
 */
export async function readRootCert(api: NodeApi, namespace: string, waitMs = 60_000): Promise<string> {
  const deadline = Date.now() + waitMs;
  let why = '';
  for (;;) {
    try {
      const cm = await api.core.readNamespacedConfigMap({ namespace, name: ROOT_CERT_CONFIGMAP });
      const pem = cm.data?.[ROOT_CERT_KEY];
      if (pem && pem.includes('BEGIN CERTIFICATE')) return pem;
      why = `ConfigMap ${namespace}/${ROOT_CERT_CONFIGMAP} has no ${ROOT_CERT_KEY}`;
    } catch (err) {
      if (apiStatus(err) !== 404) throw err;
      why = `ConfigMap ${namespace}/${ROOT_CERT_CONFIGMAP} does not exist yet (the control plane publishes it in every namespace it selects)`;
    }
    if (Date.now() >= deadline) throw new Error(why);
    await new Promise((r) => setTimeout(r, 500));
  }
}

export const ROOT_CERT_CONFIGMAP = 'istio-ca-root-cert';
export const ROOT_CERT_KEY = 'root-cert.pem';

/** Creates or renews the node's Lease in kube-node-lease (the node heartbeat the controllers read). */
export async function renewNodeLease(api: NodeApi, node: string, durationSeconds: number, nodeUid?: string): Promise<void> {
  const namespace = 'kube-node-lease';
  const now = new V1MicroTime();
  let lease: V1Lease | undefined;
  try {
    lease = await api.coordination.readNamespacedLease({ namespace, name: node });
  } catch (err) {
    if (apiStatus(err) !== 404) throw err;
  }
  if (!lease) {
    await api.coordination.createNamespacedLease({
      namespace,
      body: {
        apiVersion: 'coordination.k8s.io/v1',
        kind: 'Lease',
        metadata: { name: node, namespace, ...(nodeUid ? { ownerReferences: [{ apiVersion: 'v1', kind: 'Node', name: node, uid: nodeUid }] } : {}) },
        spec: { holderIdentity: node, leaseDurationSeconds: durationSeconds, renewTime: now },
      },
    });
    return;
  }
  lease.spec = { ...lease.spec, holderIdentity: node, leaseDurationSeconds: durationSeconds, renewTime: now };
  await api.coordination.replaceNamespacedLease({ namespace, name: node, body: lease });
}
