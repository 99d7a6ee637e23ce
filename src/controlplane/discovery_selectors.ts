/**
 * meshConfig.discoverySelectors for config, not only for services: Istio ignores configuration in
 * namespaces the selectors leave out, except the root namespace (mesh-wide defaults live there)
 * and cluster-scoped objects (Namespace itself).
 */
import type { Config, MeshConfig } from '../api/types.ts';

export function selectedConfigs(configs: readonly Config[], mesh: Pick<MeshConfig, 'rootNamespace'>, selected: (namespace: string) => boolean): Config[] {
  return configs.filter((c) => c.kind === 'Namespace' || c.metadata.namespace === mesh.rootNamespace || selected(c.metadata.namespace));
}
