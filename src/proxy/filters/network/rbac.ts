/**
 * envoy.filters.network.rbac: decides once per connection, before any byte is forwarded, whether
 * the connection may go on down the filter chain (to tcp_proxy or the HTTP connection manager,
 * 'continue') or is closed. Envoy decides on the first byte (ONE_TIME_ON_FIRST_BYTE); deciding at
 * hand-off is stricter (a server-first protocol's greeting never reaches a denied client) and sees
 * the same facts. CONTINUOUS is treated the same: everything the proxy can match on a connection
 * (addresses, ports, SNI, the peer certificate) is fixed for its life; only connection-level
 * dynamic metadata could change, and no network filter here writes any.
 * Header and url_path rules see no request here, as in Envoy: headers are empty, url_path never
 * matches; metadata rules see empty metadata. Stats, as Envoy names them:
 * <stat_prefix>rbac.{allowed,denied,logged,not_logged}, <stat_prefix>rbac.<shadow_rules_stat_prefix>shadow_{allowed,denied}.
 */
import type { EnvoyJson } from '../../../xds/types.ts';
import type { NetworkFilterFactory } from '../../interfaces.ts';
import { NETWORK_FILTER } from '../../../xds/type_urls.ts';
import { compileRbac } from '../../rbac/engine.ts';
import { peerFromConnection, peerFromSocket, RbacRequest } from '../../rbac/request.ts';
import { log } from '../../logger.ts';
import { registerNetworkFilter } from './registry.ts';

const ENFORCEMENT = new Set(['ONE_TIME_ON_FIRST_BYTE', 'CONTINUOUS', 0, 1]);

/** Envoy's statPrefixJoin: a "." between prefix and token unless the prefix ends with one. */
function statPrefixJoin(prefix: string, token: string): string {
  if (prefix === '') return token;
  return prefix.endsWith('.') ? prefix + token : `${prefix}.${token}`;
}

export const networkRbacFactory: NetworkFilterFactory = {
  create(config: EnvoyJson, ctx) {
    const p = 'RBAC';
    if (!config.stat_prefix) throw new Error(`${p}.stat_prefix: required`);
    if (config.matcher !== undefined) throw new Error(`${p}.matcher: the RBAC matcher tree is not supported (use rules)`);
    if (config.shadow_matcher !== undefined) throw new Error(`${p}.shadow_matcher: the RBAC matcher tree is not supported (use shadow_rules)`);
    if (config.enforcement_type !== undefined && !ENFORCEMENT.has(config.enforcement_type)) throw new Error(`${p}.enforcement_type: unknown ${JSON.stringify(config.enforcement_type)}`);
    const engine = config.rules ? compileRbac(config.rules, `${p}.rules`) : undefined;
    const shadow = config.shadow_rules ? compileRbac(config.shadow_rules, `${p}.shadow_rules`) : undefined;
    const base = statPrefixJoin(String(config.stat_prefix), 'rbac.');
    const shadowBase = base + String(config.shadow_rules_stat_prefix ?? '');
    const allowed = ctx.stats.counter(`${base}allowed`);
    const denied = ctx.stats.counter(`${base}denied`);
    const logged = ctx.stats.counter(`${base}logged`);
    const notLogged = ctx.stats.counter(`${base}not_logged`);
    const shadowAllowed = ctx.stats.counter(`${shadowBase}shadow_allowed`);
    const shadowDenied = ctx.stats.counter(`${shadowBase}shadow_denied`);
    return (socket, info) => {
      if (!engine && !shadow) return 'continue';
      const req = new RbacRequest(info, undefined, undefined, peerFromSocket(socket) ?? peerFromConnection(info));
      if (shadow) (shadow.evaluate(req).allowed ? shadowAllowed : shadowDenied).inc();
      if (!engine) return 'continue';
      const r = engine.evaluate(req);
      if (engine.action === 'LOG') (r.policyId !== undefined ? logged : notLogged).inc();
      if (r.allowed) {
        allowed.inc();
        return 'continue';
      }
      denied.inc();
      log.debug(`rbac: connection from ${info.remoteAddress}:${info.remotePort} closed: rbac_access_denied_matched_policy[${r.policyId ?? 'none'}]`);
      socket.destroy();
    };
  },
};

registerNetworkFilter(NETWORK_FILTER.RBAC, networkRbacFactory);
