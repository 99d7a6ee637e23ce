/**
 * Per-stream server state (Istio's Connection + WatchedResource): who is connected, and per
 * type what it subscribed to, what it was last sent, what it last ACKed, and its last NACK.
 * The debug endpoints read it; the SotW and delta handlers and the pusher write it.
 */
import type { Proxy } from '../../pilot/types.ts';
import type { NodeJson } from '../types.ts';
import type { Entry } from './resources.ts';

/** A NACK as received, kept for /debug/syncz until the next ACK of that type. */
export interface NackRecord {
  nonce: string;
  /** The version the client says it still runs. */
  version: string;
  code: number;
  message: string;
  at: string;
}

/** One type's subscription and sync state on one stream. */
export class WatchState {
  wildcard = false;
  names = new Set<string>();
  /** name -> content hash the client was sent (or declared it holds, on a delta reconnect). */
  sent = new Map<string, string>();
  sentVersion = '';
  sentNonce = '';
  ackedVersion = '';
  ackedNonce = '';
  lastNack?: NackRecord;
  /** Last generation error for this type (generator bug): nothing was sent for it. */
  lastError?: string;
  responses = 0;
  staleNonces = 0;

  subscribes(name: string): boolean {
    return this.wildcard || this.names.has(name);
  }

  /** The names to generate: undefined for wildcard (everything the proxy should see). */
  generationNames(): string[] | undefined {
    return this.wildcard ? undefined : [...this.names];
  }
}

/** What a stream handler turns into a DiscoveryResponse or DeltaDiscoveryResponse. */
export interface Outgoing {
  typeUrl: string;
  version: string;
  nonce: string;
  /** SotW: every resource of the response. Delta: the added or changed ones. */
  resources: Entry[];
  /** Delta only: names the client must drop. */
  removed: string[];
}

/** The debug view of one type on one connection. */
export interface WatchStatus {
  wildcard: boolean;
  names: string[];
  resources: number;
  sentVersion: string;
  sentNonce: string;
  ackedVersion: string;
  ackedNonce: string;
  synced: boolean;
  lastNack?: NackRecord;
  lastError?: string;
  responses: number;
  staleNonces: number;
}

/** The debug view of one connection (what /debug/syncz and /debug/connections serve). */
export interface ConnectionStatus {
  id: string;
  proxyId: string;
  mode: 'sotw' | 'delta';
  peer: string;
  connectedAt: string;
  types: Record<string, WatchStatus>;
}

/** One ADS stream from one proxy. */
export class Connection {
  readonly watches = new Map<string, WatchState>();
  readonly connectedAt = new Date();

  constructor(
    readonly id: string,
    readonly proxy: Proxy,
    readonly node: NodeJson,
    readonly mode: 'sotw' | 'delta',
    readonly peer: string,
    private readonly write: (out: Outgoing) => void,
  ) {}

  /** Sends one response and records it as the type's latest (its nonce is the only non-stale one). */
  send(w: WatchState, out: Outgoing): void {
    w.sentNonce = out.nonce;
    w.sentVersion = out.version;
    w.responses++;
    this.write(out);
  }

  status(): ConnectionStatus {
    const types: Record<string, WatchStatus> = {};
    for (const [t, w] of this.watches) {
      types[t] = {
        wildcard: w.wildcard,
        names: [...w.names].sort(),
        resources: w.sent.size,
        sentVersion: w.sentVersion,
        sentNonce: w.sentNonce,
        ackedVersion: w.ackedVersion,
        ackedNonce: w.ackedNonce,
        synced: w.sentNonce === '' || w.ackedNonce === w.sentNonce,
        ...(w.lastNack ? { lastNack: w.lastNack } : {}),
        ...(w.lastError ? { lastError: w.lastError } : {}),
        responses: w.responses,
        staleNonces: w.staleNonces,
      };
    }
    return { id: this.id, proxyId: this.proxy.id, mode: this.mode, peer: this.peer, connectedAt: this.connectedAt.toISOString(), types };
  }
}
