/**
 * The HTTP side of the tsmesh proxy: the http_connection_manager network filter, its codecs, the
 * HTTP filter registry and the filters this package brings (router, fault, cors, dynamic_forward_proxy). Importing this
 * module registers those filters.
 */
import './filters/builtin.ts';

export { httpConnectionManagerFactory, HCM_TYPE_URL } from './conn_manager/conn_manager.ts';
export { registerHttpFilter, httpFilterFactory, registeredHttpFilters } from './filters/registry.ts';
export { compileRouteConfig, type CompiledRouteConfig } from './router/route_config.ts';
export { ResponseFlag, formatResponseFlags } from './common/response_flags.ts';
export { seededRandom } from './common/random.ts';

import { registerNetworkFilter } from '../filters/network/registry.ts';
import { httpConnectionManagerFactory as hcmFactory, HCM_TYPE_URL as HCM_URL } from './conn_manager/conn_manager.ts';

// The core's listener manager finds the HCM by type URL in its network filter registry.
registerNetworkFilter(HCM_URL, hcmFactory);
