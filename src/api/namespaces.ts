/**
 * meshConfig.discoverySelectors: which namespaces the control plane looks at. A namespace is
 * selected when any selector matches its labels; with no selectors every namespace is.
 */
import type { Config, MeshConfig } from './types.ts';

type Selector = NonNullable<MeshConfig['discoverySelectors']>[number];

/** Kubernetes gives every namespace this label; namespaces without a Namespace object have only it. */
export const NAMESPACE_NAME_LABEL = 'kubernetes.io/metadata.name';

export function namespaceSelected(mesh: Pick<MeshConfig, 'discoverySelectors'>, namespace: string, labels: Record<string, string> = {}): boolean {
  const selectors = mesh.discoverySelectors;
  if (!selectors || selectors.length === 0) return true;
  const all = { ...labels, [NAMESPACE_NAME_LABEL]: namespace };
  return selectors.some((s) => selectorMatches(s, all));
}

/** Kubernetes LabelSelector semantics: all matchLabels and all matchExpressions must hold. */
export function selectorMatches(s: Selector, labels: Record<string, string>): boolean {
  for (const [k, v] of Object.entries(s.matchLabels ?? {})) if (labels[k] !== v) return false;
  for (const e of s.matchExpressions ?? []) {
    const has = Object.prototype.hasOwnProperty.call(labels, e.key);
    const values = e.values ?? [];
    switch (e.operator) {
      case 'In':
        if (!has || !values.includes(labels[e.key])) return false;
        break;
      case 'NotIn':
        if (has && values.includes(labels[e.key])) return false;
        break;
      case 'Exists':
        if (!has) return false;
        break;
      case 'DoesNotExist':
        if (has) return false;
        break;
      default:
        return false; // an unknown operator selects nothing (mesh validation reports it)
    }
  }
  return true;
}

/** A namespace filter over the Namespace objects in a config set (others get only the name label). */
export function namespaceFilter(mesh: Pick<MeshConfig, 'discoverySelectors'>, namespaces: readonly Config[]): (namespace: string) => boolean {
  const labels = new Map<string, Record<string, string>>();
  for (const n of namespaces) if (n.kind === 'Namespace') labels.set(n.metadata.name, n.metadata.labels ?? {});
  return (ns) => namespaceSelected(mesh, ns, labels.get(ns));
}
