/**
 * API server objects → tsmesh Configs. Only what a config means is kept: name, namespace,
 * labels, annotations, generation and spec. The server's bookkeeping (resourceVersion, uid,
 * managedFields, timestamps) and status are left out, so a status write or a re-list that
 * changes nothing but those yields the same content and no push.
 */
import type { Config, Kind, ObjectMeta } from '../../api/types.ts';
import { isClusterScoped } from '../../api/kinds.ts';
import type { KubeObject } from '../informers/informer.ts';

const SECRET_FIELDS = ['type', 'data', 'stringData'] as const;

export function configFromObject(o: KubeObject, kind: Kind): Config {
  const m = o.metadata;
  const metadata: ObjectMeta = { name: m.name, namespace: isClusterScoped(kind) ? '' : m.namespace || 'default' };
  if (m.labels && Object.keys(m.labels).length > 0) metadata.labels = m.labels;
  if (m.annotations && Object.keys(m.annotations).length > 0) metadata.annotations = withoutLastApplied(m.annotations);
  if (metadata.annotations && Object.keys(metadata.annotations).length === 0) delete metadata.annotations;
  if (typeof m.generation === 'number') metadata.generation = m.generation;
  const spec = kind === 'Secret' ? Object.fromEntries(SECRET_FIELDS.filter((k) => o[k] !== undefined).map((k) => [k, o[k]])) : o.spec ?? {};
  return { apiVersion: o.apiVersion ?? '', kind, metadata, spec, origin: { file: `${kind}/${metadata.namespace ? `${metadata.namespace}/` : ''}${m.name}` } };
}

/** kubectl apply's copy of the whole object: large, and not part of what it means. */
function withoutLastApplied(a: Record<string, string>): Record<string, string> {
  if (!('kubectl.kubernetes.io/last-applied-configuration' in a)) return a;
  const { 'kubectl.kubernetes.io/last-applied-configuration': _drop, ...rest } = a;
  return rest;
}
