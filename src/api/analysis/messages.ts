/**
 * Istio's analysis message catalog (pkg/config/analysis/msg/messages.yaml): name, code, level and
 * template of every message istioctl analyze can print. These are istioctl's user interface, so
 * they are kept verbatim; test/api/analysis/messages.test.ts checks them against Istio's file.
 */
import type { Level } from './types.ts';

export interface MessageType {
  name: string;
  code: string;
  level: Level;
  template: string;
}

const C = (name: string, code: string, level: Level, template: string): MessageType => ({ name, code, level, template });

export const MESSAGES: readonly MessageType[] = [
  C("InternalError", "IST0001", "Error", "Internal error: %v"),
  C("Deprecated", "IST0002", "Warning", "Deprecated: %s"),
  C("ReferencedResourceNotFound", "IST0101", "Error", "Referenced %s not found: %q"),
  C("NamespaceNotInjected", "IST0102", "Info", "The namespace is not enabled for Istio injection. Run 'kubectl label namespace %s istio-injection=enabled' to enable it, or 'kubectl label namespace %s istio-injection=disabled' to explicitly mark it as not needing injection."),
  C("PodMissingProxy", "IST0103", "Warning", "The pod %s is missing the Istio proxy. This can often be resolved by restarting or redeploying the workload."),
  C("SchemaValidationError", "IST0106", "Error", "Schema validation error: %v"),
  C("MisplacedAnnotation", "IST0107", "Warning", "Misplaced annotation: %s can only be applied to %s"),
  C("UnknownAnnotation", "IST0108", "Warning", "Unknown annotation: %s"),
  C("ConflictingMeshGatewayVirtualServiceHosts", "IST0109", "Error", "The VirtualServices %s associated with mesh gateway define the same host %s which can lead to undefined behavior. This can be fixed by merging the conflicting VirtualServices into a single resource."),
  C("ConflictingSidecarWorkloadSelectors", "IST0110", "Error", "The Sidecars %v in namespace %q select the same workload pod %q, which can lead to undefined behavior."),
  C("MultipleSidecarsWithoutWorkloadSelectors", "IST0111", "Error", "The Sidecars %v in namespace %q have no workload selector, which can lead to undefined behavior."),
  C("VirtualServiceDestinationPortSelectorRequired", "IST0112", "Error", "This VirtualService routes to a service %q that exposes multiple ports %v. Specifying a port in the destination is required to disambiguate."),
  C("DeploymentAssociatedToMultipleServices", "IST0116", "Warning", "This deployment %s is associated with multiple services using port %d but different protocols: %v"),
  C("PortNameIsNotUnderNamingConvention", "IST0118", "Info", "Port name %s (port: %d, targetPort: %s) doesn't follow the naming convention of Istio port."),
  C("NamespaceMultipleInjectionLabels", "IST0123", "Warning", "The namespace has more than one type of injection labels %v, which may lead to undefined behavior. Make sure only one injection label exists."),
  C("InvalidAnnotation", "IST0125", "Warning", "Invalid annotation %s: %s"),
  C("UnknownMeshNetworksServiceRegistry", "IST0126", "Error", "Unknown service registry %s in network %s"),
  C("NoMatchingWorkloadsFound", "IST0127", "Warning", "No matching workloads for this resource with the following labels: %s"),
  C("NoServerCertificateVerificationDestinationLevel", "IST0128", "Warning", "DestinationRule %s in namespace %s has TLS mode set to %s but no caCertificates are set to validate server identity for host: %s"),
  C("NoServerCertificateVerificationPortLevel", "IST0129", "Warning", "DestinationRule %s in namespace %s has TLS mode set to %s but no caCertificates are set to validate server identity for host: %s at port %s"),
  C("VirtualServiceUnreachableRule", "IST0130", "Warning", "VirtualService rule %v not used (%s)."),
  C("VirtualServiceIneffectiveMatch", "IST0131", "Info", "VirtualService rule %v match %v is not used (duplicate/overlapping match in rule %v)."),
  C("VirtualServiceHostNotFoundInGateway", "IST0132", "Warning", "one or more host %v defined in VirtualService %s not found in Gateway %s."),
  C("SchemaWarning", "IST0133", "Warning", "Schema validation warning: %v"),
  C("ServiceEntryAddressesRequired", "IST0134", "Warning", "ServiceEntry addresses are required for this protocol."),
  C("DeprecatedAnnotation", "IST0135", "Info", "Annotation %q has been deprecated%s and may not work in future Istio versions."),
  C("AlphaAnnotation", "IST0136", "Info", "Annotation %q is part of an alpha-phase feature and may be incompletely supported."),
  C("DeploymentConflictingPorts", "IST0137", "Warning", "This deployment %s is associated with multiple services %v using targetPort %q but different ports: %v."),
  C("GatewayDuplicateCertificate", "IST0138", "Warning", "Duplicate certificate in multiple gateways %v may cause 404s if clients re-use HTTP2 connections."),
  C("InvalidWebhook", "IST0139", "Error", "%v"),
  C("IngressRouteRulesNotAffected", "IST0140", "Warning", "Subset in virtual service %s has no effect on ingress gateway %s requests"),
  C("InsufficientPermissions", "IST0141", "Error", "Missing required permission to create resource %v (%v)"),
  C("UnsupportedKubernetesVersion", "IST0142", "Error", "The Kubernetes Version %q is lower than the minimum version: %v"),
  C("LocalhostListener", "IST0143", "Error", "Port %v is exposed in a Service but listens on localhost. It will not be exposed to other pods."),
  C("InvalidApplicationUID", "IST0144", "Warning", "User ID (UID) 1337 is reserved for the sidecar proxy."),
  C("ConflictingGateways", "IST0145", "Error", "Conflict with gateways %s (workload selector %s, port %s, hosts %v)."),
  C("ImageAutoWithoutInjectionWarning", "IST0146", "Warning", "%s %s contains `image: auto` but does not match any Istio injection webhook selectors."),
  C("ImageAutoWithoutInjectionError", "IST0147", "Error", "%s %s contains `image: auto` but does not match any Istio injection webhook selectors."),
  C("NamespaceInjectionEnabledByDefault", "IST0148", "Info", "is enabled for Istio injection, as Istio is installed with enableNamespacesByDefault as true."),
  C("JwtClaimBasedRoutingWithoutRequestAuthN", "IST0149", "Error", "The virtual service uses the JWT claim based routing (key: %s) but found no request authentication for the gateway (%s) pod (%s). The request authentication must first be applied for the gateway pods to validate the JWT token and make the claims available for routing."),
  C("ExternalNameServiceTypeInvalidPortName", "IST0150", "Warning", "Port name for ExternalName service is invalid. Proxy may prevent tcp named ports and unmatched traffic for ports serving TCP protocol from being forwarded correctly"),
  C("EnvoyFilterUsesRelativeOperation", "IST0151", "Warning", "This EnvoyFilter does not have a priority and has a relative patch operation set which can cause the EnvoyFilter not to be applied. Using the INSERT_FIRST of ADD option or setting the priority may help in ensuring the EnvoyFilter is applied correctly."),
  C("EnvoyFilterUsesReplaceOperationIncorrectly", "IST0152", "Error", "The REPLACE operation is only valid for HTTP_FILTER and NETWORK_FILTER."),
  C("EnvoyFilterUsesAddOperationIncorrectly", "IST0153", "Error", "The ADD operation will be ignored when applyTo is set to ROUTE_CONFIGURATION, or HTTP_ROUTE."),
  C("EnvoyFilterUsesRemoveOperationIncorrectly", "IST0154", "Error", "The REMOVE operation will be ignored when applyTo is set to ROUTE_CONFIGURATION, or HTTP_ROUTE."),
  C("EnvoyFilterUsesRelativeOperationWithProxyVersion", "IST0155", "Warning", "This EnvoyFilter does not have a priority and has a relative patch operation (NSTERT_BEFORE/AFTER, REPLACE, MERGE, DELETE) and proxyVersion set which can cause the EnvoyFilter not to be applied during an upgrade. Using the INSERT_FIRST or ADD option or setting the priority may help in ensuring the EnvoyFilter is applied correctly."),
  C("UnsupportedGatewayAPIVersion", "IST0156", "Error", "The Gateway API CRD version %v is lower than the minimum version: %v"),
  C("FutureUnsupportedGatewayAPIVersion", "IST0172", "Warning", "The Gateway API CRD version %v is lower than the minimum version: %v"),
  C("InvalidTelemetryProvider", "IST0157", "Warning", "The Telemetry %v in namespace %q with empty providers will be ignored."),
  C("PodsIstioProxyImageMismatchInNamespace", "IST0158", "Warning", "The Istio proxy images of the pods running in the namespace do not match the image defined in the injection configuration (pod names: %v). This often happens after upgrading the Istio control-plane and can be fixed by redeploying the pods."),
  C("ConflictingTelemetryWorkloadSelectors", "IST0159", "Error", "The Telemetries %v in namespace %q select the same workload pod %q, which can lead to undefined behavior."),
  C("MultipleTelemetriesWithoutWorkloadSelectors", "IST0160", "Error", "The Telemetries %v in namespace %q have no workload selector, which can lead to undefined behavior."),
  C("InvalidGatewayCredential", "IST0161", "Error", "The credential referenced by the Gateway %s in namespace %s is invalid, which can cause the traffic not to work as expected."),
  C("GatewayPortNotDefinedOnService", "IST0162", "Warning", "The gateway is listening on a target port (port %d) that is not defined in the Service associated with its workload instances (Pod selector %s). If you need to access the gateway port through the gateway Service, it will not be available."),
  C("InvalidExternalControlPlaneConfig", "IST0163", "Warning", "The hostname (%s) that was provided for the webhook (%s) to reach the ingress gateway on the external control plane cluster %s. Traffic may not flow properly."),
  C("ExternalControlPlaneAddressIsNotAHostname", "IST0164", "Info", "The address (%s) that was provided for the webhook (%s) to reach the ingress gateway on the external control plane cluster is an IP address. This is not recommended for a production environment."),
  C("ReferencedInternalGateway", "IST0165", "Warning", "Gateway reference in VirtualService %s is to an implementation-generated internal Gateway: %s."),
  C("IneffectiveSelector", "IST0166", "Warning", "Ineffective selector on Kubernetes Gateway %s. Use the TargetRef field instead."),
  C("IneffectivePolicy", "IST0167", "Warning", "The policy has no impact: %s."),
  C("UnknownUpgradeCompatibility", "IST0168", "Warning", "The configuration %q changed in release %s, but compatibility cannot be automatically detected: %s. Or, install with `--set compatibilityVersion=%s` to retain the old default."),
  C("UpdateIncompatibility", "IST0169", "Warning", "The configuration %q changed in release %s: %s. Or, install with `--set compatibilityVersion=%s` to retain the old default."),
  C("MultiClusterInconsistentService", "IST0170", "Warning", "The service %v in namespace %q is inconsistent across clusters %q, which can lead to undefined behaviors. The inconsistent behaviors are: %v."),
  C("NegativeConditionStatus", "IST0171", "Warning", "A condition with a negative status is present: type=%s, reason=%s, message=%s."),
  C("DestinationRuleSubsetNotSelectPods", "IST0173", "Error", "The Subset %s defined in the DestinationRule does not select any pods. Which may lead to 503 UH (NoHealthyUpstream)."),
  C("UnknownDestinationRuleHost", "IST0174", "Warning", "The host %s defined in the DestinationRule does not match any services in the mesh."),
  C("JwksUriFetchUnrestricted", "IST0175", "Warning", "BLOCKED_CIDRS_IN_JWKS_URIS is not configured but %d RequestAuthentication resource(s) exist (%s). Consider configuring it to restrict JWKS URI fetches to trusted networks."),
  C("GatewayAPICRDVersionBelowMinimum", "IST0176", "Warning", "Gateway API CRD %q is at version %q but Istio requires at least %q; resources of this kind will not be processed. Upgrade the Gateway API CRDs to satisfy the minimum version."),
  C("ConflictingServiceEntryProtocol", "IST0177", "Warning", "Multiple ServiceEntries (%s) define the same host %q and port %d with conflicting protocols (%s)."),
];

export const MESSAGES_BY_NAME: ReadonlyMap<string, MessageType> = new Map(MESSAGES.map((m) => [m.name, m]));
export const MESSAGES_BY_CODE: ReadonlyMap<string, MessageType> = new Map(MESSAGES.map((m) => [m.code, m]));
