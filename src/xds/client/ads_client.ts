/**
 * An ADS client: one gRPC stream (SotW or delta) carrying every watched type, ACK/NACK as
 * Envoy does, reconnect with jittered exponential backoff. Consumers keep the last accepted
 * state while the stream is down; on reconnect the client tells the server what it holds
 * (SotW: version_info; delta: initial_resource_versions), so unchanged config is not resent.
 * With `service: 'sds'` the same machinery speaks SDS (StreamSecrets / DeltaSecrets), as Envoy
 * does to Istio's agent for an `api_config_source` naming the sds-grpc cluster.
 *
 * @example
 * const ads = new AdsClient({ address: '127.0.0.1:15010', node, mode: 'delta' });
 * ads.watch(TYPE.CLUSTER, '*', { onUpdate: (u) => clusters.apply(u) });
 * ads.start();
 */
import { EventEmitter } from 'node:events';
import * as grpc from '@grpc/grpc-js';
import { newAdsServiceClient, newSdsServiceClient, type DeltaDiscoveryResponse, type DiscoveryResponse } from '../grpc.ts';
import { Backoff, REAL_TIMERS, type Timers } from './backoff.ts';
import { xdsChannel } from './transport.ts';
import { TypeState, type Plan } from './state.ts';
import type { AdsClientEvents, AdsClientOptions, ResourceNames, ResourceUpdate, ValidationResult, VersionedResource, Watch, WatchHandlers } from './types.ts';

/** google.rpc.Code INVALID_ARGUMENT, what Envoy puts in a NACK's error_detail. */
const INVALID_ARGUMENT = 3;

type Stream = grpc.ClientDuplexStream<any, any>;

/** The two stream methods of one discovery service (ADS or SDS), whatever their names. */
interface DiscoveryStub {
  sotw(): Stream;
  delta(): Stream;
  close(): void;
}

/** ADS or SDS: the same messages and protocol, different service and method names. */
function discoveryStub(opts: AdsClientOptions): DiscoveryStub {
  // A mesh's CDS/EDS easily passes gRPC's 4 MiB receive default (1,000 services: ~2 MiB EDS);
  // like Envoy, take whatever the control plane sends.
  let channel: grpc.ChannelOptions = { 'grpc.max_receive_message_length': -1 };
  let credentials = opts.credentials;
  if (opts.tls) {
    const t = xdsChannel(opts.tls);
    credentials = t.credentials;
    channel = { ...channel, ...t.options };
  }
  if (opts.service === 'sds') {
    const c = newSdsServiceClient(opts.address, credentials, channel);
    return { sotw: () => c.StreamSecrets(), delta: () => c.DeltaSecrets(), close: () => c.close() };
  }
  const c = newAdsServiceClient(opts.address, credentials, channel);
  return { sotw: () => c.StreamAggregatedResources(), delta: () => c.DeltaAggregatedResources(), close: () => c.close() };
}

export class AdsClient extends EventEmitter<AdsClientEvents> {
  readonly #opts: AdsClientOptions;
  readonly #types = new Map<string, TypeState>();
  readonly #backoff: Backoff;
  readonly #timers: Timers;
  #grpc: DiscoveryStub | undefined;
  #stream: Stream | undefined;
  #retry: unknown;
  #started = false;
  #opened = false;
  #closed = false;
  /** Whether the node was sent on the current stream (Envoy sends it only on the first request). */
  #nodeSent = false;
  /** Responses waiting for an earlier one's (async) validation. */
  readonly #backlog: (() => void | Promise<void>)[] = [];
  #pumping = false;
  /** The last report() per type, sent again on every new stream. */
  readonly #reports = new Map<string, Record<string, unknown>>();

  constructor(opts: AdsClientOptions) {
    super();
    this.#opts = opts;
    this.#backoff = new Backoff(opts.backoff);
    this.#timers = opts.timers ?? REAL_TIMERS;
  }

  get mode(): 'sotw' | 'delta' {
    return this.#opts.mode;
  }

  /** True while a stream is open. */
  get connected(): boolean {
    return this.#stream !== undefined;
  }

  /**
   * Watches one type. One watch per type (ADS multiplexes types, not watchers); change names
   * with `setNames`. Names dropped from a named watch are forgotten and reported as removed.
   */
  watch(typeUrl: string, names: ResourceNames, handlers: WatchHandlers): Watch {
    if (this.#closed) throw new Error('AdsClient is closed');
    if (this.#types.has(typeUrl)) throw new Error(`${typeUrl} is already watched; use setNames on its Watch`);
    const st = new TypeState(typeUrl, names, handlers);
    this.#types.set(typeUrl, st);
    if (this.#stream) this.#sendInitial(st);
    return {
      typeUrl,
      setNames: (n) => this.#setNames(st, n),
      cancel: () => this.#cancel(st),
    };
  }

  /** Opens the stream (idempotent). Register watches first so the first requests carry them all. */
  start(): void {
    if (this.#started || this.#closed) return;
    this.#started = true;
    this.#grpc = discoveryStub(this.#opts);
    this.#open();
  }

  /** The last accepted resources of a type (kept while disconnected). */
  resources(typeUrl: string): ReadonlyMap<string, VersionedResource> {
    return this.#types.get(typeUrl)?.snapshot() ?? new Map();
  }

  /** The last accepted SotW version_info of a type ('' before the first ACK). */
  version(typeUrl: string): string {
    return this.#types.get(typeUrl)?.versionInfo ?? '';
  }

  /**
   * A request that subscribes to nothing (Istio's agent reporting its workload's health as a
   * HealthInformation request): written now if a stream is open, and again on each new stream
   * (the last report per type), since the server keeps it per stream.
   */
  report(typeUrl: string, errorDetail?: { code: number; message: string }): void {
    const req = { type_url: typeUrl, ...(errorDetail ? { error_detail: errorDetail } : {}) };
    this.#reports.set(typeUrl, req);
    this.#write({ ...req });
  }

  /** Ends the stream and the channel, stops retrying. Watches get no further calls. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#retry !== undefined) this.#timers.clearTimeout(this.#retry);
    this.#retry = undefined;
    const s = this.#stream;
    this.#stream = undefined;
    if (s) {
      s.end();
      s.cancel();
    }
    this.#grpc?.close();
  }

  // ---------- stream lifecycle ----------

  #open(): void {
    // With TLS, a new stream gets a new channel (and connection) presenting the current certificate.
    if (this.#opts.tls && this.#opened) {
      this.#grpc?.close();
      this.#grpc = discoveryStub(this.#opts);
    }
    this.#opened = true;
    const client = this.#grpc!;
    const s: Stream = this.#opts.mode === 'delta' ? client.delta() : client.sotw();
    this.#stream = s;
    this.#nodeSent = false;
    let lastError: Error | undefined;
    s.on('data', (msg: DiscoveryResponse | DeltaDiscoveryResponse) => {
      if (this.#stream !== s) return;
      this.#backoff.reset();
      this.#enqueue(() => {
        // A response of a stream that has since closed is not answered (its nonce means nothing now).
        if (this.#stream !== s) return;
        return this.#opts.mode === 'delta' ? this.#onDelta(msg as DeltaDiscoveryResponse) : this.#onSotw(msg as DiscoveryResponse);
      });
    });
    s.on('error', (e: Error) => {
      lastError = e;
    });
    s.on('status', () => {
      if (this.#stream !== s) return;
      this.#stream = undefined;
      if (this.#closed) return;
      const delay = this.#backoff.next();
      this.emit('disconnected', lastError, delay);
      this.#retry = this.#timers.setTimeout(() => {
        this.#retry = undefined;
        if (!this.#closed) this.#open();
      }, delay);
    });
    for (const st of this.#types.values()) {
      st.nonce = ''; // nonces belong to one stream
      st.requested = false;
      this.#sendInitial(st);
    }
    for (const r of this.#reports.values()) this.#write({ ...r });
    this.emit('connected');
  }

  /**
   * Responses are handled one at a time and in order: an async validator's verdict must be known
   * (and the accepted state committed) before the next response is planned against it. With
   * synchronous validators everything still happens within the 'data' event.
   */
  #enqueue(job: () => void | Promise<void>): void {
    this.#backlog.push(job);
    if (!this.#pumping) this.#pump();
  }

  #pump(): void {
    this.#pumping = true;
    while (this.#backlog.length > 0) {
      const r = this.#backlog.shift()!();
      if (r instanceof Promise) {
        void r.catch((e: Error) => process.emitWarning(`ADS response handling failed: ${e.message}`)).then(() => this.#pump());
        return;
      }
    }
    this.#pumping = false;
  }

  #write(req: Record<string, unknown>): void {
    if (!this.#stream) return;
    if (!this.#nodeSent) {
      req.node = this.#opts.node;
      this.#nodeSent = true;
    }
    this.#stream.write(req);
  }

  /** First request of a type on a stream: the subscription plus what we already hold. */
  #sendInitial(st: TypeState): void {
    if (st.empty || !this.#stream) return;
    st.requested = true;
    if (this.#opts.mode === 'delta') {
      this.#write({
        type_url: st.typeUrl,
        resource_names_subscribe: st.wildcard ? ['*', ...st.names] : [...st.names].sort(),
        resource_names_unsubscribe: [],
        initial_resource_versions: st.versions(),
        response_nonce: '',
      });
    } else {
      this.#write({ type_url: st.typeUrl, version_info: st.versionInfo, resource_names: st.sotwNames(), response_nonce: '' });
    }
  }

  #setNames(st: TypeState, names: ResourceNames): void {
    if (this.#types.get(st.typeUrl) !== st) return;
    const { subscribe, unsubscribe, dropped } = st.setNames(names);
    if (dropped.length > 0) this.#deliver(st, { typeUrl: st.typeUrl, version: st.versionInfo, added: new Map(), changed: new Map(), removed: dropped, resources: st.snapshot() });
    if (subscribe.length === 0 && unsubscribe.length === 0) return;
    if (!st.requested) return this.#sendInitial(st);
    if (this.#opts.mode === 'delta') {
      this.#write({ type_url: st.typeUrl, resource_names_subscribe: subscribe, resource_names_unsubscribe: unsubscribe, initial_resource_versions: {}, response_nonce: '' });
    } else {
      // A SotW request always carries the whole subscription, with the last ACKed version/nonce.
      this.#write({ type_url: st.typeUrl, version_info: st.versionInfo, resource_names: st.sotwNames(), response_nonce: st.nonce });
    }
  }

  #cancel(st: TypeState): void {
    if (this.#types.get(st.typeUrl) !== st) return;
    this.#types.delete(st.typeUrl);
    if (!st.requested) return;
    if (this.#opts.mode === 'delta') {
      const all = st.wildcard ? ['*', ...st.names] : [...st.names];
      if (all.length > 0) this.#write({ type_url: st.typeUrl, resource_names_subscribe: [], resource_names_unsubscribe: all, initial_resource_versions: {}, response_nonce: '' });
    } else if (!st.wildcard) {
      // An empty list after named requests unsubscribes everything; for a wildcard watch it would
      // read as wildcard again, so a cancelled wildcard watch just stops listening.
      this.#write({ type_url: st.typeUrl, version_info: st.versionInfo, resource_names: [], response_nonce: st.nonce });
    }
  }

  // ---------- responses ----------

  #onSotw(resp: DiscoveryResponse): void | Promise<void> {
    const st = this.#types.get(resp.type_url);
    this.emit('response', resp.type_url, resp.nonce, resp.resources.length);
    if (!st) return; // not (or no longer) watched: nothing to ACK against
    st.nonce = resp.nonce;
    const stream = this.#stream;
    return then(this.#judge(st, st.planSotw(resp)), (error) => {
      if (this.#stream !== stream) return; // closed while validating: nothing to answer
      if (error === undefined) {
        st.versionInfo = resp.version_info;
        this.#write({ type_url: st.typeUrl, version_info: st.versionInfo, resource_names: st.sotwNames(), response_nonce: resp.nonce });
        this.emit('ack', st.typeUrl, st.versionInfo, resp.nonce);
      } else {
        // NACK: keep the previous version_info, so the server knows what we still run.
        this.#write({
          type_url: st.typeUrl,
          version_info: st.versionInfo,
          resource_names: st.sotwNames(),
          response_nonce: resp.nonce,
          error_detail: { code: INVALID_ARGUMENT, message: error },
        });
        this.emit('nack', st.typeUrl, error, resp.nonce);
        st.handlers.onNack?.(error);
      }
    });
  }

  #onDelta(resp: DeltaDiscoveryResponse): void | Promise<void> {
    const st = this.#types.get(resp.type_url);
    this.emit('response', resp.type_url, resp.nonce, resp.resources.length);
    if (!st) return;
    st.nonce = resp.nonce;
    const stream = this.#stream;
    return then(this.#judge(st, st.planDelta(resp)), (error) => {
      if (this.#stream !== stream) return; // closed while validating: nothing to answer
      const base = { type_url: st.typeUrl, resource_names_subscribe: [], resource_names_unsubscribe: [], initial_resource_versions: {}, response_nonce: resp.nonce };
      if (error === undefined) {
        st.versionInfo = resp.system_version_info;
        this.#write(base);
        this.emit('ack', st.typeUrl, resp.system_version_info, resp.nonce);
      } else {
        this.#write({ ...base, error_detail: { code: INVALID_ARGUMENT, message: error } });
        this.emit('nack', st.typeUrl, error, resp.nonce);
        st.handlers.onNack?.(error);
      }
    });
  }

  /** Validates and, if accepted, commits and delivers a plan. Returns (or resolves to) the NACK message if not. */
  #judge(st: TypeState, plan: Plan): string | undefined | Promise<string | undefined> {
    if (plan.errors.length > 0) return plan.errors.join('; ');
    let verdict: ValidationResult | Promise<ValidationResult>;
    try {
      verdict = st.handlers.validate?.(plan.update) ?? { ok: true as const };
    } catch (e) {
      verdict = { ok: false as const, error: `validator threw: ${(e as Error).message}` };
    }
    const stream = this.#stream;
    const decide = (v: ValidationResult): string | undefined => {
      if (!v.ok) return v.error;
      // Cancelled, or the stream it came on closed, while an async validator ran: the response
      // no longer applies (on a new stream the server sends the current state again).
      if (this.#types.get(st.typeUrl) !== st || this.#stream !== stream) return undefined;
      st.held = plan.next;
      this.#deliver(st, plan.update);
      return undefined;
    };
    if (!(verdict instanceof Promise)) return decide(verdict);
    return verdict.then(decide, (e: Error) => `validator threw: ${e.message}`);
  }

  #deliver(st: TypeState, update: ResourceUpdate): void {
    try {
      st.handlers.onUpdate(update);
    } catch (e) {
      // A consumer bug must not kill the stream; the update is already accepted.
      process.emitWarning(`ADS onUpdate for ${st.typeUrl} threw: ${(e as Error).message}`);
    }
  }
}

/** Applies `fn` to a value now, or once it resolves (keeps synchronous paths synchronous). */
function then<T>(v: T | Promise<T>, fn: (v: T) => void): void | Promise<void> {
  return v instanceof Promise ? v.then(fn) : fn(v);
}
