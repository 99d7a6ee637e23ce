/**
 * Istio's resource annotations (istio.io "Resource Annotations" reference, istio/api
 * annotation/annotations.yaml at the api version tsmesh's istioctl oracle is built with): each
 * annotation's name, feature status, the resource kinds it belongs on ("Any" for every kind) and
 * whether it is deprecated. `annotations.K8sAnalyzer` reports any other `*istio.io/` annotation
 * as unknown (IST0108) and one on a kind not listed as misplaced (IST0107).
 */

export type FeatureStatus = 'Alpha' | 'Beta' | 'Stable';

export interface AnnotationInfo {
  name: string;
  featureStatus: FeatureStatus;
  /** Kinds it applies to (Pod, Service, Namespace, ...), or ['Any']. */
  resources: readonly string[];
  deprecated: boolean;
}

const A = (name: string, featureStatus: FeatureStatus, resources: readonly string[], deprecated = false): AnnotationInfo => ({ name, featureStatus, resources, deprecated });

export const ISTIO_ANNOTATIONS: readonly AnnotationInfo[] = [
  A('prometheus.istio.io/merge-metrics', 'Alpha', ['Pod']),
  A('alpha.istio.io/kubernetes-serviceaccounts', 'Alpha', ['Service'], true),
  A('alpha.istio.io/canonical-serviceaccounts', 'Alpha', ['Service'], true),
  A('networking.istio.io/exportTo', 'Alpha', ['Service']),
  A('sidecar.istio.io/inject', 'Beta', ['Pod'], true),
  A('sidecar.istio.io/status', 'Alpha', ['Pod']),
  A('sidecar.istio.io/rewriteAppHTTPProbers', 'Alpha', ['Pod']),
  A('sidecar.istio.io/discoveryAddress', 'Alpha', ['Pod'], true),
  A('sidecar.istio.io/proxyImage', 'Alpha', ['Pod']),
  A('sidecar.istio.io/proxyImageType', 'Alpha', ['Pod']),
  A('sidecar.istio.io/proxyCPU', 'Alpha', ['Pod']),
  A('sidecar.istio.io/proxyCPULimit', 'Alpha', ['Pod']),
  A('sidecar.istio.io/proxyMemory', 'Alpha', ['Pod']),
  A('sidecar.istio.io/proxyMemoryLimit', 'Alpha', ['Pod']),
  A('sidecar.istio.io/interceptionMode', 'Alpha', ['Pod']),
  A('sidecar.istio.io/bootstrapOverride', 'Alpha', ['Pod']),
  A('sidecar.istio.io/statsInclusionPrefixes', 'Alpha', ['Pod'], true),
  A('sidecar.istio.io/statsInclusionSuffixes', 'Alpha', ['Pod'], true),
  A('sidecar.istio.io/statsInclusionRegexps', 'Alpha', ['Pod'], true),
  A('sidecar.istio.io/statsHistogramBuckets', 'Alpha', ['Pod']),
  A('sidecar.istio.io/statsFlushInterval', 'Alpha', ['Pod']),
  A('sidecar.istio.io/statsEvictionInterval', 'Alpha', ['Pod']),
  A('sidecar.istio.io/statsHistogramBins', 'Alpha', ['Pod']),
  A('sidecar.istio.io/userVolume', 'Alpha', ['Pod']),
  A('sidecar.istio.io/userVolumeMount', 'Alpha', ['Pod']),
  A('status.sidecar.istio.io/port', 'Alpha', ['Pod']),
  A('sidecar.istio.io/logLevel', 'Alpha', ['Pod']),
  A('sidecar.istio.io/componentLogLevel', 'Alpha', ['Pod']),
  A('sidecar.istio.io/agentLogLevel', 'Alpha', ['Pod']),
  A('sidecar.istio.io/nativeSidecar', 'Alpha', ['Pod']),
  A('readiness.status.sidecar.istio.io/initialDelaySeconds', 'Alpha', ['Pod']),
  A('readiness.status.sidecar.istio.io/periodSeconds', 'Alpha', ['Pod']),
  A('readiness.status.sidecar.istio.io/failureThreshold', 'Alpha', ['Pod']),
  A('readiness.status.sidecar.istio.io/applicationPorts', 'Alpha', ['Pod']),
  A('traffic.istio.io/nodeSelector', 'Stable', ['Service']),
  A('traffic.sidecar.istio.io/includeOutboundIPRanges', 'Alpha', ['Pod']),
  A('traffic.sidecar.istio.io/excludeOutboundIPRanges', 'Alpha', ['Pod']),
  A('traffic.sidecar.istio.io/includeInboundPorts', 'Alpha', ['Pod']),
  A('traffic.sidecar.istio.io/excludeInboundPorts', 'Alpha', ['Pod']),
  A('traffic.sidecar.istio.io/excludeInterfaces', 'Alpha', ['Pod']),
  A('traffic.sidecar.istio.io/includeOutboundPorts', 'Alpha', ['Pod']),
  A('traffic.sidecar.istio.io/excludeOutboundPorts', 'Alpha', ['Pod']),
  A('traffic.sidecar.istio.io/kubevirtInterfaces', 'Alpha', ['Pod'], true),
  A('kubernetes.io/ingress.class', 'Stable', ['Ingress']),
  A('galley.istio.io/analyze-suppress', 'Alpha', ['Any']),
  A('proxy.istio.io/config', 'Beta', ['Pod']),
  A('istio.io/dry-run', 'Alpha', ['AuthorizationPolicy']),
  A('istio.io/rev', 'Alpha', ['Pod']),
  A('proxy.istio.io/overrides', 'Alpha', ['Pod']),
  A('inject.istio.io/templates', 'Alpha', ['Pod']),
  A('sidecar.istio.io/extraStatTags', 'Alpha', ['Pod'], true),
  A('istio.io/autoRegistrationGroup', 'Alpha', ['WorkloadEntry']),
  A('istio.io/workloadController', 'Alpha', ['WorkloadEntry']),
  A('istio.io/connectedAt', 'Alpha', ['WorkloadEntry']),
  A('istio.io/disconnectedAt', 'Alpha', ['WorkloadEntry']),
  A('topology.istio.io/controlPlaneClusters', 'Alpha', ['Namespace']),
  A('gateway.istio.io/controller-version', 'Alpha', ['Any']),
  A('ambient.istio.io/redirection', 'Beta', ['Pod']),
  A('ambient.istio.io/waypoint-inbound-binding', 'Alpha', ['GatewayClass', 'Gateway']),
  A('gateway.istio.io/service-account', 'Alpha', ['Gateway']),
  A('gateway.istio.io/name-override', 'Alpha', ['Gateway']),
  A('networking.istio.io/service-type', 'Alpha', ['Gateway']),
  A('networking.istio.io/traffic-distribution', 'Alpha', ['Namespace', 'Service', 'ServiceEntry']),
  A('istio.io/use-waypoint-canary-weight', 'Alpha', ['Service', 'ServiceEntry', 'Namespace']),
  A('ambient.istio.io/bypass-inbound-capture', 'Alpha', ['Pod']),
  A('istio.io/reroute-virtual-interfaces', 'Alpha', ['Pod']),
  A('ambient.istio.io/dns-capture', 'Alpha', ['Pod']),
  A('sidecar.istio.io/statsCompression', 'Alpha', ['Pod'], true),
];

export const ANNOTATIONS_BY_NAME: ReadonlyMap<string, AnnotationInfo> = new Map(ISTIO_ANNOTATIONS.map((a) => [a.name, a]));
