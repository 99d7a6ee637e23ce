/**
 * The HTTP side of the tsmesh proxy: the http_connection_manager network filter, its codecs, the
 * HTTP filter registry and the filters this package brings (router, fault, cors,
 * dynamic_forward_proxy; statically listed in filters/builtin.ts). Importing this module registers
 * the connection manager as a network filter.
 */

export { httpConnectionManagerFactory } from './conn_manager/conn_manager.ts';
export { registerHttpFilter, httpFilterFactory, registeredHttpFilters } from './filters/registry.ts';
export { compileRouteConfig, type CompiledRouteConfig } from './router/route_config.ts';
export { ResponseFlag, formatResponseFlags } from './common/response_flags.ts';
export { seededRandom } from './common/random.ts';

import { registerNetworkFilter } from '../filters/network/registry.ts';
import { httpConnectionManagerFactory as hcmFactory } from './conn_manager/conn_manager.ts';
import { NETWORK_FILTER } from '../../xds/type_urls.ts';

// The core's listener manager finds the HCM by type URL in its network filter registry.
registerNetworkFilter(NETWORK_FILTER.HTTP_CONNECTION_MANAGER, hcmFactory);
