/**
 * istioctl kube-inject's walk over manifests: every workload's pod template (Pod, Deployment,
 * ReplicaSet, ReplicationController, StatefulSet, DaemonSet, Job, CronJob, DeploymentConfig) is
 * injected; anything else passes unchanged.
 */
import { injectPod, type InjectResult } from './inject.ts';
import type { Pod, PodTemplate } from './objects.ts';
import type { InjectionSettings } from './settings.ts';

export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata?: { name?: string; namespace?: string; [k: string]: unknown };
  spec?: Record<string, any>;
  [k: string]: unknown;
}

/** Where a kind keeps its pod template. */
function templateOf(o: KubeObject): PodTemplate | undefined {
  switch (o.kind) {
    case 'Deployment':
    case 'ReplicaSet':
    case 'ReplicationController':
    case 'StatefulSet':
    case 'DaemonSet':
    case 'Job':
    case 'DeploymentConfig':
      return o.spec?.template;
    case 'CronJob':
      return o.spec?.jobTemplate?.spec?.template;
    default:
      return undefined;
  }
}

export type WorkloadInjectResult = { ok: true; object: KubeObject; injected: boolean; reason?: string; warnings?: string[] } | { ok: false; error: string };

/** Injects one object (a copy); kinds without a pod template come back as they were. */
export function injectWorkload(o: KubeObject, settings: InjectionSettings, defaultNamespace = 'default'): WorkloadInjectResult {
  const namespace = o.metadata?.namespace ?? defaultNamespace;
  const name = o.metadata?.name ?? '';
  if (o.kind === 'Pod') {
    const r = injectPod({ pod: o as unknown as Pod, namespace, settings });
    return wrap(r, (p) => p as unknown as KubeObject);
  }
  const tpl = templateOf(o);
  if (!tpl?.spec) return { ok: true, object: o, injected: false };
  const pod: Pod = { metadata: tpl.metadata ?? {}, spec: tpl.spec };
  const group = (o.apiVersion ?? '').includes('/') ? o.apiVersion! : o.apiVersion ?? 'v1';
  const r = injectPod({ pod, namespace, settings, workload: { apiVersion: group, kind: o.kind!, name } });
  return wrap(r, (p) => {
    const copy = structuredClone(o);
    const t = templateOf(copy)!;
    t.metadata = p.metadata;
    t.spec = p.spec;
    return copy;
  });
}

function wrap(r: InjectResult, put: (p: Pod) => KubeObject): WorkloadInjectResult {
  if (!r.ok) return r;
  if (!r.injected) return { ok: true, object: put(r.pod), injected: false, reason: r.reason };
  return { ok: true, object: put(r.pod), injected: true, ...(r.warnings.length ? { warnings: r.warnings } : {}) };
}
