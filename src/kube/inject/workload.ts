/**
 * The workload a pod belongs to (Istio's deployment metadata: ISTIO_META_WORKLOAD_NAME and
 * ISTIO_META_OWNER), found the way Istio's injector does from the pod's controller: a
 * ReplicaSet named <deployment>-<pod-template-hash> is its Deployment, a Job named
 * <cronjob>-<schedule time> is its CronJob. kube-inject knows the workload outright.
 */
import type { ObjectMeta } from './objects.ts';

export interface WorkloadRef {
  apiVersion: string;
  kind: string;
  name: string;
}

const PLURALS: Record<string, string> = { Deployment: 'deployments', ReplicaSet: 'replicasets', StatefulSet: 'statefulsets', DaemonSet: 'daemonsets', Job: 'jobs', CronJob: 'cronjobs', Pod: 'pods', ReplicationController: 'replicationcontrollers' };
/** A CronJob's Jobs are named <cronjob>-<scheduled minute since the epoch>. */
const CRONJOB_JOB = /^(.+)-\d{8,10}$/;

export function workloadOfPod(meta: ObjectMeta): WorkloadRef {
  const ref = meta.ownerReferences?.find((r) => r.controller) ?? undefined;
  if (!ref) return { apiVersion: 'v1', kind: 'Pod', name: meta.name || trimGenerate(meta.generateName) || '' };
  const hash = meta.labels?.['pod-template-hash'];
  if (ref.kind === 'ReplicaSet' && hash && ref.name.endsWith(`-${hash}`)) return { apiVersion: 'apps/v1', kind: 'Deployment', name: ref.name.slice(0, -hash.length - 1) };
  const m = CRONJOB_JOB.exec(ref.name);
  if (ref.kind === 'Job' && m) return { apiVersion: 'batch/v1', kind: 'CronJob', name: m[1]! };
  return { apiVersion: ref.apiVersion, kind: ref.kind, name: ref.name };
}

/** ISTIO_META_OWNER: kubernetes://apis/<apiVersion>/namespaces/<ns>/<resource>/<name>. */
export function ownerUri(w: WorkloadRef, namespace: string): string {
  const resource = PLURALS[w.kind] ?? `${w.kind.toLowerCase()}s`;
  return `kubernetes://apis/${w.apiVersion}/namespaces/${namespace}/${resource}/${w.name}`;
}

function trimGenerate(g: string | undefined): string | undefined {
  return g?.replace(/-$/, '');
}
