/**
 * CSR authentication with Kubernetes service-account tokens (Istio's KubeJWTAuthenticator): the
 * token a pod presents is sent to the API server's TokenReview API with the audience the CA
 * requires ("istio-ca"); an authenticated `system:serviceaccount:<ns>:<sa>` user is that
 * workload's identity. Plugs into CaServerOptions.authenticate.
 */
import { AuthenticatorUnavailableError, TokenError } from '../../ca/errors.ts';
import { KubeApiError, type KubeClient } from '../client/client.ts';
import { isKubernetesName, type WorkloadIdentity } from '../../ca/spiffe.ts';
import { TOKEN_AUDIENCE } from '../../ca/token.ts';

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
      // The API server is the only judge: no answer is no identity, but not a bad token either.
      // UNAVAILABLE (the caller retries), naming what failed and what to do.
      throw new AuthenticatorUnavailableError(tokenReviewProblem(err));
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

/** Why POST tokenreviews failed, as a user can act on it. */
function tokenReviewProblem(err: unknown): string {
  const what = 'POST /apis/authentication.k8s.io/v1/tokenreviews';
  if (err instanceof KubeApiError) {
    if (err.statusCode === 401) return `${what}: 401: istiod's own credentials were refused by the API server (check its kubeconfig or service-account token)`;
    if (err.statusCode === 403) return `${what}: 403: istiod may not create tokenreviews; grant it (tsmesh install's ClusterRole has authentication.k8s.io tokenreviews create): ${err.message}`;
    return `${what}: ${err.statusCode}: ${err.message}`;
  }
  return `${what}: the Kubernetes API server did not answer: ${(err as Error)?.message ?? err}`;
}
