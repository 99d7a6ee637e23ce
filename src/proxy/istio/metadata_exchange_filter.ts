/**
 * istio.metadata_exchange, the network filter (config envoy.tcp.metadataexchange.config.MetadataExchange,
 * as a TypedStruct): on inbound mTLS chains, a client that negotiated ALPN istio-peer-exchange
 * exchanges node metadata with this proxy before its bytes reach tcp_proxy (tcp_session.ts does the
 * exchange; this filter only switches it on for the connection). enable_discovery (finding a peer
 * that did not exchange by its address) is refused: such a peer is known by its certificate's
 * principal and namespace only, as in Istio without discovery. A client that negotiated the exchange
 * and stalls before its whole frame is closed after 5 s, counted in
 * metadata_exchange.exchange_timeout.
 */
import type { NetworkFilterFactory } from '../interfaces.ts';
import { registerNetworkFilter } from '../filters/network/registry.ts';
import { ISTIO_FILTER } from '../../xds/type_urls.ts';
import { MX_ALPN } from './metadata_exchange.ts';
import { tcpSessionFor } from './tcp_session.ts';

const FIELDS = new Set(['@type', 'protocol', 'enable_discovery', 'additional_labels']);

export const metadataExchangeFactory: NetworkFilterFactory = {
  create(config, ctx) {
    for (const k of Object.keys(config)) if (!FIELDS.has(k)) throw new Error(`MetadataExchange.${k} is not supported`);
    if (config.protocol !== MX_ALPN) throw new Error(`MetadataExchange.protocol must be ${MX_ALPN}`);
    // Discovery finds a peer that did not exchange by its address, through Istio's workload
    // metadata discovery, which tsmesh does not serve: refused rather than accepted and ignored.
    if (config.enable_discovery === true) throw new Error('MetadataExchange.enable_discovery is not supported (a peer that does not exchange is known by its certificate only)');
    if (Array.isArray(config.additional_labels) && config.additional_labels.length) throw new Error('MetadataExchange.additional_labels is not supported');
    const timeouts = ctx.stats.counter('metadata_exchange.exchange_timeout');
    return (_socket, info) => {
      const session = tcpSessionFor(info);
      session.downstreamExchange = true;
      session.exchangeTimeouts = timeouts;
      return 'continue';
    };
  },
};

registerNetworkFilter(ISTIO_FILTER.METADATA_EXCHANGE, metadataExchangeFactory);
