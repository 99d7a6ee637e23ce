/**
 * The gRPC face of ADS: envoy.service.discovery.v3.AggregatedDiscoveryService for @grpc/grpc-js,
 * with (de)serializers built from Envoy's own protos. Both planes use it, so a real Envoy or a
 * proxyless gRPC client sees exactly the service they expect. SDS
 * (envoy.service.secret.v3.SecretDiscoveryService, what Istio's agent serves the proxy on a Unix
 * socket) carries the same DiscoveryRequest/Response messages, so it is the same methods under
 * another service name.
 *
 * Messages are plain objects with the protos' snake_case field names. Resources stay packed as
 * Any {type_url, value bytes}: the server hashes those bytes for versions, and the client
 * decodes them with codec.unpackAny only when it accepts them. The Node is converted to tsmesh's
 * JSON form (NodeJson) so metadata arrives as plain JSON rather than a protobuf Struct.
 */
import * as grpc from '@grpc/grpc-js';
import type protobuf from 'protobufjs';
import { decodeResource, encodeResource, type AnyBytes } from './codec.ts';
import { messageType } from './protos.ts';
import { splitResourceNames } from './server/request_names.ts';
import { tokenDeserializer, type TokenDeserializer } from './server/grpc_reader.ts';
import type { NodeJson } from './types.ts';

/** google.rpc.Status as carried in error_detail (a NACK). */
export interface RpcStatus {
  code: number;
  message: string;
}

/** envoy.service.discovery.v3.DiscoveryRequest (state of the world). */
export interface DiscoveryRequest {
  version_info: string;
  node?: NodeJson;
  resource_names: string[];
  type_url: string;
  response_nonce: string;
  error_detail?: RpcStatus;
}

/** envoy.service.discovery.v3.DiscoveryResponse (state of the world). */
export interface DiscoveryResponse {
  version_info: string;
  resources: AnyBytes[];
  type_url: string;
  nonce: string;
  control_plane?: { identifier: string };
}

/** envoy.service.discovery.v3.DeltaDiscoveryRequest (incremental). */
export interface DeltaDiscoveryRequest {
  node?: NodeJson;
  type_url: string;
  resource_names_subscribe: string[];
  resource_names_unsubscribe: string[];
  initial_resource_versions: Record<string, string>;
  response_nonce: string;
  error_detail?: RpcStatus;
}

/** envoy.service.discovery.v3.Resource: one versioned resource of a delta response. */
export interface DeltaResource {
  name: string;
  version: string;
  resource?: AnyBytes;
  aliases?: string[];
}

/** envoy.service.discovery.v3.DeltaDiscoveryResponse (incremental). */
export interface DeltaDiscoveryResponse {
  system_version_info: string;
  resources: DeltaResource[];
  type_url: string;
  removed_resources: string[];
  nonce: string;
  control_plane?: { identifier: string };
}

const PKG = 'envoy.service.discovery.v3';
const NODE = 'envoy.config.core.v3.Node';
/** Full service name; gRPC method paths are derived from it. */
export const ADS_SERVICE_NAME = `${PKG}.AggregatedDiscoveryService`;
/** Envoy's SDS service: StreamSecrets / DeltaSecrets with the discovery messages. */
export const SDS_SERVICE_NAME = 'envoy.service.secret.v3.SecretDiscoveryService';

// Defaults on, so absent repeated/string fields arrive as [] / '' and handlers need no guards.
const TO_OBJECT: protobuf.IConversionOptions = { longs: Number, enums: Number, defaults: true, arrays: true, objects: true };

function serializer<T extends { node?: NodeJson }>(typeName: string): (msg: T | Buffer) => Buffer {
  return (msg) => {
    // Already encoded: the server builds responses from resources framed once and shared by
    // every stream (src/xds/server/wire.ts).
    if (Buffer.isBuffer(msg)) return msg;
    const t = messageType(`${PKG}.${typeName}`);
    const obj: Record<string, unknown> = { ...msg };
    // Node metadata is a Struct: go through the codec's JSON mapping, then embed the message.
    if (msg.node) obj.node = messageType(NODE).decode(encodeResource(NODE, msg.node as Record<string, any>));
    // Our messages already have protobufjs's shapes (numbers for enums, Uint8Array values in
    // Any), so encode them as they are: fromObject and a Buffer copy would walk and copy every
    // resource of a multi-megabyte response again.
    const out = t.encode(obj).finish();
    return Buffer.isBuffer(out) ? out : Buffer.from(out.buffer, out.byteOffset, out.byteLength);
  };
}

function deserializer<T>(typeName: string): TokenDeserializer<T> {
  // Takes the server's request reader's tokens too (./server/grpc_reader.ts).
  return tokenDeserializer((bytes) => {
    const t = messageType(`${PKG}.${typeName}`);
    // A SotW request's long name lists (every ACK repeats them) are decoded once per distinct list.
    const split = typeName === 'DiscoveryRequest' ? splitResourceNames(bytes) : undefined;
    const decoded = t.decode(split ? split.rest : bytes) as protobuf.Message & { node?: protobuf.Message };
    const obj = t.toObject(decoded, TO_OBJECT) as Record<string, any>;
    if (split) obj.resource_names = split.names;
    if (decoded.node) {
      obj.node = decodeResource(NODE, messageType(NODE).encode(decoded.node).finish());
    } else {
      delete obj.node;
    }
    // Only code and message: Status.details would be views of bytes the request reader reuses.
    if (obj.error_detail) obj.error_detail = { code: obj.error_detail.code, message: obj.error_detail.message };
    dropNulls(obj);
    // Delta resources: unset message fields (ttl, metadata, ...) come back as null.
    if (Array.isArray(obj.resources)) for (const r of obj.resources) if (r && !('value' in r)) dropNulls(r);
    return obj as T;
  });
}

function dropNulls(o: Record<string, unknown>): void {
  for (const k of Object.keys(o)) if (o[k] === null) delete o[k];
}

function bidi<Req, Res>(service: string, method: string, req: string, res: string): grpc.MethodDefinition<Req, Res> {
  return {
    path: `/${service}/${method}`,
    requestStream: true,
    responseStream: true,
    requestSerialize: serializer<any>(req),
    requestDeserialize: deserializer<Req>(req),
    responseSerialize: serializer<any>(res),
    responseDeserialize: deserializer<Res>(res),
    originalName: method[0]!.toLowerCase() + method.slice(1),
  };
}

/** The service definition, for `server.addService(ADS_SERVICE, impl)`. */
export const ADS_SERVICE = {
  StreamAggregatedResources: bidi<DiscoveryRequest, DiscoveryResponse>(ADS_SERVICE_NAME, 'StreamAggregatedResources', 'DiscoveryRequest', 'DiscoveryResponse'),
  DeltaAggregatedResources: bidi<DeltaDiscoveryRequest, DeltaDiscoveryResponse>(
    ADS_SERVICE_NAME,
    'DeltaAggregatedResources',
    'DeltaDiscoveryRequest',
    'DeltaDiscoveryResponse',
  ),
} satisfies grpc.ServiceDefinition;

/** Server-side handlers for ADS_SERVICE. */
export interface AdsServiceHandlers extends grpc.UntypedServiceImplementation {
  StreamAggregatedResources: grpc.handleBidiStreamingCall<DiscoveryRequest, DiscoveryResponse | Buffer>;
  DeltaAggregatedResources: grpc.handleBidiStreamingCall<DeltaDiscoveryRequest, DeltaDiscoveryResponse | Buffer>;
}

/** A typed client stub for ADS (what makeGenericClientConstructor builds, with its methods typed). */
export interface AdsServiceClient extends grpc.Client {
  StreamAggregatedResources(options?: grpc.CallOptions): grpc.ClientDuplexStream<DiscoveryRequest, DiscoveryResponse>;
  DeltaAggregatedResources(options?: grpc.CallOptions): grpc.ClientDuplexStream<DeltaDiscoveryRequest, DeltaDiscoveryResponse>;
}

/** Constructor for ADS client stubs. */
export const AdsServiceClientConstructor = grpc.makeGenericClientConstructor(
  ADS_SERVICE,
  'AggregatedDiscoveryService',
) as unknown as new (address: string, credentials: grpc.ChannelCredentials, options?: grpc.ClientOptions) => AdsServiceClient;

/** Opens an ADS client stub to `address` ("host:port"), plaintext unless credentials are given. */
export function newAdsServiceClient(address: string, credentials = grpc.credentials.createInsecure(), options?: grpc.ClientOptions): AdsServiceClient {
  return new AdsServiceClientConstructor(address, credentials, options);
}

/** The SDS service definition, for `server.addService(SDS_SERVICE, impl)` (Istio's agent side). */
export const SDS_SERVICE = {
  StreamSecrets: bidi<DiscoveryRequest, DiscoveryResponse>(SDS_SERVICE_NAME, 'StreamSecrets', 'DiscoveryRequest', 'DiscoveryResponse'),
  DeltaSecrets: bidi<DeltaDiscoveryRequest, DeltaDiscoveryResponse>(SDS_SERVICE_NAME, 'DeltaSecrets', 'DeltaDiscoveryRequest', 'DeltaDiscoveryResponse'),
} satisfies grpc.ServiceDefinition;

/** Server-side handlers for SDS_SERVICE. */
export interface SdsServiceHandlers extends grpc.UntypedServiceImplementation {
  StreamSecrets: grpc.handleBidiStreamingCall<DiscoveryRequest, DiscoveryResponse | Buffer>;
  DeltaSecrets: grpc.handleBidiStreamingCall<DeltaDiscoveryRequest, DeltaDiscoveryResponse | Buffer>;
}

/** A typed client stub for SDS. */
export interface SdsServiceClient extends grpc.Client {
  StreamSecrets(options?: grpc.CallOptions): grpc.ClientDuplexStream<DiscoveryRequest, DiscoveryResponse>;
  DeltaSecrets(options?: grpc.CallOptions): grpc.ClientDuplexStream<DeltaDiscoveryRequest, DeltaDiscoveryResponse>;
}

/** Constructor for SDS client stubs. */
export const SdsServiceClientConstructor = grpc.makeGenericClientConstructor(SDS_SERVICE, 'SecretDiscoveryService') as unknown as new (
  address: string,
  credentials: grpc.ChannelCredentials,
  options?: grpc.ClientOptions,
) => SdsServiceClient;

/** Opens an SDS client stub to `address` ("host:port" or "unix:/path"), plaintext unless credentials are given. */
export function newSdsServiceClient(address: string, credentials = grpc.credentials.createInsecure(), options?: grpc.ClientOptions): SdsServiceClient {
  return new SdsServiceClientConstructor(address, credentials, options);
}
