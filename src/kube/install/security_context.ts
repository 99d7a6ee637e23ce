/**
 * The container securityContext of istiod and the ingress gateway: Pod Security's "restricted"
 * profile, as Istio's charts set it, running as Istio's proxy user 1337.
 */
export function restrictedSecurityContext(): Record<string, unknown> {
  return {
    allowPrivilegeEscalation: false,
    readOnlyRootFilesystem: true,
    runAsNonRoot: true,
    runAsUser: 1337,
    runAsGroup: 1337,
    capabilities: { drop: ['ALL'] },
  };
}
