/**
 * The agent's SDS server (Istio's pilot-agent sds server): envoy.service.secret.v3
 * .SecretDiscoveryService on a Unix socket, serving the SecretCache to the proxy beside it.
 * StreamSecrets (state of the world) and DeltaSecrets (incremental) both answer the names a
 * proxy asks for as soon as they exist, and push a new version of a secret to every stream that
 * watches it when it changes (a rotation). Stale nonces are ignored and a NACK is logged, not
 * answered with the same version again (xDS protocol: ACK/NACK and resource updates).
 */
import * as grpc from '@grpc/grpc-js';
import { lstatSync, unlinkSync } from 'node:fs';
import { SDS_SERVICE, type DeltaDiscoveryRequest, type DeltaDiscoveryResponse, type DiscoveryRequest, type DiscoveryResponse, type SdsServiceHandlers } from '../xds/grpc.ts';
import { toAny } from '../xds/codec.ts';
import { TYPE } from '../xds/types.ts';
import { log } from '../proxy/logger.ts';
import type { SecretCache } from './secret_cache.ts';

/** What the server did, for the agent's debug state. */
export interface SdsServerStats {
  streams: number;
  pushes: number;
  nacks: number;
}

type SotwCall = grpc.ServerDuplexStream<DiscoveryRequest, DiscoveryResponse | Buffer>;
type DeltaCall = grpc.ServerDuplexStream<DeltaDiscoveryRequest, DeltaDiscoveryResponse | Buffer>;

export class SdsServer {
  readonly stats: SdsServerStats = { streams: 0, pushes: 0, nacks: 0 };
  readonly #cache: SecretCache;
  readonly #server = new grpc.Server();
  readonly #calls = new Set<SotwCall | DeltaCall>();

  constructor(cache: SecretCache) {
    this.#cache = cache;
    const handlers: SdsServiceHandlers = { StreamSecrets: (c) => this.#sotw(c), DeltaSecrets: (c) => this.#delta(c) };
    this.#server.addService(SDS_SERVICE, handlers);
  }

  /** Listens on the Unix socket `path` (a stale socket file there is replaced). */
  listen(path: string): Promise<void> {
    try {
      if (lstatSync(path).isSocket()) unlinkSync(path);
    } catch {
      // nothing there
    }
    return new Promise((resolve, reject) => {
      this.#server.bindAsync(`unix:${path}`, grpc.ServerCredentials.createInsecure(), (err) => (err ? reject(new Error(`SDS server: cannot listen on ${path}: ${err.message}`)) : resolve()));
    });
  }

  /** Ends every stream and stops the server. */
  close(): Promise<void> {
    for (const c of this.#calls) c.end();
    this.#calls.clear();
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.#server.forceShutdown();
        resolve();
      }, 1000);
      this.#server.tryShutdown(() => {
        clearTimeout(t);
        resolve();
      });
    });
  }

  #track(call: SotwCall | DeltaCall, offCache: () => void): void {
    this.#calls.add(call);
    this.stats.streams++;
    const done = () => {
      offCache();
      if (this.#calls.delete(call)) {
        this.stats.streams--;
        call.end();
      }
    };
    call.on('end', done);
    call.on('error', done);
    call.on('cancelled', done);
  }

  #nack(node: string, detail: { message: string }, nonce: string): void {
    this.stats.nacks++;
    log.warn(`SDS: proxy ${node || '(unknown)'} rejected secrets (nonce ${nonce}): ${detail.message}`);
  }

  #sotw(call: SotwCall): void {
    let names = new Set<string>();
    let sent = new Map<string, string>();
    let nonce = 0;
    let node = '';
    const push = () => {
      const present = [...names].sort().flatMap((n) => {
        const s = this.#cache.get(n);
        return s ? [[n, s] as const] : [];
      });
      if (present.length === 0 || present.every(([n, s]) => sent.get(n) === s.version)) return;
      sent = new Map(present.map(([n, s]) => [n, s.version]));
      this.stats.pushes++;
      call.write({
        version_info: present.map(([n, s]) => `${n}@${s.version}`).join(','),
        type_url: TYPE.SECRET,
        nonce: String(++nonce),
        resources: present.map(([, s]) => toAny(s.resource)),
      });
    };
    this.#track(
      call,
      this.#cache.watch((n) => names.has(n) && push()),
    );
    call.on('data', (req: DiscoveryRequest) => {
      if (req.node?.id) node = req.node.id;
      // A request answering an older response is stale: the newer one is in flight.
      if (req.response_nonce && req.response_nonce !== String(nonce)) return;
      if (req.error_detail?.message) this.#nack(node, req.error_detail, req.response_nonce);
      const next = new Set(req.resource_names);
      const changed = next.size !== names.size || [...next].some((n) => !names.has(n));
      if (!changed && req.response_nonce) return; // an ACK or NACK
      names = next;
      // A new subscription (or a reconnect) gets every named secret that exists.
      sent = new Map();
      push();
    });
  }

  #delta(call: DeltaCall): void {
    const names = new Set<string>();
    const sent = new Map<string, string>();
    let nonce = 0;
    let node = '';
    let first = true;
    const push = (candidates: Iterable<string>) => {
      const resources = [...candidates].sort().flatMap((n) => {
        const s = this.#cache.get(n);
        if (!s || !names.has(n) || sent.get(n) === s.version) return [];
        sent.set(n, s.version);
        return [{ name: n, version: s.version, resource: toAny(s.resource) }];
      });
      if (resources.length === 0) return;
      this.stats.pushes++;
      call.write({ system_version_info: '', resources, type_url: TYPE.SECRET, removed_resources: [], nonce: String(++nonce) });
    };
    this.#track(
      call,
      this.#cache.watch((n) => push([n])),
    );
    call.on('data', (req: DeltaDiscoveryRequest) => {
      if (req.node?.id) node = req.node.id;
      if (req.error_detail?.message) this.#nack(node, req.error_detail, req.response_nonce);
      if (first) {
        // What the proxy already holds (a reconnect): not resent unless it changed.
        for (const [n, v] of Object.entries(req.initial_resource_versions ?? {})) sent.set(n, v);
        first = false;
      }
      const added = req.resource_names_subscribe.filter((n) => n !== '*' && !names.has(n));
      for (const n of added) names.add(n);
      for (const n of req.resource_names_unsubscribe) {
        names.delete(n);
        sent.delete(n);
      }
      push(added);
    });
  }
}
