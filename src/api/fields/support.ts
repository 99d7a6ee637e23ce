/**
 * What tsmesh does with every field of every Istio kind: the Istio side of "accepted means
 * enforced". A field is `enforced` only when the pilot translates it AND the proxy honours what
 * it becomes (src/proxy/config/envoy_support.ts); otherwise it is `not_enforced` with the issue
 * that closes the gap, and validation warns when a resource sets it (TSMESH_ERR_UNSUPPORTED_FIELD,
 * ../validation/unsupported_fields.ts). `n/a` fields have no effect on traffic by Istio's own
 * definition. docs/istio-support.md is generated from this table.
 *
 * Keys are paths in the generated field tree (istio_fields.gen.ts): `Kind.spec.a.b`, list items
 * without an index, map values as `*`. Rules that keep a new CRD field from slipping through
 * (test/api/istio_support.test.ts): an `enforced` key names one leaf; `not_enforced` and `n/a`
 * keys cover their whole subtree; every leaf is covered exactly once.
 */
import { MAP_VALUES, type FieldTree } from './crd_tree.ts';
import { SPEC_FIELDS } from './istio_fields.gen.ts';

/** The issues that close the gaps, by number (see `issues show N`). */
export const ISSUES: Record<number, string> = {
  7: 'correctness',
  9: 'Security I: mTLS',
  10: 'Security II: authorization and JWT',
  11: 'resilience',
  12: 'telemetry',
  14: 'capture and multi-host',
  15: 'Kubernetes',
};

/** Why a field set in a resource does nothing yet. */
export interface Gap {
  issue: number;
  reason: string;
}

export type Support =
  /** `gap` says which values of an enforced leaf are not (e.g. tls.mode ISTIO_MUTUAL). */
  | { status: 'enforced'; note?: string; gap?: (value: unknown, mapKeys: readonly string[]) => Gap | undefined }
  | ({ status: 'not_enforced' } & Gap)
  | { status: 'n/a'; reason: string };

const TABLE: Record<string, Support> = {};

/** Marks leaves `prefix.f` for each name in `fields` (space-separated) enforced. */
function enforced(prefix: string, fields: string, extra: Omit<Extract<Support, { status: 'enforced' }>, 'status'> = {}): void {
  for (const f of fields.split(/\s+/).filter(Boolean)) TABLE[f === '.' ? prefix : `${prefix}.${f}`] = { status: 'enforced', ...extra };
}
function gap(path: string, issue: number, reason: string): void {
  TABLE[path] = { status: 'not_enforced', issue, reason };
}
function na(path: string, reason: string): void {
  TABLE[path] = { status: 'n/a', reason };
}
/** An enforced leaf whose listed values are not. */
function enforcedExcept(path: string, notEnforced: Record<string, Gap>, note: string): void {
  TABLE[path] = { status: 'enforced', note, gap: (v) => (typeof v === 'string' ? notEnforced[v] : undefined) };
}

// ---------- VirtualService ----------
{
  const vs = 'VirtualService.spec';
  enforced(vs, 'exportTo gateways hosts');
  const h = `${vs}.http`;
  enforced(h, 'name timeout mirrorPercent mirrorPercentage.value');
  enforced(`${h}.corsPolicy`, 'allowCredentials allowHeaders allowMethods allowOrigin allowOrigins.exact allowOrigins.prefix allowOrigins.regex exposeHeaders maxAge unmatchedPreflights');
  enforced(`${h}.delegate`, 'name namespace');
  enforced(`${h}.directResponse`, 'body.bytes body.string status');
  enforced(`${h}.fault.abort`, 'grpcStatus httpStatus percentage.value');
  gap(`${h}.fault.abort.http2Error`, 11, 'the pilot does not translate HTTP/2 error aborts; no abort happens');
  enforced(`${h}.fault.delay`, 'fixedDelay percent percentage.value');
  gap(`${h}.fault.delay.exponentialDelay`, 11, 'Envoy has no exponential delay and the pilot drops it (as Istio does); no delay happens');
  for (const where of [`${h}.headers`, `${h}.route.headers`]) enforced(where, 'request.add request.remove request.set response.add response.remove response.set');
  for (const m of ['authority', 'method', 'scheme', 'uri']) enforced(`${h}.match.${m}`, 'exact prefix regex');
  for (const m of ['headers', 'withoutHeaders']) enforced(`${h}.match.${m}.${MAP_VALUES}`, 'exact prefix regex', { note: '@request.auth.claims.<name> keys match the claims of a JWT that a RequestAuthentication verified (on gateways, as Istio supports it)' });
  enforced(`${h}.match.queryParams.${MAP_VALUES}`, 'exact prefix regex');
  enforced(`${h}.match`, 'gateways ignoreUriCase name port sourceLabels sourceNamespace');
  gap(`${h}.match.statPrefix`, 12, 'per-route stats are not kept (the proxy accepts stat_prefix and ignores it)');
  enforced(`${h}.mirror`, 'host port.number subset');
  enforced(h, 'mirror_percent');
  enforced(`${h}.mirrors`, 'destination.host destination.port.number destination.subset percentage.value');
  enforced(`${h}.redirect`, 'authority derivePort port prefixRewrite redirectCode scheme uri');
  enforced(`${h}.retries`, 'attempts backoff perTryTimeout retryIgnorePreviousHosts retryOn');
  enforced(`${h}.retries`, 'retryRemoteLocalities', { note: 'a retry goes to the next locality priority after two attempts (previous_priorities, update_frequency 2, as Istio)' });
  enforced(`${h}.rewrite`, 'authority uri uriRegexRewrite.match uriRegexRewrite.rewrite');
  enforced(`${h}.route`, 'destination.host destination.port.number destination.subset weight');
  enforced(`${vs}.tcp.match`, 'destinationSubnets gateways port sourceLabels sourceNamespace');
  gap(`${vs}.tcp.match.sourceSubnet`, 7, 'Istio itself does not implement a source-subnet match (the route matches every source); tsmesh says so instead of ignoring it');
  enforced(`${vs}.tcp.route`, 'destination.host destination.port.number destination.subset weight');
  enforced(`${vs}.tls.match`, 'destinationSubnets gateways port sniHosts sourceLabels sourceNamespace');
  enforced(`${vs}.tls.route`, 'destination.host destination.port.number destination.subset weight');
}

// ---------- DestinationRule ----------
const NO_SECRETS: Gap = { issue: 9, reason: 'only credentialName (one Secret per server) is resolved from Secrets yet' };

/** For fields the pilot translates into something the proxy accepts but does not enforce yet (envoy_support.ts not_yet_honoured). */
const IGNORED = 'the proxy accepts the cluster carrying it and ignores the setting';

/** A DestinationRule traffic policy, at the rule, subset and port levels. */
function trafficPolicy(tp: string, portLevel: boolean): void {
  const cp = `${tp}.connectionPool`;
  enforced(`${cp}.tcp`, 'connectTimeout');
  // Envoy queues HTTP requests over max_connections as pending too; only the pending limit answers 503.
  enforced(`${cp}.tcp`, 'maxConnections', { note: 'across all hosts of the destination, as Envoy; for HTTP a request over it waits in the pending queue (http1MaxPendingRequests)' });
  enforced(`${cp}.tcp`, 'maxConnectionDuration', { note: 'HTTP ports: an upstream connection drains after it (no new requests, in-flight ones finish); TCP ports: the connection is closed after it (tcp_proxy max_downstream_connection_duration, single-destination routes as Istio)' });
  enforced(`${cp}.tcp`, 'idleTimeout', { note: 'TCP ports: tcp_proxy idle_timeout on routes to a single destination, as Istio' });
  enforced(`${cp}.tcp.tcpKeepalive`, 'time', { note: 'TCP keep-alive on upstream connections, first probe after `time`' });
  gap(`${cp}.tcp.tcpKeepalive.probes`, 11, "Node sets only the keep-alive idle time of a socket; the probe count is the OS's (the proxy accepts it and ignores it)");
  gap(`${cp}.tcp.tcpKeepalive.interval`, 11, "Node sets only the keep-alive idle time of a socket; the probe interval is the OS's (the proxy accepts it and ignores it)");
  enforced(`${cp}.http`, 'h2UpgradePolicy http2MaxRequests idleTimeout maxConcurrentStreams maxRetries');
  enforced(`${cp}.http`, 'maxRequestsPerConnection', { note: 'an upstream connection is closed after this many requests (HTTP/2: streams)' });
  enforced(`${cp}.http`, 'http1MaxPendingRequests', { note: 'requests waiting for a connection, across all hosts; beyond it 503 with x-envoy-overloaded (flag UO)' });
  enforced(`${cp}.http`, 'useClientProtocol', { note: "each request goes upstream in the client's protocol (HTTP/1.1 or HTTP/2); ports declared HTTP/2 or gRPC stay HTTP/2" });
  gap(`${cp}.http.http2KeepAlive`, 11, 'HTTP/2 keepalive pings are not sent');

  const lb = `${tp}.loadBalancer`;
  enforced(lb, 'simple', {
    note: 'ROUND_ROBIN, LEAST_REQUEST, LEAST_CONN, RANDOM; PASSTHROUGH: an ORIGINAL_DST cluster, each connection or request goes to the address the caller dialled (needs capture, INTERCEPTION_MODE REDIRECT or TPROXY; without it the cluster has no hosts and answers 503)',
  });
  enforced(`${lb}.consistentHash`, 'httpHeaderName httpQueryParameterName useSourceIp minimumRingSize ringHash.minimumRingSize maglev.tableSize httpCookie.name');
  gap(`${lb}.consistentHash.httpCookie.path`, 11, 'the proxy hashes on an existing cookie only and does not generate one (it accepts the cookie path and ignores it)');
  gap(`${lb}.consistentHash.httpCookie.ttl`, 11, 'the proxy hashes on an existing cookie only and does not generate one (it accepts the cookie ttl and ignores it)');
  gap(`${lb}.consistentHash.httpCookie.attributes`, 11, 'the pilot does not translate cookie attributes');
  enforced(`${lb}.localityLbSetting`, 'enabled distribute.from distribute.to failover.from failover.to failoverPriority', {
    note: "distribute sets locality weights; failover and failoverPriority (with outlierDetection, as Istio) set priorities, and traffic spills to the next priority as the local one loses healthy hosts (Envoy's overprovisioning factor 1.4)",
  });
  enforced(lb, 'warmup.duration warmup.aggression warmup.minimumPercent warmupDurationSecs', { note: "slow start (Envoy's slow_start_config) for ROUND_ROBIN and LEAST_REQUEST: a new endpoint's weight ramps up over the duration" });
  gap(`${lb}.zoneAwareLbSetting`, 11, 'zone-aware routing is not implemented');
  gap(`${lb}.backendUtilization`, 11, 'utilization-based load balancing is not implemented');

  enforced(`${tp}.outlierDetection`, 'consecutive5xxErrors consecutiveGatewayErrors consecutiveLocalOriginFailures splitExternalLocalOriginErrors interval baseEjectionTime maxEjectionPercent');
  enforced(`${tp}.outlierDetection`, 'consecutiveErrors', { note: 'deprecated: counts gateway errors (502, 503, 504), as istiod maps it' });
  enforced(`${tp}.outlierDetection`, 'minHealthPercent', { note: "Envoy's panic threshold: below it the load balancer uses every host, ejected or not; 0 (the default) turns panic off" });
  gap(`${tp}.outlierDetection.outlierDetectionHttpErrorCodes`, 11, 'the pilot does not translate custom error codes for outlier detection (5xx and gateway errors count)');

  const tls = `${tp}.tls`;
  enforced(tls, 'mode', { note: 'ISTIO_MUTUAL uses the workload certificate the agent fetches from the control plane\'s CA, and checks the destination\'s SPIFFE identities' });
  enforced(tls, 'caCertificates clientCertificate privateKey insecureSkipVerify sni subjectAltNames');
  enforced(tls, 'credentialName', { note: "a Kubernetes Secret in the proxy's namespace (tls.crt, tls.key, ca.crt), served over SDS" });
  gap(`${tls}.caCrl`, 9, 'certificate revocation lists are not checked');

  if (portLevel) {
    enforced(`${tp}.port`, 'number');
  } else {
    gap(`${tp}.proxyProtocol`, 11, 'the PROXY protocol header is not sent upstream');
    enforced(`${tp}.retryBudget`, 'percent minRetryConcurrency', { note: 'replaces the default budget tsmesh puts on every outbound cluster (20%, min 3; `tsmesh controlplane --retry-budget off` for none)' });
    gap(`${tp}.retryBudget.budgetInterval`, 11, 'the budget counts requests active and pending now (Envoy\'s default); a time window is not implemented');
    gap(`${tp}.tunnel`, 14, 'tunnelling over HTTP CONNECT is not implemented');
  }
}
{
  const dr = 'DestinationRule.spec';
  enforced(dr, 'exportTo host workloadSelector.matchLabels subsets.labels subsets.name');
  for (const tp of [`${dr}.trafficPolicy`, `${dr}.subsets.trafficPolicy`]) {
    trafficPolicy(tp, false);
    trafficPolicy(`${tp}.portLevelSettings`, true);
  }
}

// ---------- Gateway ----------
{
  const s = 'Gateway.spec.servers';
  enforced('Gateway.spec', 'selector');
  enforced(s, 'hosts port.name port.number port.protocol');
  na(`${s}.name`, 'a label for the server; no effect on traffic');
  na(`${s}.port.targetPort`, 'Istio ignores it for Gateways (the gateway Service decides the target port)');
  gap(`${s}.bind`, 14, 'gateway listeners bind the gateway\'s own address; per-server bind addresses are not translated');
  gap(`${s}.defaultEndpoint`, 14, 'not translated for Gateway servers');
  const t = `${s}.tls`;
  enforced(t, 'mode', { note: 'SIMPLE, MUTUAL, OPTIONAL_MUTUAL, PASSTHROUGH, AUTO_PASSTHROUGH; ISTIO_MUTUAL with the gateway\'s workload certificate, admitting mesh clients only' });
  enforced(t, 'caCertificates cipherSuites httpsRedirect maxProtocolVersion minProtocolVersion privateKey serverCertificate subjectAltNames');
  enforced(t, 'credentialName', { note: "a Kubernetes Secret (kubernetes.io/tls, or generic with ca.crt) in the gateway's namespace, from the config directory; replacing it rotates the certificate" });
  for (const f of ['credentialNames', 'caCertCredentialName']) gap(`${t}.${f}`, NO_SECRETS.issue, NO_SECRETS.reason);
  gap(`${t}.tlsCertificates`, 9, 'several certificates per server are not translated');
  gap(`${t}.caCrl`, 9, 'certificate revocation lists are not checked');
  gap(`${t}.verifyCertificateHash`, 9, 'client certificate pinning is not implemented by the proxy');
  gap(`${t}.verifyCertificateSpki`, 9, 'client certificate pinning is not implemented by the proxy');
  gap(`${t}.ecdhCurves`, 9, 'ECDH curves are not translated');
  gap(`${t}.insecureSkipVerify`, 9, 'not translated for server TLS');
}

// ---------- ServiceEntry, WorkloadEntry, WorkloadGroup ----------
const NO_IDENTITY: Gap = { issue: 9, reason: 'a ServiceEntry\'s subjectAltNames do not reach the SAN check of mesh mTLS yet' };
function workloadEntry(prefix: string): void {
  enforced(prefix, 'address labels locality ports weight');
  enforced(prefix, 'serviceAccount', { note: 'the SPIFFE identity mesh mTLS clients expect from this endpoint' });
  enforced(prefix, 'network', { note: "split-horizon EDS: proxies on another network reach it through its network's east-west gateway (meshNetworks, or a Service labelled topology.istio.io/network), with mesh mTLS" });
}
{
  const se = 'ServiceEntry.spec';
  enforced(se, 'addresses exportTo hosts location resolution workloadSelector.labels ports.name ports.number ports.protocol ports.targetPort');
  gap(`${se}.subjectAltNames`, NO_IDENTITY.issue, NO_IDENTITY.reason);
  workloadEntry(`${se}.endpoints`);
  workloadEntry('WorkloadEntry.spec');
  workloadEntry('WorkloadGroup.spec.template');
  na('WorkloadGroup.spec.template.address', 'the address of an auto-registered workload is the one its proxy connects from, as in Istio');
  enforced('WorkloadGroup.spec.metadata', 'labels');
  na('WorkloadGroup.spec.metadata.annotations', 'copied metadata with no effect on traffic');
  enforced('WorkloadGroup.spec.probe', 'initialDelaySeconds timeoutSeconds periodSeconds successThreshold failureThreshold httpGet.host httpGet.path httpGet.port httpGet.scheme httpGet.httpHeaders.name httpGet.httpHeaders.value tcpSocket.host tcpSocket.port exec.command', {
    note: 'run by the VM\'s agent from the mesh.yaml tsmesh vm bootstrap writes (ProxyConfig.readinessProbe, as istioctl does) and reported over xDS; a failing workload stays an endpoint marked UNHEALTHY, out of load balancing',
  });
  gap('WorkloadGroup.spec.probe.grpc', 14, 'gRPC health probes of VM workloads are not run (tsmesh vm bootstrap refuses them)');
}

// ---------- Sidecar ----------
{
  const sc = 'Sidecar.spec';
  enforced(sc, 'workloadSelector.labels egress.hosts outboundTrafficPolicy.mode');
  enforced(`${sc}.egress`, 'port.number', { note: 'per-port egress listeners: on that outbound port (its listener, its RDS route "<port>", the http_proxy route) only the listener\'s hosts are served; other ports take the port-less listener\'s hosts, or nothing without one; clusters cover every listener\'s hosts' });
  na(`${sc}.egress.port.name`, 'a label for the port; nothing routes by it');
  gap(`${sc}.egress.port.protocol`, 14, 'the service port\'s own protocol decides HTTP or TCP; an egress port\'s protocol is not applied, nor are listeners made for ports no service has');
  gap(`${sc}.egress.port.targetPort`, 14, 'targetPort of an egress port is not translated');
  gap(`${sc}.egress.bind`, 14, 'egress listener bind addresses are not translated');
  gap(`${sc}.egress.captureMode`, 14, 'traffic capture modes are not implemented');
  enforced(`${sc}.ingress`, 'port.number port.protocol port.name defaultEndpoint', {
    note: 'the ingress listeners replace the service-derived inbound ports: a chain per port (in virtualInbound 15006 under capture) to cluster inbound|<port>|| at the defaultEndpoint (127.0.0.1, 0.0.0.0/[::] = the app address, [::1]; empty = the app address on the same port); HTTP protocols get the HTTP connection manager, others tcp_proxy; mTLS per PeerAuthentication as for service ports; a unix:// endpoint is not (warned)',
  });
  enforced(`${sc}.ingress`, 'bind captureMode', { note: 'captureMode NONE (or a proxy without capture) binds a listener at bind (default: the pod IP) on the port; DEFAULT/IPTABLES put the port behind virtualInbound, where bind has no effect (as in Istio); a unix:// bind is not' });
  // Valid in Istio, so accepted; the listener is not built, and the warning says so.
  const unixGap = (what: string) => (v: unknown): Gap | undefined =>
    typeof v === 'string' && v.startsWith('unix://') ? { issue: 14, reason: `Unix domain socket ${what}: the proxy dials and binds IP addresses only, so this ingress listener is not built` } : undefined;
  for (const [f, what] of [['defaultEndpoint', 'endpoints'], ['bind', 'binds']] as const) {
    const entry = TABLE[`${sc}.ingress.${f}`];
    if (entry?.status === 'enforced') entry.gap = unixGap(what);
  }
  gap(`${sc}.ingress.tls`, 14, 'terminating TLS at the sidecar for an ingress listener is not translated');
  gap(`${sc}.ingress.connectionPool`, 11, 'per-listener inbound connection limits are not implemented');
  gap(`${sc}.ingress.port.targetPort`, 14, 'targetPort of an ingress port is not translated; the defaultEndpoint says where traffic goes');
  gap(`${sc}.inboundConnectionPool`, 11, 'inbound connection limits are not implemented');
  enforced(`${sc}.outboundTrafficPolicy.egressProxy`, 'host port.number subset', { note: 'under ALLOW_ANY, unknown destinations go to outbound|<port>|<subset>|<host> instead of PassthroughCluster (virtualOutbound\'s catch-all chain, the allow_any virtual host, and the NONE-mode HTTP proxy listener instead of its dynamic forward proxy); the mode must be ALLOW_ANY, and a host that is no known service port is warned about' });
}

// ---------- security and telemetry ----------
{
  enforced('PeerAuthentication.spec', 'selector.matchLabels');
  enforced('PeerAuthentication.spec.mtls', 'mode', { note: 'STRICT, PERMISSIVE (mTLS and plaintext on one port), DISABLE, UNSET; mesh (root namespace), namespace and workload scope with Istio\'s precedence' });
  enforced(`PeerAuthentication.spec.portLevelMtls.${MAP_VALUES}`, 'mode');
  const ap = 'AuthorizationPolicy.spec';
  enforced(ap, 'selector.matchLabels', { note: 'root namespace (mesh-wide), namespace and workload scope, on sidecars and gateways' });
  enforced(ap, 'action', { note: 'ALLOW, DENY, AUDIT and CUSTOM, evaluated CUSTOM, DENY, ALLOW as Istio does; istio.io/dry-run as shadow rules. CUSTOM asks the meshConfig provider through Envoy\'s ext_authz on HTTP ports; on TCP ports, and when its provider is missing or unusable, its rules deny what they match (fail closed)' });
  enforced(ap, 'provider.name', { note: 'an envoyExtAuthzHttp or envoyExtAuthzGrpc entry of meshConfig.extensionProviders; one provider per workload' });
  enforced(`${ap}.rules.from.source`, 'principals notPrincipals requestPrincipals notRequestPrincipals namespaces notNamespaces ipBlocks notIpBlocks remoteIpBlocks notRemoteIpBlocks serviceAccounts notServiceAccounts trustDomains notTrustDomains');
  enforced(`${ap}.rules.to.operation`, 'hosts notHosts ports notPorts methods notMethods paths notPaths', { note: 'HTTP-only keys on a TCP port: a DENY rule ignores them, an ALLOW rule matches nothing (warned at apply)' });
  enforced(`${ap}.rules.when`, 'key values notValues');
  gap(`${ap}.targetRef`, 15, 'targetRef attaches policies to Gateway API gateways and waypoints, which tsmesh does not have');
  gap(`${ap}.targetRefs`, 15, 'targetRefs attach policies to Gateway API gateways and waypoints, which tsmesh does not have');
  const ra = 'RequestAuthentication.spec';
  enforced(ra, 'selector.matchLabels', { note: 'root namespace, namespace and workload scope, on sidecars and gateways' });
  enforced(`${ra}.jwtRules`, 'issuer audiences jwks forwardOriginalToken fromCookies fromHeaders.name fromHeaders.prefix fromParams outputClaimToHeaders.claim outputClaimToHeaders.header outputPayloadToHeader spaceDelimitedClaims timeout');
  enforced(`${ra}.jwtRules`, 'jwksUri jwks_uri', { note: 'fetched by the proxy through the mesh (the cluster of a service serving the JWKS host), cached 5 min, refetched on an unknown key id' });
  gap(`${ra}.jwtRules.presence`, 10, 'requiring a token per rule is not translated: a missing token passes unless an AuthorizationPolicy requires requestPrincipals');
  gap(`${ra}.targetRef`, 15, 'targetRef attaches policies to Gateway API gateways and waypoints, which tsmesh does not have');
  gap(`${ra}.targetRefs`, 15, 'targetRefs attach policies to Gateway API gateways and waypoints, which tsmesh does not have');
  const tm = 'Telemetry.spec';
  enforced(tm, 'selector.matchLabels', { note: 'root namespace (mesh-wide), namespace and workload scope with Istio\'s merge rules (pilot/telemetry/effective.ts)' });
  enforced(tm, 'targetRef.group targetRef.kind targetRef.name targetRef.namespace targetRefs.group targetRefs.kind targetRefs.name targetRefs.namespace', {
    note: 'kind Gateway: the proxies labelled gateway.networking.k8s.io/gateway-name with that name; other kinds (waypoints) attach to nothing',
  });
  enforced(`${tm}.accessLogging`, 'providers.name', { note: 'meshConfig.extensionProviders of kind envoyFileAccessLog and the built-in envoy provider (/dev/stdout); Istio\'s default text format where no logFormat is given; other kinds log nothing' });
  enforced(`${tm}.accessLogging`, 'disabled match.mode', { note: 'CLIENT on outbound listeners and gateways, SERVER on inbound listeners' });
  enforced(`${tm}.accessLogging`, 'filter.expression', { note: 'CEL over Envoy\'s attributes (request, response, connection, source, destination, upstream, xds, downstream_peer, upstream_peer), compiled at apply time; an unsupported attribute is rejected with its position' });
  enforced(`${tm}.metrics`, 'providers.name', { note: "prometheus (built-in, or an extensionProviders entry of kind prometheus): Istio's standard metrics on 15090 /stats/prometheus; other providers record nothing" });
  enforced(`${tm}.metrics`, 'overrides.disabled overrides.match.metric overrides.match.mode overrides.tagOverrides.*.operation overrides.tagOverrides.*.value', {
    note: 'the istio.stats filter\'s stats.PluginConfig per direction (CLIENT: outbound and gateways, SERVER: inbound): disabled drops the metric, tagOverrides become CEL dimensions or tags_to_remove; ALL_METRICS disabled leaves the stats filter out',
  });
  enforced(`${tm}.metrics`, 'reportingInterval', { note: "stats.PluginConfig tcp_reporting_duration: open TCP connections report their bytes that often (unset: every 5 s, Istio's proxy default); gRPC message counts are reported when the stream ends" });
  gap(`${tm}.metrics.overrides.match.customMetric`, 12, 'custom metrics (stats definitions) are not implemented');
  enforced(`${tm}.tracing`, 'providers.name', { note: 'the first meshConfig.extensionProviders entry of kind zipkin or opentelemetry (OTLP/HTTP); none usable: meshConfig\'s legacy zipkin tracer when enableTracing' });
  enforced(`${tm}.tracing`, 'randomSamplingPercentage disableSpanReporting match.mode useRequestIdForTraceSampling', { note: 'CLIENT on outbound listeners and gateways, SERVER on inbound listeners; disableSpanReporting leaves the listener without tracing, as Istio' });
  enforced(`${tm}.tracing`, 'customTags.*.literal.value customTags.*.environment.name customTags.*.environment.defaultValue customTags.*.header.name customTags.*.header.defaultValue');
  gap(`${tm}.tracing.customTags.*.formatter`, 12, 'formatter custom tags are not translated');
  gap(`${tm}.tracing.disableContextPropagation`, 12, 'context propagation is always on');
  // A BoolValue defaulting to true: false is a choice (proto3's "false is unset" does not apply).
  enforced(`${tm}.tracing`, 'enableIstioTags', {
    note: "true (the default): Istio's istio.* span tags are added",
    gap: (v) => (v === false ? { issue: 12, reason: "Istio's istio.* span tags are always added" } : undefined),
  });
}

export const ISTIO_SUPPORT: Readonly<Record<string, Support>> = TABLE;

/** Every leaf of a field tree as a table path (list items without index, map values as `*`). */
export function leafPaths(tree: FieldTree, prefix: string): string[] {
  if (tree === 0) return [prefix];
  return Object.entries(tree).flatMap(([k, v]) => leafPaths(v, `${prefix}.${k}`));
}

/** Every leaf of every Istio kind's spec. */
export function allLeafPaths(): string[] {
  return Object.entries(SPEC_FIELDS).flatMap(([kind, tree]) => leafPaths(tree, `${kind}.spec`));
}

/**
 * The entry that decides a path: the path's own, else the nearest ancestor's when that is
 * not_enforced or n/a (they cover their subtree). Undefined: unclassified.
 */
export function classify(path: string): { key: string; support: Support } | undefined {
  const own = TABLE[path];
  if (own) return { key: path, support: own };
  for (let p = path; p.includes('.'); ) {
    p = p.slice(0, p.lastIndexOf('.'));
    const s = TABLE[p];
    if (s && s.status !== 'enforced') return { key: p, support: s };
  }
  return undefined;
}

/** The text users see for a gap. */
export function describeGap(g: Gap): string {
  return `not enforced by tsmesh yet (issue ${g.issue}: ${g.reason})`;
}
