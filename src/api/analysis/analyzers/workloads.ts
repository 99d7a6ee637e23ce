/** Analyzers of workloads and policy: DestinationRule, ServiceEntry, Service, Deployment, Pod, injection, Sidecar, Telemetry, EnvoyFilter, security. */
import type { Analyzer } from '../types.ts';
import { blockedCidrsAnalyzer } from './authz_jwks_blocked_cidrs.ts';
import { caCertificateAnalyzer } from './destinationrule_cacertificate.ts';
import { envoyPatchAnalyzer } from './envoyfilter_patch.ts';
import { externalControlPlaneAnalyzer } from './externalcontrolplane_webhooks.ts';
import { crdVersionAnalyzer } from './k8sgateway_crd_version.ts';
import { serviceEntryAddressesAnalyzer } from './serviceentry_addresses.ts';
import { conflictingServiceEntryProtocolAnalyzer } from './serviceentry_conflicting_protocol.ts';
import { telemetryDefaultSelectorAnalyzer } from './telemetry_default_selector.ts';
import { telemetryLightstepAnalyzer } from './telemetry_lightstep.ts';
import { telemetryProviderAnalyzer } from './telemetry_provider.ts';

/**
 * The workload analyzers istioctl runs on files (`--use-kube=false`), in its order. Istio's
 * analyzers that need a live cluster's Pods, Services or Namespaces (injection, port names,
 * subsets selecting pods, selectors) are skipped by istioctl on files, and so are not here.
 */
export const WORKLOAD_ANALYZERS: readonly Analyzer[] = [
  blockedCidrsAnalyzer,
  caCertificateAnalyzer,
  envoyPatchAnalyzer,
  externalControlPlaneAnalyzer,
  crdVersionAnalyzer,
  serviceEntryAddressesAnalyzer,
  conflictingServiceEntryProtocolAnalyzer,
  telemetryProviderAnalyzer,
  telemetryDefaultSelectorAnalyzer,
  telemetryLightstepAnalyzer,
];
