/**
 * The ADS client's public contract. A consumer (the proxy's listener and cluster managers, a
 * test, `tsmesh` debug commands) watches one resource type at a time and gets plain updates:
 * decoded resources, split into added / changed / removed, plus the whole accepted state.
 *
 * The client ACKs or NACKs each response as Envoy does, based on the watch's validator; the
 * consumer applies its own warming rules (a cluster warms until its EDS arrives, a listener
 * until its RDS) on top of these updates.
 */
import type { EnvoyJson, NodeJson } from '../types.ts';
import type { BackoffOptions, Timers } from './backoff.ts';

/** One accepted resource and the version the server gave it. */
export interface VersionedResource {
  /** SotW: the response's version_info. Delta: the resource's own version. */
  version: string;
  /** Decoded resource in tsmesh's JSON form, with "@type". */
  resource: EnvoyJson;
}

/**
 * What one response changes for one type. `resources` is the full state after the change, so a
 * consumer can choose between applying the delta and rebuilding from the snapshot.
 */
export interface ResourceUpdate {
  typeUrl: string;
  /** SotW version_info, or delta system_version_info (informational for delta). */
  version: string;
  added: ReadonlyMap<string, VersionedResource>;
  changed: ReadonlyMap<string, VersionedResource>;
  removed: readonly string[];
  resources: ReadonlyMap<string, VersionedResource>;
}

/** A validator's verdict; `error` becomes the NACK's error_detail.message. */
export type ValidationResult = { ok: true } | { ok: false; error: string };

/** Callbacks of one watch. Only `onUpdate` is required. */
export interface WatchHandlers {
  /**
   * Checks a proposed update before it is accepted. Returning `{ok: false}` NACKs the response:
   * the previous version stays in force and `onUpdate` is not called. Put every error of the
   * response in one message, as Envoy does. It may be async (e.g. a proxy binding the addresses
   * of new listeners): responses are then handled one at a time, in order, and the ACK/NACK is
   * sent when the verdict is known.
   */
  validate?(update: ResourceUpdate): ValidationResult | Promise<ValidationResult>;
  /** Called for every accepted response (also when nothing changed, so consumers see versions). */
  onUpdate(update: ResourceUpdate): void;
  /** Called after a NACK was sent (decode failure or validator rejection). */
  onNack?(error: string): void;
}

/** `'*'` subscribes to every resource of the type (wildcard); a list subscribes by name. */
export type ResourceNames = '*' | readonly string[];

/** A live watch on one type; change its names or cancel it. */
export interface Watch {
  readonly typeUrl: string;
  /** Replaces the subscribed names; sends a new request (SotW) or subscribe/unsubscribe (delta). */
  setNames(names: ResourceNames): void;
  /** Stops watching this type; forgets its resources. */
  cancel(): void;
}

/** Options of {@link AdsClient}. */
export interface AdsClientOptions {
  /** "host:port" of the control plane. */
  address: string;
  node: NodeJson;
  /** State of the world (StreamAggregatedResources) or incremental (DeltaAggregatedResources). */
  mode: 'sotw' | 'delta';
  backoff?: BackoffOptions;
  timers?: Timers;
  /**
   * Which discovery service the stream speaks: ADS (default; every type on one stream) or SDS
   * (envoy.service.secret.v3.SecretDiscoveryService, Secrets only, e.g. Istio's agent on a
   * Unix socket: address "unix:/path"). Same messages, ACK/NACK and reconnect either way.
   */
  service?: 'ads' | 'sds';
  /** Optional grpc channel credentials (plaintext when absent). */
  credentials?: import('@grpc/grpc-js').ChannelCredentials;
  /**
   * TLS to the control plane's secure port with the workload's certificate (./transport.ts).
   * Each new stream gets a new channel, so it presents the certificate current at that time.
   */
  tls?: import('./transport.ts').XdsTls;
}

/** Events an AdsClient emits (via `on`), for stats, logs and tests. */
export interface AdsClientEvents {
  /** A stream was opened and the subscriptions were (re)sent. */
  connected: [];
  /** The stream ended; `retryInMs` is the backoff delay before the next attempt. */
  disconnected: [error: Error | undefined, retryInMs: number];
  /** A response arrived (before validation). */
  response: [typeUrl: string, nonce: string, resourceCount: number];
  ack: [typeUrl: string, version: string, nonce: string];
  nack: [typeUrl: string, error: string, nonce: string];
}
