/**
 * Loads Envoy's own v3 protos (shipped in @grpc/grpc-js-xds/deps) into one protobufjs Root, so
 * both planes encode exactly what Envoy would. Loaded lazily once per process: parsing ~400 proto
 * files takes a few hundred milliseconds.
 */
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import protobuf from 'protobufjs';

const require = createRequire(import.meta.url);
const depsDir = join(dirname(require.resolve('@grpc/grpc-js-xds/package.json')), 'deps');

/** Include roots, in the order protoc would search them. */
export const PROTO_INCLUDE_DIRS = [
  ...['envoy-api', 'xds', 'googleapis', 'protoc-gen-validate'].map((d) => join(depsDir, d)),
  // descriptor.proto and friends ship with protobufjs itself.
  dirname(require.resolve('protobufjs/package.json')),
];

/**
 * Entry protos. Their imports pull in the rest. Every typed_config tsmesh produces or accepts
 * must be reachable from here, or Any packing fails with "unknown type".
 */
const ENTRY_PROTOS = [
  'envoy/config/bootstrap/v3/bootstrap.proto',
  'envoy/service/discovery/v3/ads.proto',
  'envoy/service/discovery/v3/discovery.proto',
  'envoy/service/status/v3/csds.proto',
  'envoy/admin/v3/config_dump.proto',
  'envoy/config/listener/v3/listener.proto',
  'envoy/config/route/v3/route.proto',
  'envoy/config/cluster/v3/cluster.proto',
  'envoy/config/endpoint/v3/endpoint.proto',
  'envoy/extensions/transport_sockets/tls/v3/tls.proto',
  'envoy/extensions/transport_sockets/tls/v3/secret.proto',
  'envoy/extensions/transport_sockets/raw_buffer/v3/raw_buffer.proto',
  'envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.proto',
  'envoy/extensions/filters/network/tcp_proxy/v3/tcp_proxy.proto',
  'envoy/extensions/filters/network/rbac/v3/rbac.proto',
  'envoy/extensions/filters/http/router/v3/router.proto',
  'envoy/extensions/filters/http/fault/v3/fault.proto',
  'envoy/extensions/filters/http/cors/v3/cors.proto',
  'envoy/extensions/filters/http/rbac/v3/rbac.proto',
  'envoy/extensions/path/match/uri_template/v3/uri_template_match.proto',
  'envoy/extensions/filters/http/jwt_authn/v3/config.proto',
  'envoy/extensions/filters/http/ext_authz/v3/ext_authz.proto',
  'envoy/service/auth/v3/external_auth.proto',
  'envoy/extensions/filters/http/local_ratelimit/v3/local_rate_limit.proto',
  'envoy/extensions/filters/http/grpc_stats/v3/config.proto',
  'envoy/extensions/filters/listener/tls_inspector/v3/tls_inspector.proto',
  'envoy/extensions/filters/listener/http_inspector/v3/http_inspector.proto',
  'envoy/extensions/filters/listener/original_dst/v3/original_dst.proto',
  'envoy/extensions/upstreams/http/v3/http_protocol_options.proto',
  'envoy/extensions/access_loggers/file/v3/file.proto',
  'envoy/extensions/access_loggers/stream/v3/stream.proto',
  'envoy/extensions/load_balancing_policies/round_robin/v3/round_robin.proto',
  'envoy/extensions/load_balancing_policies/least_request/v3/least_request.proto',
  'envoy/extensions/load_balancing_policies/ring_hash/v3/ring_hash.proto',
  'envoy/extensions/load_balancing_policies/maglev/v3/maglev.proto',
  'envoy/extensions/load_balancing_policies/random/v3/random.proto',
  'envoy/extensions/clusters/aggregate/v3/cluster.proto',
  'envoy/extensions/clusters/dynamic_forward_proxy/v3/cluster.proto',
  'envoy/extensions/filters/http/dynamic_forward_proxy/v3/dynamic_forward_proxy.proto',
  'envoy/extensions/request_id/uuid/v3/uuid.proto',
  'envoy/extensions/tracers/opentelemetry/resource_detectors/v3/environment_resource_detector.proto',
  'envoy/config/trace/v3/zipkin.proto',
  'envoy/config/trace/v3/opentelemetry.proto',
  'envoy/extensions/stat_sinks/wasm/v3/wasm.proto',
  'envoy/type/matcher/v3/string.proto',
  'envoy/extensions/filters/http/header_to_metadata/v3/header_to_metadata.proto',
  'envoy/extensions/retry/host/previous_hosts/v3/previous_hosts.proto',
  'envoy/extensions/retry/host/omit_host_metadata/v3/omit_host_metadata_config.proto',
  'envoy/extensions/retry/priority/previous_priorities/v3/previous_priorities_config.proto',
  'envoy/extensions/filters/http/grpc_web/v3/grpc_web.proto',
  'envoy/extensions/filters/network/direct_response/v3/config.proto',
  'envoy/extensions/transport_sockets/tcp_stats/v3/tcp_stats.proto',
  'udpa/type/v1/typed_struct.proto',
  'xds/type/v3/typed_struct.proto',
  'google/protobuf/wrappers.proto',
  'google/protobuf/struct.proto',
  'google/protobuf/duration.proto',
  'google/protobuf/timestamp.proto',
  'google/protobuf/empty.proto',
];

/**
 * Envoy messages whose .proto files @grpc/grpc-js-xds does not ship, transcribed with Envoy's
 * field numbers (only the fields tsmesh reads).
 */
const INLINE_PROTOS = [
  // envoy/extensions/access_loggers/filters/cel/v3/cel.proto (Istio's Telemetry filter.expression).
  `syntax = "proto3";
   package envoy.extensions.access_loggers.filters.cel.v3;
   message ExpressionFilter { string expression = 1; }`,
  // istio/pkg/dns/proto/nds.proto: the name table istiod sends the agent (NDS).
  `syntax = "proto3";
   package istio.networking.nds.v1;
   message NameTable {
     message NameInfo { repeated string ips = 1; string registry = 2; string shortname = 3; string namespace = 4; }
     map<string, NameInfo> table = 1;
   }`,
];

let root: protobuf.Root | undefined;
/** name or type URL -> Type: Root.lookup walks namespaces, and every Any packed or unpacked asks. */
let types = new Map<string, protobuf.Type>();

/** The shared Root with every Envoy type tsmesh uses (field names kept in snake_case). */
export function envoyRoot(): protobuf.Root {
  if (root) return root;
  const r = new protobuf.Root();
  r.resolvePath = (origin: string, target: string) => {
    // protobufjs carries google/protobuf/*.proto as bundled JSON; keep the bare name to hit it.
    if (target.startsWith('google/protobuf/') && target in (protobuf as any).common) return target;
    for (const dir of PROTO_INCLUDE_DIRS) {
      const p = join(dir, target);
      if (existsSync(p)) return p;
    }
    return protobuf.util.path.resolve(origin, target);
  };
  r.loadSync(ENTRY_PROTOS, { keepCase: true });
  for (const src of INLINE_PROTOS) protobuf.parse(src, r, { keepCase: true });
  r.resolveAll();
  root = r;
  return r;
}

/**
 * Drops the shared Root so it can be garbage collected (~15 MB of heap); the next envoyRoot()
 * loads it again. A proxy run from a purely static bootstrap needs the protos only to validate
 * that bootstrap at startup, never on the data path.
 */
export function releaseEnvoyRoot(): void {
  root = undefined;
  types = new Map();
}

/** Looks up a message type by full name (with or without the leading dot, or a type URL). */
export function messageType(nameOrUrl: string): protobuf.Type {
  const hit = types.get(nameOrUrl);
  if (hit) return hit;
  const t = lookupType(nameOrUrl);
  types.set(nameOrUrl, t);
  return t;
}

function lookupType(nameOrUrl: string): protobuf.Type {
  const name = nameOrUrl.includes('/') ? nameOrUrl.slice(nameOrUrl.lastIndexOf('/') + 1) : nameOrUrl;
  const t = envoyRoot().lookup(name.startsWith('.') ? name : '.' + name);
  if (!(t instanceof protobuf.Type)) throw new Error(`unknown protobuf message type ${name}`);
  return t;
}
