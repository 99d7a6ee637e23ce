/**
 * Simulated Envoy sidecars for the control-plane bench, run as a child process so their CPU is
 * not the control plane's: `node --import tsx bench/lib/ads_load.ts <json options>`.
 *
 * Each client opens its own HTTP/2 connection (as separate Envoys would) with one gRPC ADS
 * stream on it (./ads_h2.ts), SotW or delta, and behaves as Envoy does: wildcard CDS and LDS; on
 * a CDS response it subscribes EDS to the clusters' service names, on an LDS response RDS to the
 * listeners' route names; it ACKs every response. Derived names are cached by content (SotW
 * version_info, delta per-resource name + version, each with the byte length) so 500 clients
 * cost one decode per distinct answer. Each client sends the Node an istio-proxy sends (mesh_config.sidecarNode),
 * so istiod and tsmesh see the same sidecars. Resources are read with Envoy's protos only as
 * deep as the names need (Cluster, Listener -> HttpConnectionManager, ClusterLoadAssignment):
 * istiod's resources carry Istio's own filter types, which are not among Envoy's protos.
 *
 * Talks to the parent in JSON lines. Commands on stdin: {"cmd":"connect"} (open every stream;
 * sent once all load processes are up, so process start-up is not counted as sync time),
 * {"cmd":"arm","address":ip} (start timing EDS updates carrying `address`), {"cmd":"report"},
 * {"cmd":"stop"}. Events on stdout, each line `ADS {...}`: ready, progress, synced, armed,
 * updated, report.
 */
import { createInterface } from 'node:readline';
import type { AnyBytes } from '../../src/xds/codec.ts';
import { messageType } from '../../src/xds/protos.ts';
import {
  ADS_SERVICE,
  type DeltaDiscoveryRequest,
  type DeltaDiscoveryResponse,
  type DeltaResource,
  type DiscoveryRequest,
  type DiscoveryResponse,
} from '../../src/xds/grpc.ts';
import { NETWORK_FILTER } from '../../src/xds/type_urls.ts';
import { TYPE, type NodeJson } from '../../src/xds/types.ts';
import { sidecarNode } from './mesh_config.ts';
import { openStream, type H2Stream } from './ads_h2.ts';
import { claAddresses, decodeDeltaResponse, decodeSotwResponse, encodeDeltaAck, encodeSotwAck, hasResource, resourceSize } from './ads_wire.ts';

export interface LoadOptions {
  address: string;
  mode: 'sotw' | 'delta';
  /** Client indices [first, first + count): node ids and IPs are distinct across processes. */
  first: number;
  count: number;
  namespaces: string[];
}

/** What a parent hears; `at` values are epoch milliseconds (performance.timeOrigin based). */
export type LoadEvent =
  | { ev: 'ready' }
  | { ev: 'progress'; synced: number; open: number; failed: number; bytes: number; responses: number }
  | { ev: 'synced'; count: number; lastAt: number; bytes: number; responses: number }
  | { ev: 'armed' }
  | { ev: 'updated'; count: number }
  | { ev: 'report'; received: number[]; byType: Record<string, number>; missing: number; bytes: number; errors: string[] }
  | { ev: 'error'; message: string };

const TYPES = [TYPE.CLUSTER, TYPE.LISTENER, TYPE.ENDPOINT, TYPE.ROUTE] as const;

const now = () => performance.timeOrigin + performance.now();
let bytesIn = 0;
let responses = 0;

/**
 * The ADS methods' codecs for the simulators: lean response decoders and cached ACK names
 * (./ads_wire.ts), counting wire bytes.
 */
function countingCodecs() {
  const sotw = ADS_SERVICE.StreamAggregatedResources;
  const delta = ADS_SERVICE.DeltaAggregatedResources;
  const counted =
    <T>(decode: (b: Buffer) => T) =>
    (b: Buffer): T => {
      bytesIn += b.length;
      responses++;
      return decode(b);
    };
  return {
    sotw: { path: sotw.path, serialize: (r: DiscoveryRequest) => encodeSotwAck(r) ?? sotw.requestSerialize(r), deserialize: counted(decodeSotwResponse) },
    delta: { path: delta.path, serialize: (r: DeltaDiscoveryRequest) => encodeDeltaAck(r) ?? delta.requestSerialize(r), deserialize: counted(decodeDeltaResponse) },
  };
}
const CODECS = countingCodecs();

// ---------- names derived from resources, cached by content ----------

const EDS = 3; // envoy.config.cluster.v3.Cluster.DiscoveryType.EDS
const clusterType = () => messageType(TYPE.CLUSTER);
const listenerType = () => messageType(TYPE.LISTENER);
const hcmType = () => messageType(NETWORK_FILTER.HTTP_CONNECTION_MANAGER);

/** The EDS service names of a Cluster (nothing for other discovery types), as Envoy subscribes. */
function clusterEdsNames(any: AnyBytes): string[] {
  const c = clusterType().decode(any.value) as any;
  if (c.type !== EDS) return [];
  return [c.eds_cluster_config?.service_name || c.name];
}

/** The RDS route names a Listener's HttpConnectionManagers reference. */
function listenerRdsNames(any: AnyBytes): string[] {
  const l = listenerType().decode(any.value) as any;
  const out: string[] = [];
  const visit = (tc: AnyBytes | undefined) => {
    if (tc?.type_url !== NETWORK_FILTER.HTTP_CONNECTION_MANAGER) return;
    const name = (hcmType().decode(tc.value) as any).rds?.route_config_name;
    if (typeof name === 'string') out.push(name);
  };
  visit(l.api_listener?.api_listener);
  for (const fc of [...(l.filter_chains ?? []), ...(l.default_filter_chain ? [l.default_filter_chain] : [])]) {
    for (const f of fc.filters ?? []) visit(f.typed_config);
  }
  return out;
}

function namesOf(type: string, any: AnyBytes): string[] {
  return type === TYPE.CLUSTER ? clusterEdsNames(any) : listenerRdsNames(any);
}

/** Whether a ClusterLoadAssignment holds an endpoint at `address`. */
function claHasAddress(any: AnyBytes, address: string): boolean {
  return claAddresses(any.value).includes(address);
}

const derived = new Map<string, string[]>();
/** SotW: the sorted, distinct names a whole CDS / LDS answer references. */
function namesFrom(type: string, version: string, anys: AnyBytes[]): string[] {
  let bytes = 0;
  for (const a of anys) bytes += a.value.length;
  const k = `${type}\0${version}\0${anys.length}\0${bytes}`;
  let v = derived.get(k);
  if (!v) {
    v = [...new Set(anys.flatMap((a) => namesOf(type, a)))].sort();
    if (derived.size > 10_000) derived.clear(); // bounded; only distinct contents land here
    derived.set(k, v);
  }
  return v;
}

/** Delta: per type and resource name, the names it references at a version and size. */
const derivedOne = new Map<string, Map<string, { version: string; size: number; names: string[] }>>();
/** Delta: the names one resource references, cached by name, version and size (its bytes are read only on a miss). */
function deriveOne(type: string, x: DeltaResource): string[] {
  let byName = derivedOne.get(type);
  if (!byName) derivedOne.set(type, (byName = new Map()));
  const size = resourceSize(x);
  const hit = byName.get(x.name);
  if (hit && hit.version === x.version && hit.size === size) return hit.names;
  const names = namesOf(type, x.resource!);
  byName.set(x.name, { version: x.version, size, names });
  return names;
}

function sameNames(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

// ---------- one simulated sidecar ----------

class SimClient {
  readonly acked = new Set<string>();
  syncedAt = 0;
  failed = '';
  /** Since the last arm: responses by type, and when the EDS update with the moved address came. */
  byType: Record<string, number> = {};
  updatedAt = 0;
  /** Synced when the last arm came: only such clients' updates are timed. */
  timed = false;
  private sotw?: H2Stream<DiscoveryRequest, DiscoveryResponse>;
  private delta?: H2Stream<DeltaDiscoveryRequest, DeltaDiscoveryResponse>;
  private sub: Record<string, string[]> = { [TYPE.ENDPOINT]: [], [TYPE.ROUTE]: [] };
  private last: Record<string, { version: string; nonce: string }> = {};
  /** Delta: per held cluster / listener, the EDS / RDS names it references (shared arrays). */
  private refs: Record<string, Map<string, string[]>> = { [TYPE.CLUSTER]: new Map(), [TYPE.LISTENER]: new Map() };

  constructor(
    readonly node: NodeJson,
    private readonly opts: LoadOptions,
    private readonly hooks: { onSynced(): void; onUpdated(): void; watchAddress(): string | undefined },
  ) {}

  start(): void {
    const node = this.node;
    if (this.opts.mode === 'sotw') {
      const s = (this.sotw = openStream(this.opts.address, CODECS.sotw.path, CODECS.sotw.serialize, CODECS.sotw.deserialize));
      s.on('data', (r: DiscoveryResponse) => this.onSotw(r));
      s.on('error', (e: Error) => (this.failed ||= e.message));
      s.write({ node, type_url: TYPE.CLUSTER, resource_names: [], version_info: '', response_nonce: '' });
      s.write({ node, type_url: TYPE.LISTENER, resource_names: [], version_info: '', response_nonce: '' });
    } else {
      const s = (this.delta = openStream(this.opts.address, CODECS.delta.path, CODECS.delta.serialize, CODECS.delta.deserialize));
      s.on('data', (r: DeltaDiscoveryResponse) => this.onDelta(r));
      s.on('error', (e: Error) => (this.failed ||= e.message));
      const first = { node, resource_names_subscribe: [], resource_names_unsubscribe: [], initial_resource_versions: {}, response_nonce: '' };
      s.write({ ...first, type_url: TYPE.CLUSTER });
      s.write({ ...first, type_url: TYPE.LISTENER });
    }
  }

  stop(): void {
    this.sotw?.cancel();
    this.delta?.cancel();
  }

  private onSotw(r: DiscoveryResponse): void {
    const t = r.type_url;
    this.count(t, () => r.resources);
    this.last[t] = { version: r.version_info, nonce: r.nonce };
    // What this response makes the client ask for next (Envoy: cluster warming, listener RDS).
    const next = t === TYPE.CLUSTER ? TYPE.ENDPOINT : t === TYPE.LISTENER ? TYPE.ROUTE : undefined;
    if (next) {
      const names = namesFrom(t, r.version_info, r.resources);
      if (!sameNames(names, this.sub[next]!)) {
        this.sub[next] = names;
        const prev = this.last[next] ?? { version: '', nonce: '' };
        this.sotw!.write({ type_url: next, resource_names: names, version_info: prev.version, response_nonce: prev.nonce });
      }
    }
    const names = t === TYPE.ENDPOINT || t === TYPE.ROUTE ? this.sub[t]! : [];
    this.sotw!.write({ type_url: t, resource_names: names, version_info: r.version_info, response_nonce: r.nonce });
    this.ack(t);
  }

  private onDelta(r: DeltaDiscoveryResponse): void {
    const t = r.type_url;
    this.count(t, () => r.resources.flatMap((x) => (x.resource ? [x.resource] : [])));
    const next = t === TYPE.CLUSTER ? TYPE.ENDPOINT : t === TYPE.LISTENER ? TYPE.ROUTE : undefined;
    if (next) {
      const refs = this.refs[t]!;
      for (const x of r.resources) if (hasResource(x)) refs.set(x.name, deriveOne(t, x));
      for (const n of r.removed_resources) refs.delete(n);
      const names = [...new Set([...refs.values()].flat())].sort();
      const before = new Set(this.sub[next]);
      const after = new Set(names);
      const subscribe = names.filter((n) => !before.has(n));
      const unsubscribe = [...before].filter((n) => !after.has(n));
      this.sub[next] = names;
      if (subscribe.length || unsubscribe.length) {
        this.delta!.write({ type_url: next, resource_names_subscribe: subscribe, resource_names_unsubscribe: unsubscribe, initial_resource_versions: {}, response_nonce: '' });
      }
    }
    this.delta!.write({ type_url: t, resource_names_subscribe: [], resource_names_unsubscribe: [], initial_resource_versions: {}, response_nonce: r.nonce });
    this.ack(t);
  }

  /** `resources` is called only for an EDS answer after an arm (a few changed clusters). */
  private count(t: string, resources: () => AnyBytes[]): void {
    this.byType[t] = (this.byType[t] ?? 0) + 1;
    const addr = this.hooks.watchAddress();
    if (addr && t === TYPE.ENDPOINT && !this.updatedAt) {
      // Only EDS answers after an arm are decoded: a few changed clusters, not the full set.
      if (resources().some((a) => claHasAddress(a, addr))) {
        this.updatedAt = now();
        this.hooks.onUpdated();
      }
    }
  }

  private ack(t: string): void {
    if (this.syncedAt) return;
    this.acked.add(t);
    if (TYPES.every((x) => this.acked.has(x))) {
      this.syncedAt = now();
      this.hooks.onSynced();
    }
  }
}

// ---------- the process ----------

function emit(e: LoadEvent): void {
  process.stdout.write(`ADS ${JSON.stringify(e)}\n`);
}

export function main(opts: LoadOptions): void {
  let synced = 0;
  let updated = 0;
  let watched: string | undefined;
  const clients: SimClient[] = [];
  const hooks = {
    onSynced: () => {
      if (++synced === clients.length) {
        emit({ ev: 'synced', count: synced, lastAt: Math.max(...clients.map((c) => c.syncedAt)), bytes: bytesIn, responses });
      }
    },
    onUpdated: () => {
      if (++updated === clients.length) emit({ ev: 'updated', count: updated });
    },
    watchAddress: () => watched,
  };
  for (let i = 0; i < opts.count; i++) {
    const k = opts.first + i;
    clients.push(new SimClient(sidecarNode(k, opts.namespaces[k % opts.namespaces.length]!) as unknown as NodeJson, opts, hooks));
  }
  let tick: NodeJS.Timeout | undefined;
  emit({ ev: 'ready' });

  createInterface({ input: process.stdin }).on('line', (line) => {
    let cmd: { cmd: string; address?: string };
    try {
      cmd = JSON.parse(line);
    } catch {
      return emit({ ev: 'error', message: `bad command: ${line}` });
    }
    if (cmd.cmd === 'connect') {
      if (tick) return;
      for (const c of clients) c.start();
      tick = setInterval(() => {
        const failed = clients.filter((c) => c.failed).length;
        emit({ ev: 'progress', synced, open: clients.length - failed, failed, bytes: bytesIn, responses });
      }, 2000);
    } else if (cmd.cmd === 'arm') {
      updated = 0;
      for (const c of clients) {
        c.byType = {};
        c.updatedAt = 0;
        // A client still syncing gets the new address in its first EDS answer: that is not a
        // change reaching a synced proxy, so it is not timed (nor counted against the synced).
        c.timed = c.syncedAt > 0;
      }
      watched = cmd.address;
      emit({ ev: 'armed' });
    } else if (cmd.cmd === 'report') {
      const byType: Record<string, number> = {};
      for (const c of clients) for (const [t, n] of Object.entries(c.byType)) byType[t] = (byType[t] ?? 0) + n;
      const errors = [...new Set(clients.map((c) => c.failed).filter(Boolean))].slice(0, 5);
      emit({ ev: 'report', received: clients.filter((c) => c.timed && c.updatedAt).map((c) => c.updatedAt), byType, missing: clients.filter((c) => c.timed && !c.updatedAt).length, bytes: bytesIn, errors });
    } else if (cmd.cmd === 'stop') {
      clearInterval(tick);
      for (const c of clients) c.stop();
      setTimeout(() => process.exit(0), 200).unref();
    }
  });
  // The parent going away must not leave 250 streams open.
  process.stdin.on('end', () => process.exit(0));
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main(JSON.parse(process.argv[2] ?? '{}') as LoadOptions);
}
