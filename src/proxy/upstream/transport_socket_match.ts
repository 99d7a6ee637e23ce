/**
 * Cluster.transport_socket_matches (what Istio's auto mTLS uses): the transport socket of each
 * upstream connection is chosen per endpoint. Entries are tried in order; an entry matches when
 * every key/value of its `match` equals the endpoint's metadata under
 * `envoy.transport_socket_match` (the endpoint's LbEndpoint metadata, else its locality's); the
 * first match wins, and an endpoint no entry matches uses the cluster's transport_socket.
 * An empty `match` matches every endpoint.
 */
import { isDeepStrictEqual } from 'node:util';
import type { EnvoyJson } from '../../xds/types.ts';
import type { UpstreamHost } from '../interfaces.ts';
import type { SecretManager } from '../config/secret_manager.ts';
import { tlsContextOf, upstreamTlsOptions, type TlsOptions } from '../tls/tls_context.ts';
import { localityMetadata } from './eds.ts';

const MATCH_KEY = 'envoy.transport_socket_match';

/** One candidate transport socket: plaintext when `tls` is undefined. */
export interface TransportSocketChoice {
  /** The entry's name, or "default" for the cluster's transport_socket. */
  name: string;
  tls: TlsOptions | undefined;
}

export interface TransportSockets {
  /** The cluster's own transport_socket (also what hosts no entry matches get). */
  readonly default: TransportSocketChoice;
  forHost(host: UpstreamHost): TransportSocketChoice;
}

export type TransportSocketsResult = { ok: true; sockets: TransportSockets } | { ok: false; notReady?: string; error?: string };

function choice(name: string, ts: EnvoyJson | undefined, secrets: SecretManager, path: string): TlsOptionsResult {
  const ctx = tlsContextOf(ts);
  if (!ctx) return { ok: true, choice: { name, tls: undefined } };
  const r = upstreamTlsOptions(ctx, secrets, path);
  return r.ok ? { ok: true, choice: { name, tls: r.options } } : r;
}
type TlsOptionsResult = { ok: true; choice: TransportSocketChoice } | { ok: false; notReady?: string; error?: string };

function matches(want: EnvoyJson | undefined, have: EnvoyJson | undefined): boolean {
  for (const [k, v] of Object.entries(want ?? {})) if (!have || !isDeepStrictEqual(have[k], v)) return false;
  return true;
}

/** Builds the cluster's transport sockets (resolving SDS secrets); not ready while a secret is missing. */
export function buildTransportSockets(config: EnvoyJson, secrets: SecretManager): TransportSocketsResult {
  const at = `cluster ${config.name}`;
  const d = choice('default', config.transport_socket, secrets, `${at}.transport_socket`);
  if (!d.ok) return d;
  const entries: { match: EnvoyJson | undefined; choice: TransportSocketChoice }[] = [];
  for (const [i, m] of ((config.transport_socket_matches ?? []) as EnvoyJson[]).entries()) {
    const c = choice(m.name ?? `transport_socket_matches[${i}]`, m.transport_socket, secrets, `${at}.transport_socket_matches[${i}].transport_socket`);
    if (!c.ok) return c;
    entries.push({ match: m.match, choice: c.choice });
  }
  const sockets: TransportSockets = {
    default: d.choice,
    forHost(host) {
      if (entries.length === 0) return d.choice;
      const md = (host.metadata?.[MATCH_KEY] as EnvoyJson | undefined) ?? (localityMetadata.get(host)?.[MATCH_KEY] as EnvoyJson | undefined);
      for (const e of entries) if (matches(e.match, md)) return e.choice;
      return d.choice;
    },
  };
  return { ok: true, sockets };
}

/** Every transport socket a cluster may use (for "does this cluster name that secret?"). */
export function transportSocketsOf(config: EnvoyJson): EnvoyJson[] {
  return [config.transport_socket, ...((config.transport_socket_matches ?? []) as EnvoyJson[]).map((m) => m.transport_socket)].filter(Boolean);
}
