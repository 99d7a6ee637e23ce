/**
 * Puts a workload's authorization filters into filter chains that terminate its traffic: the
 * HTTP rbac filters just before the router of each http_connection_manager, the network rbac
 * filters in front of each tcp_proxy. One place for sidecar inbound chains and gateway listeners,
 * so a chain built later cannot miss them.
 */
import type { EnvoyJson } from '../../xds/types.ts';
import type { Proxy, PushContext } from '../types.ts';
import { HCM, TCP_PROXY } from '../listener/filters.ts';
import { authzHttpFilters, authzNetworkFilters } from './index.ts';
import { authnHttpFilter } from '../authn/index.ts';

const ROUTER = 'envoy.filters.http.router';

/**
 * Returns the chains with the filters added (new objects where changed; the input is not mutated).
 * RequestAuthentication's jwt_authn goes first, so rbac sees the request.auth.* it verified.
 */
export function withAuthorization(push: PushContext, proxy: Proxy, chains: EnvoyJson[]): EnvoyJson[] {
  const jwt = authnHttpFilter(push, proxy);
  const http = jwt ? [jwt, ...authzHttpFilters(push, proxy)] : authzHttpFilters(push, proxy);
  const tcp = authzNetworkFilters(push, proxy);
  if (http.length === 0 && tcp.length === 0) return chains;
  return chains.map((chain) => {
    const filters: EnvoyJson[] = [];
    for (const f of (chain.filters ?? []) as EnvoyJson[]) {
      if (f.name === TCP_PROXY) filters.push(...tcp, f);
      else if (f.name === HCM && http.length > 0) filters.push(withHttpFilters(f, http));
      else filters.push(f);
    }
    return { ...chain, filters };
  });
}

function withHttpFilters(hcm: EnvoyJson, rbac: EnvoyJson[]): EnvoyJson {
  const list = (hcm.typed_config.http_filters ?? []) as EnvoyJson[];
  const at = list.findIndex((f) => f.name === ROUTER);
  const http_filters = at < 0 ? [...list, ...rbac] : [...list.slice(0, at), ...rbac, ...list.slice(at)];
  return { ...hcm, typed_config: { ...hcm.typed_config, http_filters } };
}
