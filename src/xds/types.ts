/**
 * xDS vocabulary shared by the ADS server, the proxy's xDS client and pilot's generators.
 *
 * Envoy resources travel inside tsmesh as plain objects in the proto3 JSON mapping with the
 * protos' own field names (snake_case) — the form of Envoy's YAML and of its /config_dump:
 * Durations as "5s", wrapper types (UInt32Value, BoolValue...) as bare values, enums by name,
 * google.protobuf.Any as `{ "@type": <type URL from ./type_urls.ts>, ...fields }`, Struct as plain
 * JSON, 64-bit integers as strings or numbers. src/xds/codec.ts turns them into protobuf bytes.
 */

import { RESOURCE } from './type_urls.ts';

/** The xDS resource types (kept under this name for the ADS machinery). */
export const TYPE = RESOURCE;
export type TypeUrl = (typeof TYPE)[keyof typeof TYPE];

/** Order in which a push sends types, so a client never sees a reference before its target. */
export const PUSH_ORDER: TypeUrl[] = [TYPE.CLUSTER, TYPE.ENDPOINT, TYPE.LISTENER, TYPE.ROUTE, TYPE.SECRET];

/** An Envoy message in the JSON form described above. */
export type EnvoyJson = Record<string, any>;

/** One named resource of one type. */
export interface NamedResource {
  name: string;
  resource: EnvoyJson;
}

/** Envoy's config.core.v3.Node as it arrives in the first DiscoveryRequest (snake_case). */
export interface NodeJson {
  id: string;
  cluster?: string;
  metadata?: Record<string, unknown>;
  locality?: { region?: string; zone?: string; sub_zone?: string };
  user_agent_name?: string;
  /** Envoy's BuildVersion ({version: {major_number, minor_number, patch}}); a tsmesh proxy sends its own. */
  user_agent_build_version?: unknown;
}

/**
 * What the ADS machinery needs of a connected client: an id. The generator's own model (pilot's
 * Proxy) extends it; the server carries it without reading anything else.
 */
export interface XdsProxy {
  readonly id: string;
}

/** What the ADS machinery needs of a snapshot (pilot's PushContext): the version it stands for. */
export interface XdsSnapshot {
  readonly version: string;
}

/**
 * Builds one type's resources for one client from one snapshot; `names` narrows to those names
 * when given. Generic so that src/xds knows nothing of what a snapshot or a proxy holds.
 */
export type Generator<C extends XdsSnapshot = XdsSnapshot, P extends XdsProxy = XdsProxy> = (push: C, proxy: P, typeUrl: TypeUrl, names?: string[]) => NamedResource[];
