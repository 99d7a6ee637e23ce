/**
 * Reading filter chains the pilot builds. Istio's telemetry filters sit on every listener
 * (src/pilot/listener/istio_telemetry_filters.ts), so tests find the terminal network filter by
 * its type, not its index, and read an HCM's own http_filters once Istio's are checked to be
 * where Istio puts them: envoy.filters.http.peer_metadata first and istio.stats just before the
 * router; on TCP, istio.metadata_exchange then istio.stats just before tcp_proxy.
 */
import assert from 'node:assert/strict';
import { ISTIO_STATS_FILTER, METADATA_EXCHANGE_FILTER, PEER_METADATA_FILTER } from '../../src/pilot/listener/istio_telemetry_filters.ts';
import { NETWORK_FILTER } from '../../src/xds/type_urls.ts';
import type { EnvoyJson } from '../../src/xds/types.ts';

const ROUTER = 'envoy.filters.http.router';
const TERMINAL = [NETWORK_FILTER.HTTP_CONNECTION_MANAGER, NETWORK_FILTER.TCP_PROXY] as const;

/** Whether istio.stats is expected (the default mesh config has the prometheus metrics provider). */
export interface IstioFilters {
  stats?: boolean;
}

function names(filters: EnvoyJson[]): string[] {
  return filters.map((f) => f.name);
}

/** Asserts `name` appears exactly `count` times in `filters`. */
function assertCount(filters: EnvoyJson[], name: string, count: number): void {
  assert.equal(filters.filter((f) => f.name === name).length, count, `${name} ×${count} in [${names(filters).join(', ')}]`);
}

/**
 * The chain's terminal network filter (tcp_proxy or http_connection_manager), found by type:
 * exactly one, the last filter, with Istio's TCP telemetry filters (if any) right before a
 * tcp_proxy. Returns the whole filter (name and typed_config).
 */
export function terminalFilter(chain: EnvoyJson, opts: IstioFilters = {}): EnvoyJson {
  const filters: EnvoyJson[] = chain.filters ?? [];
  const terminal = filters.filter((f) => (TERMINAL as readonly string[]).includes(f.typed_config?.['@type']));
  assert.equal(terminal.length, 1, `one terminal filter in [${names(filters).join(', ')}]`);
  const last = terminal[0]!;
  assert.equal(filters.at(-1), last, `the terminal filter ends [${names(filters).join(', ')}]`);
  if (last.typed_config['@type'] === NETWORK_FILTER.TCP_PROXY) {
    const stats = opts.stats ?? true;
    assertCount(filters, ISTIO_STATS_FILTER, stats ? 1 : 0);
    if (stats) assert.equal(filters.at(-2)?.name, ISTIO_STATS_FILTER, `istio.stats right before tcp_proxy in [${names(filters).join(', ')}]`);
    const mx = filters.findIndex((f) => f.name === METADATA_EXCHANGE_FILTER);
    if (mx >= 0) {
      assertCount(filters, METADATA_EXCHANGE_FILTER, 1);
      assert.equal(mx, filters.length - (stats ? 3 : 2), `istio.metadata_exchange right before the stats / tcp_proxy in [${names(filters).join(', ')}]`);
    }
  }
  return last;
}

function terminalOfType(chain: EnvoyJson, type: string, opts: IstioFilters): EnvoyJson {
  const f = terminalFilter(chain, opts);
  assert.equal(f.typed_config['@type'], type);
  return f.typed_config;
}

/** The typed_config of the chain's tcp_proxy (asserting it is the chain's terminal filter). */
export function tcpProxyOf(chain: EnvoyJson, opts: IstioFilters = {}): EnvoyJson {
  return terminalOfType(chain, NETWORK_FILTER.TCP_PROXY, opts);
}

/** The typed_config of the chain's http_connection_manager (asserting it is the chain's terminal filter). */
export function hcmOf(chain: EnvoyJson): EnvoyJson {
  return terminalOfType(chain, NETWORK_FILTER.HTTP_CONNECTION_MANAGER, {});
}

/**
 * An HCM's (typed_config) http_filters other than Istio's telemetry filters, in order, after
 * asserting Istio's are where Istio puts them: peer_metadata once and first, istio.stats once
 * and right before the router (or absent when `stats: false`), the router last.
 */
export function ownHttpFilters(hcm: EnvoyJson, opts: IstioFilters = {}): EnvoyJson[] {
  const filters: EnvoyJson[] = hcm.http_filters ?? [];
  const all = names(filters).join(', ');
  const stats = opts.stats ?? true;
  assertCount(filters, PEER_METADATA_FILTER, 1);
  assert.equal(filters[0]?.name, PEER_METADATA_FILTER, `peer_metadata first in [${all}]`);
  assertCount(filters, ISTIO_STATS_FILTER, stats ? 1 : 0);
  assert.equal(filters.at(-1)?.name, ROUTER, `the router last in [${all}]`);
  if (stats) assert.equal(filters.at(-2)?.name, ISTIO_STATS_FILTER, `istio.stats right before the router in [${all}]`);
  return filters.filter((f) => f.name !== PEER_METADATA_FILTER && f.name !== ISTIO_STATS_FILTER);
}

/** The names of ownHttpFilters. */
export function ownHttpFilterNames(hcm: EnvoyJson, opts: IstioFilters = {}): string[] {
  return names(ownHttpFilters(hcm, opts));
}
