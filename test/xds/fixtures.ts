
/**
 * Shared xDS test helpers: a tiny mutable "world" with its own Generator (Envoy JSON that
 * round-trips through the codec), a DiscoveryServer on 127.0.0.1:0 serving it, and raw gRPC
 * streams (no AdsClient) so server tests cannot be fooled by a client bug.
 */
import * as grpc from '@grpc/grpc-js';
import { unpackAny } from '../../src/xds/codec.ts';
import { newAdsServiceClient, type AdsServiceClient } from '../../src/xds/grpc.ts';
import type { DeltaDiscoveryRequest, DeltaDiscoveryResponse, DiscoveryRequest, DiscoveryResponse } from '../../src/xds/grpc.ts';
import { DiscoveryServer } from '../../src/xds/server/discovery_server.ts';
import { SILENT_LOGGER } from '../../src/xds/server/core.ts';
import { TYPE, type EnvoyJson, type NamedResource, type NodeJson } from '../../src/xds/types.ts';
import { parseProxy } from '../../src/pilot/proxy.ts';
import { proxyShapeKey } from '../../src/pilot/shape_key.ts';
import type { Generator, PushContext } from '../../src/pilot/types.ts';
/** The tests' one wait helper, for the files that import it from here. */
export { until } from '../helpers/poll.ts';

export const A = 'outbound|80||a.default.svc.cluster.local';
export const B = 'outbound|80||b.default.svc.cluster.local';
export const C = 'outbound|80||c.default.svc.cluster.local';
export const ROUTE = '80';
export const LISTENER = '0.0.0.0_80';

export const NODE: NodeJson = { id: 'sidecar~10.0.0.1~app-1.default~default.svc.cluster.local', metadata: { LABELS: { app: 'app' } } };
export const NODE2: NodeJson = { id: 'sidecar~10.0.0.2~app-2.default~default.svc.cluster.local', metadata: { LABELS: { app: 'app' } } };

/** What the test generator translates: clusters with their endpoint IPs, and a timeout knob. */
export interface World {
  clusters: Map<string, string[]>;
  connectTimeout: string;
  routeTimeout: string;
}

export function newWorld(): World {
  return { clusters: new Map([[A, ['10.1.0.1']], [B, ['10.2.0.1', '10.2.0.2']]]), connectTimeout: '1s', routeTimeout: '15s' };
}

type TestPush = PushContext & { world: World };

function snapshot(w: World): World {
  return { ...w, clusters: new Map([...w.clusters].map(([k, v]) => [k, [...v]])) };
}

export function cluster(name: string, w: World): EnvoyJson {
  return { name, type: 'EDS', connect_timeout: w.connectTimeout, eds_cluster_config: { eds_config: { ads: {}, resource_api_version: 'V3' } } };
}

export function loadAssignment(name: string, ips: string[]): EnvoyJson {
  return { cluster_name: name, endpoints: [{ lb_endpoints: ips.map((ip) => ({ endpoint: { address: { socket_address: { address: ip, port_value: 8080 } } } })) }] };
}

export function listener(): EnvoyJson {
  return {
    name: LISTENER,
    address: { socket_address: { address: '0.0.0.0', port_value: 80 } },
    filter_chains: [
      {
        filters: [
          {
            name: 'envoy.filters.network.http_connection_manager',
            typed_config: {
              '@type': 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
              stat_prefix: 'outbound_0.0.0.0_80',
              rds: { route_config_name: ROUTE, config_source: { ads: {}, resource_api_version: 'V3' } },
              http_filters: [{ name: 'envoy.filters.http.router', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' } }],
            },
          },
        ],
      },
    ],
  };
}

export function routeConfig(w: World): EnvoyJson {
  const first = [...w.clusters.keys()].sort()[0] ?? A;
  return {
    name: ROUTE,
    virtual_hosts: [{ name: 'all', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster: first, timeout: w.routeTimeout } }] }],
  };
}

/** The test Generator: reads the World snapshot stored on the PushContext. */
export const testGenerator: Generator = (push, _proxy, typeUrl, names) => {
  const w = (push as TestPush).world;
  const wanted = (n: string) => !names || names.includes(n);
  let out: NamedResource[] = [];
  switch (typeUrl) {
    case TYPE.CLUSTER:
      out = [...w.clusters.keys()].map((n) => ({ name: n, resource: cluster(n, w) }));
      break;
    case TYPE.ENDPOINT:
      out = [...w.clusters].map(([n, ips]) => ({ name: n, resource: loadAssignment(n, ips) }));
      break;
    case TYPE.LISTENER:
      out = [{ name: LISTENER, resource: listener() }];
      break;
    case TYPE.ROUTE:
      out = [{ name: ROUTE, resource: routeConfig(w) }];
      break;
    default:
      out = []; // Secrets: none (the empty wildcard answer serves as a stream barrier)
  }
  return out.filter((r) => wanted(r.name)).sort((a, b) => (a.name < b.name ? -1 : 1));
};

/** A DiscoveryServer over a World, listening on 127.0.0.1:0. */
export async function startServer(world: World, opts: { afterMs?: number; maxMs?: number; port?: number } = {}) {
  let builds = 0;
  const server = new DiscoveryServer({
    generator: testGenerator,
    parseProxy,
    shapeKey: proxyShapeKey,
    buildPushContext: () => {
      builds++;
      return { version: String(builds), mesh: {} as PushContext['mesh'], configs: [], services: [], endpoints: new Map(), workloads: [], world: snapshot(world) } as TestPush;
    },
    debounce: { afterMs: opts.afterMs ?? 5, maxMs: opts.maxMs ?? 500 },
    log: SILENT_LOGGER,
  });
  const port = await server.listen(`127.0.0.1:${opts.port ?? 0}`);
  return { server, port, address: `127.0.0.1:${port}` };
}

/** A raw ADS stream: write requests, read responses in order. */
export class RawStream<Req, Res extends { type_url: string }> {
  readonly received: Res[] = [];
  #read = 0;
  #waiters: (() => void)[] = [];
  status: grpc.StatusObject | undefined;

  constructor(
    readonly client: AdsServiceClient,
    readonly stream: grpc.ClientDuplexStream<Req, Res>,
  ) {
    stream.on('data', (m: Res) => {
      this.received.push(m);
      this.#wake();
    });
    stream.on('error', () => {});
    stream.on('status', (s) => {
      this.status = s;
      this.#wake();
    });
  }

  #wake(): void {
    for (const w of this.#waiters.splice(0)) w();
  }

  send(req: Partial<Req>): void {
    this.stream.write(req as Req);
  }

  /** The next unread response (of `typeUrl`, if given: fails if another type comes first). */
  async next(typeUrl?: string, timeoutMs = 5000): Promise<Res> {
    const start = Date.now();
    while (this.#read >= this.received.length) {
      if (this.status) throw new Error(`stream ended: ${this.status.code} ${this.status.details}`);
      if (Date.now() - start > timeoutMs) throw new Error(`no response within ${timeoutMs} ms`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, 50);
        this.#waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
    const m = this.received[this.#read++]!;
    if (typeUrl && m.type_url !== typeUrl) throw new Error(`expected a ${typeUrl} response, got ${m.type_url}`);
    return m;
  }

  /** Responses received and not yet read. */
  unread(): Res[] {
    return this.received.slice(this.#read);
  }

  close(): void {
    this.stream.end();
    this.stream.cancel();
    this.client.close();
  }
}

export type Sotw = RawStream<DiscoveryRequest, DiscoveryResponse>;
export type Delta = RawStream<DeltaDiscoveryRequest, DeltaDiscoveryResponse>;

export function openSotw(address: string): Sotw {
  const client = newAdsServiceClient(address);
  return new RawStream(client, client.StreamAggregatedResources());
}

export function openDelta(address: string): Delta {
  const client = newAdsServiceClient(address);
  return new RawStream(client, client.DeltaAggregatedResources());
}

/** SotW request with defaults. */
export function sreq(type_url: string, resource_names: string[] = [], version_info = '', response_nonce = '', extra: Partial<DiscoveryRequest> = {}): Partial<DiscoveryRequest> {
  return { type_url, resource_names, version_info, response_nonce, ...extra };
}

/** Delta request with defaults. */
export function dreq(type_url: string, extra: Partial<DeltaDiscoveryRequest> = {}): Partial<DeltaDiscoveryRequest> {
  return { type_url, resource_names_subscribe: [], resource_names_unsubscribe: [], initial_resource_versions: {}, response_nonce: '', ...extra };
}

/** Names of a SotW response's resources, decoded. */
export function names(resp: DiscoveryResponse): string[] {
  return resp.resources.map((a) => {
    const r = unpackAny(a);
    return (r.name ?? r.cluster_name) as string;
  });
}

let barriers = 0;

/**
 * A stream barrier: the first wildcard request of a new (unknown, always empty) type always
 * gets an answer, and a stream keeps order, so every response sent before it has arrived.
 * Returns the responses that came before it.
 */
export async function sotwBarrier(s: Sotw): Promise<DiscoveryResponse[]> {
  const t = `type.googleapis.com/tsmesh.test.Barrier${++barriers}`;
  s.send(sreq(t));
  return drainUntil(s, t);
}

export async function deltaBarrier(s: Delta): Promise<DeltaDiscoveryResponse[]> {
  const t = `type.googleapis.com/tsmesh.test.Barrier${++barriers}`;
  s.send(dreq(t, { resource_names_subscribe: ['*'] }));
  return drainUntil(s, t);
}

async function drainUntil<Res extends { type_url: string }>(s: RawStream<any, Res>, t: string): Promise<Res[]> {
  const before: Res[] = [];
  for (;;) {
    const m = await s.next();
    if (m.type_url === t) return before;
    before.push(m);
  }
}
