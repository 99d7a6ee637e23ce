/**
 * meshConfig.discoverySelectors: which namespaces the registry looks at (Istio's
 * DiscoveryNamespacesFilter). A namespace is discovered when it matches ANY selector; within one
 * selector, matchLabels AND every matchExpression must hold (Kubernetes LabelSelector). No
 * selectors, or an empty list, means every namespace.
 *
 * Every namespace carries the label `kubernetes.io/metadata.name: <name>` (Kubernetes sets it on
 * all namespaces), so a namespace that has no Namespace object still has that one label and can be
 * selected by name.
 */
import type { Labels } from './labels.ts';
import { NAMESPACE_NAME_LABEL, selectorMatches } from '../api/namespaces.ts';

export interface LabelSelectorRequirement {
  key: string;
  /** In | NotIn | Exists | DoesNotExist. Any other operator matches nothing. */
  operator: string;
  values?: string[];
}

export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: LabelSelectorRequirement[];
}

export { NAMESPACE_NAME_LABEL } from '../api/namespaces.ts';

/** Kubernetes LabelSelector semantics; one implementation for the whole control plane (src/api). */
export function labelSelectorMatches(sel: LabelSelector, labels: Labels): boolean {
  return selectorMatches(sel, labels);
}

/** The labels a namespace is matched with: its own plus the automatic name label. */
export function namespaceLabels(name: string, own?: Labels): Labels {
  return { ...(own ?? {}), [NAMESPACE_NAME_LABEL]: name };
}

/** Decides namespace membership for one set of discoverySelectors and known namespace labels. */
export class NamespaceFilter {
  constructor(
    private readonly selectors: LabelSelector[] | undefined,
    /** Labels of namespaces that have a Namespace object, by name. */
    private readonly known: ReadonlyMap<string, Labels> = new Map(),
  ) {}

  /** True when no selector narrows discovery. */
  get selectsAll(): boolean {
    return !this.selectors || this.selectors.length === 0;
  }

  selected(namespace: string): boolean {
    if (this.selectsAll) return true;
    const labels = namespaceLabels(namespace, this.known.get(namespace));
    return this.selectors!.some((s) => labelSelectorMatches(s, labels));
  }
}
