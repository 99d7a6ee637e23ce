/**
 * Listeners for INTERCEPTION_MODE NONE (no iptables; what the tsmesh demo runs on loopback):
 * nothing is redirected, so there is no virtualOutbound 15001 / virtualInbound 15006 and no
 * original-destination hand-off. Instead every listener binds a real address:
 * - inbound: `<pod IP>_<target port>` per port the workload serves, with the same chains
 *   virtualInbound has for that port; the app itself listens on <app address>:<target port>;
 * - outbound HTTP: the HTTP proxy listener (HTTP_PROXY_PORT), see http_proxy.ts;
 * - outbound TCP/TLS: `<app address>_<port>` per service port, see outbound.ts.
 * If the pod IP equals the app address the inbound listeners would take the app's own sockets;
 * the two must differ (TSMESH_APP_ADDRESS exists for that).
 */
import type { EnvoyJson } from '../../xds/types.ts';
import type { Proxy, PushContext } from '../types.ts';
import { appAddress, podAddress } from '../interception.ts';
import { inboundPortsFor } from '../sidecar_ingress.ts';
import { socketAddress } from '../util.ts';
import { tlsInspector } from './filters.ts';
import { httpProxyListener } from './http_proxy.ts';
import { inboundFilterChains } from './inbound.ts';
import { buildOutboundListeners } from './outbound.ts';

/** Every NONE-mode listener for a sidecar, unsorted. */
export function buildBoundListeners(push: PushContext, proxy: Proxy): EnvoyJson[] {
  const ports = inboundPortsFor(push, proxy);
  const inbound = boundInboundListeners(push, proxy);

  const httpProxy = httpProxyListener(push, proxy);
  // The app's own ports (where inbound clusters deliver) and the HTTP proxy port are already
  // bound on the app address.
  const app = appAddress(proxy);
  const reserved = new Set(ports.filter((p) => p.endpoint.address === app).map((p) => p.endpoint.port));
  if (proxy.httpProxyPort !== undefined) reserved.add(proxy.httpProxyPort);
  const outbound = buildOutboundListeners(push, proxy, { address: appAddress(proxy), reserved });
  return [...inbound, ...outbound, ...(httpProxy ? [httpProxy] : [])];
}

/**
 * One listener bound to <bind or pod IP>:<port> per inbound port that is not captured: every port
 * in NONE mode, and Sidecar ingress listeners with captureMode NONE under iptables capture.
 */
export function boundInboundListeners(push: PushContext, proxy: Proxy): EnvoyJson[] {
  const podIp = podAddress(proxy);
  return inboundPortsFor(push, proxy)
    .filter((p) => p.bound)
    .map(({ target: t, bind }) => {
      const address = bind ?? podIp;
      return {
        name: `${address}_${t.targetPort}`,
        address: socketAddress(address, t.targetPort),
        bind_to_port: true,
        traffic_direction: 'INBOUND',
        // tls_inspector tells mTLS from plaintext, as on virtualInbound.
        listener_filters: [tlsInspector()],
        continue_on_listener_filters_timeout: true,
        filter_chains: inboundFilterChains(push, proxy, t, { matchPort: false, statAddress: address }),
      };
    });
}
