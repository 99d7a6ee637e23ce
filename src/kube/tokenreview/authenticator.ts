/**
 * CSR authentication with Kubernetes service-account tokens (Istio's KubeJWTAuthenticator): the
 * token a pod presents is sent to the API server's TokenReview API with the audience the CA
 * requires ("istio-ca"); an authenticated `system:serviceaccount:<ns>:<sa>` user is that
 * workload's identity. Plugs into CaServerOptions.authenticate.
 */
import { TokenError } from '../../ca/errors.ts';
import { isKubernetesName, type WorkloadIdentity } from '../../ca/spiffe.ts';
import { TOKEN_AUDIENCE } from '../../ca/token.ts';
import type { KubeClient } from '../client/client.ts';

const SA_USER = /^system:serviceaccount:([^:]+):([^:]+)$/;

export function tokenReviewAuthenticator(client: KubeClient, audiences: readonly string[] = [TOKEN_AUDIENCE]): (token: string) => Promise<WorkloadIdentity> {
  return async (token) => {
    let review: any;
    try {
      review = await client.request('POST', '/apis/authentication.k8s.io/v1/tokenreviews', {
        apiVersion: 'authentication.k8s.io/v1',
        kind: 'TokenReview',
        spec: { token, audiences: [...audiences] },
      });
    } catch (err) {
      // The API server is the only judge: no answer is no identity (the caller retries).
      throw new TokenError('bad-signature', `cannot check the token with the Kubernetes TokenReview API: ${(err as Error).message}`);
    }
    const status = review?.status ?? {};
    if (status.authenticated !== true) {
      const why = status.error ? `: ${status.error}` : '';
      throw new TokenError('bad-signature', `the service-account token was not accepted by Kubernetes for audience ${audiences.join(', ')}${why}; mount a projected token with audience ${audiences[0]}`);
    }
    // An empty audience list means the API server's own audience: not one the CA asked for.
    const granted: string[] = Array.isArray(status.audiences) ? status.audiences : [];
    if (!granted.some((a) => audiences.includes(a))) {
      throw new TokenError('wrong-audience', `the token's audiences (${granted.join(', ') || 'none'}) do not include ${audiences.join(', ')}`);
    }
    const m = SA_USER.exec(String(status.user?.username ?? ''));
    if (!m || !isKubernetesName(m[1]!) || !isKubernetesName(m[2]!)) {
      throw new TokenError('missing-claims', `the token belongs to ${JSON.stringify(status.user?.username ?? '')}, not a service account (system:serviceaccount:<namespace>:<name>)`);
    }
    return { namespace: m[1]!, serviceAccount: m[2]! };
  };
}
