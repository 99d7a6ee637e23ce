/**
 * authn.BlockedCIDRsAnalyzer (IST0175): istiod fetches every RequestAuthentication's jwksUri
 * itself, so without BLOCKED_CIDRS_IN_JWKS_URIS on its discovery container a mesh author can make
 * istiod call internal addresses. Reported on each istiod Deployment (label app=istiod, any
 * namespace) none of whose containers sets it, once RequestAuthentications exist.
 */
import type { Analyzer, Resource } from '../types.ts';
import { arr, nsName, obj, sortStrings, str } from './wl_util.ts';

const ENV = 'BLOCKED_CIDRS_IN_JWKS_URIS';

function isIstiod(d: Resource): boolean {
  return d.labels.app === 'istiod';
}

function configured(d: Resource): boolean {
  const containers = arr(obj(obj(d.spec.template).spec).containers);
  return containers.some((c) => arr(obj(c).env).some((e) => str(obj(e).name) === ENV && (str(obj(e).value) !== '' || obj(e).valueFrom)));
}

export const blockedCidrsAnalyzer: Analyzer = {
  name: 'authn.BlockedCIDRsAnalyzer',
  description: 'Checks that BLOCKED_CIDRS_IN_JWKS_URIS is configured on istiod when RequestAuthentication resources exist',
  analyze(ctx) {
    const ras = ctx.list('security.istio.io/RequestAuthentication');
    if (ras.length === 0) return;
    // Sorted: istioctl lists them in Go map order, which changes from run to run.
    const names = sortStrings(ras.map(nsName)).join(', ');
    for (const d of ctx.list('apps/Deployment')) {
      if (isIstiod(d) && !configured(d)) ctx.report('JwksUriFetchUnrestricted', d, [ras.length, names]);
    }
  },
};
