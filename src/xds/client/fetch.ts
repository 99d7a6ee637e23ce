/**
 * One-shot fetch: connect, subscribe to one type, take the first accepted response, close.
 * For tests and debugging (`tsmesh` debug commands), where a watch would be ceremony.
 */
import { TYPE, type NodeJson } from '../types.ts';
import { AdsClient } from './ads_client.ts';
import type { ResourceNames, ResourceUpdate } from './types.ts';

export interface FetchOptions {
  address: string;
  node: NodeJson;
  typeUrl: string;
  /** Defaults to '*' for Listener and Cluster, and is required for other types. */
  names?: ResourceNames;
  mode?: 'sotw' | 'delta';
  /** Gives up after this long (ms). Default 5000. */
  timeoutMs?: number;
}

/** Resolves with the first accepted update of `typeUrl`; rejects on timeout or a NACKed response. */
export function fetchResources(opts: FetchOptions): Promise<ResourceUpdate> {
  const names = opts.names ?? (opts.typeUrl === TYPE.LISTENER || opts.typeUrl === TYPE.CLUSTER ? '*' : undefined);
  if (names === undefined) return Promise.reject(new Error(`fetchResources: names are required for ${opts.typeUrl}`));
  const client = new AdsClient({ address: opts.address, node: opts.node, mode: opts.mode ?? 'sotw', backoff: { initialMs: 100, maxMs: 1000 } });
  return new Promise<ResourceUpdate>((resolve, reject) => {
    const timer = setTimeout(() => finish(new Error(`fetchResources: no ${opts.typeUrl} response from ${opts.address} within ${opts.timeoutMs ?? 5000} ms`)), opts.timeoutMs ?? 5000);
    const finish = (err: Error | undefined, update?: ResourceUpdate) => {
      clearTimeout(timer);
      client.close();
      if (err) reject(err);
      else resolve(update!);
    };
    client.watch(opts.typeUrl, names, {
      onUpdate: (u) => finish(undefined, u),
      onNack: (e) => finish(new Error(`fetchResources: rejected ${opts.typeUrl}: ${e}`)),
    });
    client.start();
  });
}
