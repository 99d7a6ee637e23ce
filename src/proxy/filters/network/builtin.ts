/**
 * Loads every network filter the proxy ships, statically: tcp_proxy and rbac here, and the HTTP side's
 * http_connection_manager, which registers itself from src/proxy/http/index.ts.
 */
import './tcp_proxy.ts';
import './rbac.ts';
import '../../istio/metadata_exchange_filter.ts';
import '../../istio/tcp_stats_filter.ts';
import '../../http/index.ts';

/** Kept for callers that awaited the former dynamic loading; the filters are registered at import. */
export function loadNetworkFilters(): Promise<void> {
  return Promise.resolve();
}
