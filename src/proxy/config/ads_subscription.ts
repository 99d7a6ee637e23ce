/**
 * Wires the xDS client (src/xds/client) to the XdsManager: wildcard CDS and LDS watches, EDS
 * and RDS watches whose names follow the clusters and listeners just applied (as Envoy's
 * subscriptions do), SDS for the secret names that ask for `ads` and that no static secret
 * provides (those naming a gRPC cluster go through ./sds_subscription.ts). The client's validator
 * callback is the XdsManager's validation, so a bad resource is NACKed and the previous config
 * keeps serving; the client keeps the last good state while the control plane is unreachable.
 */
import type { AdsClient, ResourceUpdate, Watch, WatchHandlers } from '../../xds/client/index.ts';
import { TYPE, type EnvoyJson } from '../../xds/types.ts';
import { log } from '../logger.ts';
import { secretRefs } from './sds_subscription.ts';
import type { XdsManager } from './xds_manager.ts';

function changes(u: ResourceUpdate): [string, EnvoyJson][] {
  const out: [string, EnvoyJson][] = [];
  for (const [n, v] of u.added) out.push([n, v.resource]);
  for (const [n, v] of u.changed) out.push([n, v.resource]);
  return out;
}

const STAT: Record<string, string> = { [TYPE.CLUSTER]: 'cluster_manager.cds', [TYPE.LISTENER]: 'listener_manager.lds', [TYPE.ROUTE]: 'http.rds', [TYPE.ENDPOINT]: 'cluster_manager.eds' };

/**
 * A watch's handlers that validate through the XdsManager (NACK on failure, previous config kept)
 * and apply what is accepted, counting Envoy's update_* stats. ADS and SDS streams share them, so
 * a secret from the agent lands exactly as one from the control plane.
 */
export function xdsWatchHandlers(xds: XdsManager, typeUrl: string, onApplied: () => void = () => {}, source = 'xDS'): WatchHandlers {
  const stat = STAT[typeUrl] ?? 'sds';
  return {
    // Async for LDS: new listener addresses are bound before the update is ACKed.
    validate: (u: ResourceUpdate) => xds.validateAndReserve(typeUrl, changes(u), [...u.removed]),
    onUpdate: (u: ResourceUpdate) => {
      xds.store.counter(`${stat}.update_attempt`).inc();
      xds.store.counter(`${stat}.update_success`).inc();
      xds.apply(typeUrl, changes(u), [...u.removed], u.version);
      onApplied();
    },
    onNack: (error: string) => {
      xds.store.counter(`${stat}.update_attempt`).inc();
      xds.store.counter(`${stat}.update_rejected`).inc();
      log.warn(`${source} ${typeUrl.split('.').pop()} rejected (NACK): ${error}`);
    },
  };
}

export interface AdsSubscription {
  /** Resolves on the first accepted response of the type (or never; callers add a timeout). */
  firstUpdate(typeUrl: string): Promise<void>;
  /** A non-subscription request on the stream (the agent's health report), repeated on reconnect. */
  report(typeUrl: string, errorDetail?: { code: number; message: string }): void;
  close(): void;
}

export function subscribeAds(client: AdsClient, xds: XdsManager, opts: { cds: boolean; lds: boolean }): AdsSubscription {
  const first = new Map<string, { seen: boolean; waiters: (() => void)[] }>();
  const markFirst = (t: string) => {
    const f = first.get(t) ?? { seen: false, waiters: [] };
    first.set(t, f);
    if (f.seen) return;
    f.seen = true;
    for (const w of f.waiters.splice(0)) w();
  };
  const watches = new Map<string, Watch>();
  const named = (typeUrl: string, names: string[]) => {
    const w = watches.get(typeUrl);
    if (w) w.setNames(names);
    else if (names.length) watches.set(typeUrl, client.watch(typeUrl, names, handlers(typeUrl)));
  };
  const follow = () => {
    named(TYPE.ENDPOINT, xds.clusters.edsNames());
    named(TYPE.ROUTE, xds.rdsNames());
    named(TYPE.SECRET, secretRefs(xds).ads);
  };
  const handlers = (typeUrl: string) =>
    xdsWatchHandlers(xds, typeUrl, () => {
      if (typeUrl === TYPE.CLUSTER || typeUrl === TYPE.LISTENER) follow();
      markFirst(typeUrl);
    });
  if (opts.cds) watches.set(TYPE.CLUSTER, client.watch(TYPE.CLUSTER, '*', handlers(TYPE.CLUSTER)));
  if (opts.lds) watches.set(TYPE.LISTENER, client.watch(TYPE.LISTENER, '*', handlers(TYPE.LISTENER)));
  follow();
  const connected = xds.store.gauge('control_plane.connected_state');
  client.on('connected', () => connected.set(1));
  client.on('disconnected', (e, retry) => {
    connected.set(0);
    log.warn(`xDS stream to control plane closed (${e?.message ?? 'ended'}); keeping last config, retrying in ${retry} ms`);
  });
  client.start();
  return {
    firstUpdate: (t) =>
      new Promise<void>((resolve) => {
        const f = first.get(t) ?? { seen: false, waiters: [] };
        first.set(t, f);
        if (f.seen) resolve();
        else f.waiters.push(resolve);
      }),
    report: (t, errorDetail) => client.report(t, errorDetail),
    close: () => client.close(),
  };
}
