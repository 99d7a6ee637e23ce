/** The registry's public surface: the aggregate, its sources, and the conversions pilot may reuse. */
export * from './model.ts';
export { Registry, type RegistryOptions } from './registry.ts';
export type { RegistrySource, SourceItem } from './source.ts';
export { ConfigRegistrySource, type ConfigSourceOptions } from './configsource.ts';
export { AutoRegistration, type ProxyRegistration, type RegistrationHandle } from './autoregistration.ts';
export { buildSnapshot, endpointKey, compareEndpoints, type RegistrySnapshot, type Conflict } from './aggregate.ts';
export { IncrementalAggregate } from './incremental.ts';
export { diffSnapshots } from './diff.ts';
export { kubePortProtocol, parseProtocol, isHTTP, isTCP, isTLS, needsSniffing } from './protocol.ts';
export { convertKubeService, kubeHostname, KUBERNETES_REGISTRY } from './kubernetes.ts';
export { convertServiceEntry, serviceEntryEndpoints, SERVICE_ENTRY_REGISTRY, TLS_MODE_LABEL } from './serviceentry.ts';
export { convertWorkloadEntry, workloadGroupTemplate } from './workloadentry.ts';
export { deploymentInfo, deploymentTemplateLabels, listDeployments, type DeploymentInfo } from './deployments.ts';
export { NamespaceFilter, labelSelectorMatches, type LabelSelector } from './namespaces.ts';
export { selectorMatches } from './labels.ts';
export { parseLocality, formatLocality } from './locality.ts';
export { createVipAllocator, type VipAllocator } from './vip.ts';
