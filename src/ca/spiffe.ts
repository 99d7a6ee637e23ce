/**
 * SPIFFE identities as Istio spells them: spiffe://<trustDomain>/ns/<namespace>/sa/<serviceAccount>.
 * One place builds and parses them, so the CA, the agent and the proxy's SAN checks agree.
 */

/** A workload's identity: its Kubernetes namespace and service account. */
export interface WorkloadIdentity {
  namespace: string;
  serviceAccount: string;
}

// Kubernetes names (DNS-1123 subdomain): nothing that could add a path segment to the URI.
const NAME = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;

/** True when `name` is a valid Kubernetes namespace or service-account name. */
export function isKubernetesName(name: string): boolean {
  return NAME.test(name);
}

/** The SPIFFE ID of a workload identity. Throws for names that are not Kubernetes names. */
export function spiffeId(trustDomain: string, id: WorkloadIdentity): string {
  for (const [what, v] of [
    ['namespace', id.namespace],
    ['service account', id.serviceAccount],
  ] as const) {
    if (!isKubernetesName(v)) throw new Error(`invalid ${what} ${JSON.stringify(v)}: must be a Kubernetes name (lower-case letters, digits, '-', '.')`);
  }
  return `spiffe://${trustDomain}/ns/${id.namespace}/sa/${id.serviceAccount}`;
}

/** Parses an Istio SPIFFE ID; undefined when it is not of that shape. */
export function parseSpiffeId(uri: string): (WorkloadIdentity & { trustDomain: string }) | undefined {
  const m = /^spiffe:\/\/([^/]+)\/ns\/([^/]+)\/sa\/([^/]+)$/.exec(uri);
  if (!m || !isKubernetesName(m[2]!) || !isKubernetesName(m[3]!)) return undefined;
  return { trustDomain: m[1]!, namespace: m[2]!, serviceAccount: m[3]! };
}
