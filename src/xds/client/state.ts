/**
 * Per-type client state: what is subscribed, what was accepted, and how one response (SotW or
 * delta) turns into a proposed {@link ResourceUpdate}. Pure bookkeeping, no I/O, so the rules
 * of the xDS spec live in one place:
 * - SotW Listener and Cluster responses carry the whole set: a held resource missing from one
 *   is removed. RouteConfiguration, ClusterLoadAssignment and Secret responses need not carry
 *   every subscribed name, so absence means nothing ("xDS REST and gRPC protocol", Resource
 *   types / state of the world).
 * - Delta responses name their removals in removed_resources and version each resource.
 */
import { unpackAny, type AnyBytes } from '../codec.ts';
import { messageType } from '../protos.ts';
import { TYPE, type EnvoyJson } from '../types.ts';
import type { DeltaDiscoveryResponse, DiscoveryResponse } from '../grpc.ts';
import type { ResourceNames, ResourceUpdate, VersionedResource, WatchHandlers } from './types.ts';

/** Types whose SotW responses are complete: absence from a response means removal. */
export const FULL_STATE_TYPES: ReadonlySet<string> = new Set([TYPE.LISTENER, TYPE.CLUSTER]);

/** A resource's name: `name`, or `cluster_name` for a ClusterLoadAssignment. */
export function resourceName(json: EnvoyJson): string {
  return typeof json.name === 'string' ? json.name : typeof json.cluster_name === 'string' ? json.cluster_name : '';
}

interface Held extends VersionedResource {
  /** The wire bytes, to tell a real change from a resend. */
  bytes: Buffer;
}

/** A proposed update plus what to commit if it is accepted. */
export interface Plan {
  update: ResourceUpdate;
  /** Decode errors; non-empty means NACK without asking the validator. */
  errors: string[];
  next: Map<string, Held>;
}

/** Everything the client tracks for one watched type. Survives reconnects. */
export class TypeState {
  wildcard = false;
  names = new Set<string>();
  held = new Map<string, Held>();
  /** Last accepted SotW version_info (sent back in ACKs, NACKs and on reconnect). */
  versionInfo = '';
  /** Last nonce received on the current stream ('' after a reconnect). */
  nonce = '';
  /** Whether this type was requested on the current stream yet. */
  requested = false;

  constructor(
    readonly typeUrl: string,
    names: ResourceNames,
    public handlers: WatchHandlers,
  ) {
    this.setNames(names);
  }

  /** Replaces the subscription; returns the name-level changes and the held names dropped. */
  setNames(names: ResourceNames): { subscribe: string[]; unsubscribe: string[]; dropped: string[] } {
    const wasWildcard = this.wildcard;
    const before = this.names;
    this.wildcard = names === '*';
    this.names = new Set(names === '*' ? [] : names);
    const subscribe = [...this.names].filter((n) => !before.has(n));
    const unsubscribe = [...before].filter((n) => !this.names.has(n));
    if (this.wildcard && !wasWildcard) subscribe.push('*');
    if (wasWildcard && !this.wildcard) unsubscribe.push('*');
    const dropped = this.wildcard ? [] : [...this.held.keys()].filter((n) => !this.names.has(n));
    for (const n of dropped) this.held.delete(n);
    return { subscribe, unsubscribe, dropped };
  }

  /**
   * A named watch with no names is not requested at all: an empty first request would read as
   * the legacy wildcard, in SotW and delta alike.
   */
  get empty(): boolean {
    return !this.wildcard && this.names.size === 0;
  }

  subscribes(name: string): boolean {
    return this.wildcard || this.names.has(name);
  }

  /** Resource names as a SotW request carries them (empty = wildcard, the legacy form). */
  sotwNames(): string[] {
    return this.wildcard ? [] : [...this.names].sort();
  }

  /** Known per-resource versions, for a delta reconnect's initial_resource_versions. */
  versions(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const [n, h] of this.held) out[n] = h.version;
    return out;
  }

  snapshot(): ReadonlyMap<string, VersionedResource> {
    return publicView(this.held);
  }

  planSotw(resp: DiscoveryResponse): Plan {
    const errors: string[] = [];
    const next = new Map(this.held);
    const seen = new Set<string>();
    const added = new Map<string, VersionedResource>();
    const changed = new Map<string, VersionedResource>();
    for (const any of resp.resources) {
      const d = decode(this.typeUrl, any, errors);
      if (!d || !this.subscribes(d.name)) continue;
      seen.add(d.name);
      this.upsert(next, d.name, { version: resp.version_info, resource: d.resource, bytes: Buffer.from(any.value) }, added, changed);
    }
    const removed: string[] = [];
    if (FULL_STATE_TYPES.has(this.typeUrl)) {
      for (const n of this.held.keys()) if (!seen.has(n)) removed.push(n);
    }
    for (const n of removed) next.delete(n);
    return { errors, next, update: { typeUrl: this.typeUrl, version: resp.version_info, added, changed, removed, resources: publicView(next) } };
  }

  planDelta(resp: DeltaDiscoveryResponse): Plan {
    const errors: string[] = [];
    const next = new Map(this.held);
    const added = new Map<string, VersionedResource>();
    const changed = new Map<string, VersionedResource>();
    for (const r of resp.resources) {
      if (!r.resource) continue; // a name-only entry (e.g. an alias update) carries nothing to apply
      const d = decode(this.typeUrl, r.resource, errors);
      if (!d) continue;
      const name = r.name || d.name;
      this.upsert(next, name, { version: r.version, resource: d.resource, bytes: Buffer.from(r.resource.value) }, added, changed);
    }
    const removed = resp.removed_resources.filter((n) => next.has(n));
    for (const n of removed) next.delete(n);
    return { errors, next, update: { typeUrl: this.typeUrl, version: resp.system_version_info, added, changed, removed, resources: publicView(next) } };
  }

  private upsert(next: Map<string, Held>, name: string, h: Held, added: Map<string, VersionedResource>, changed: Map<string, VersionedResource>): void {
    const prev = this.held.get(name);
    if (!prev) added.set(name, { version: h.version, resource: h.resource });
    else if (!prev.bytes.equals(h.bytes)) changed.set(name, { version: h.version, resource: h.resource });
    next.set(name, h);
  }
}

function decode(typeUrl: string, any: AnyBytes, errors: string[]): { name: string; resource: EnvoyJson } | undefined {
  if (any.type_url !== typeUrl) {
    errors.push(`resource of type ${any.type_url} in a ${typeUrl} response`);
    return undefined;
  }
  try {
    const resource = unpackAny(any);
    const name = resourceName(resource);
    // A message with no name field is its type's one resource (Istio's NDS NameTable): held as ''.
    if (!name && !unnamedType(typeUrl)) {
      errors.push(`${typeUrl} resource without a name`);
      return undefined;
    }
    return { name, resource };
  } catch (e) {
    errors.push(`cannot decode ${typeUrl}: ${(e as Error).message}`);
    return undefined;
  }
}

function unnamedType(typeUrl: string): boolean {
  const fields = messageType(typeUrl).fields;
  return !('name' in fields) && !('cluster_name' in fields);
}

function publicView(m: Map<string, Held>): ReadonlyMap<string, VersionedResource> {
  const out = new Map<string, VersionedResource>();
  for (const [n, h] of m) out.set(n, { version: h.version, resource: h.resource });
  return out;
}
