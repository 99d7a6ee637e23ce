/**
 * Access logging for a proxy's listeners (Istio's AccessLogBuilder): the loggers the Telemetry API
 * decides (effectiveTelemetry: providers per mode, `disabled`, filter.expression as Envoy's CEL
 * ExpressionFilter), else meshConfig.accessLogFile / accessLogEncoding / accessLogFormat. Providers
 * are meshConfig.extensionProviders entries of kind envoyFileAccessLog (path, logFormat text or
 * labels) and the built-in `envoy` provider (/dev/stdout). Where no format is given (TEXT encoding,
 * a provider without logFormat, the `envoy` provider) the pilot emits Istio's default text format
 * explicitly, as Istio does: the proxy's own default (no log_format) is Envoy's shorter one. Outbound
 * listeners and gateways log in CLIENT mode, inbound ones in SERVER mode. Applied as one pass over
 * the built listeners: every http_connection_manager and tcp_proxy gets the loggers of its side.
 */
import type { MeshConfig } from '../../api/types.ts';
import type { EnvoyJson, NamedResource } from '../../xds/types.ts';
import { ACCESS_LOGGER, ACCESS_LOG_FILTER, NETWORK_FILTER } from '../../xds/type_urls.ts';
import type { Proxy, PushContext } from '../types.ts';
import { effectiveTelemetry } from './effective.ts';

const FILE_LOGGER = 'envoy.access_loggers.file';
const CEL_FILTER = 'envoy.access_loggers.extension_filters.cel';

/** Istio's JSON access-log fields (EnvoyJSONLogFormatIstio), for accessLogEncoding JSON without a format. */
export const ISTIO_JSON_LOG_FORMAT: EnvoyJson = {
  start_time: '%START_TIME%',
  route_name: '%ROUTE_NAME%',
  method: '%REQ(:METHOD)%',
  path: '%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%',
  protocol: '%PROTOCOL%',
  response_code: '%RESPONSE_CODE%',
  response_flags: '%RESPONSE_FLAGS%',
  response_code_details: '%RESPONSE_CODE_DETAILS%',
  connection_termination_details: '%CONNECTION_TERMINATION_DETAILS%',
  bytes_received: '%BYTES_RECEIVED%',
  bytes_sent: '%BYTES_SENT%',
  duration: '%DURATION%',
  upstream_service_time: '%RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)%',
  x_forwarded_for: '%REQ(X-FORWARDED-FOR)%',
  user_agent: '%REQ(USER-AGENT)%',
  request_id: '%REQ(X-REQUEST-ID)%',
  authority: '%REQ(:AUTHORITY)%',
  upstream_host: '%UPSTREAM_HOST%',
  upstream_cluster: '%UPSTREAM_CLUSTER_RAW%',
  upstream_local_address: '%UPSTREAM_LOCAL_ADDRESS%',
  downstream_local_address: '%DOWNSTREAM_LOCAL_ADDRESS%',
  downstream_remote_address: '%DOWNSTREAM_REMOTE_ADDRESS%',
  requested_server_name: '%REQUESTED_SERVER_NAME%',
  upstream_transport_failure_reason: '%UPSTREAM_TRANSPORT_FAILURE_REASON%',
};

/**
 * Istio's default text access-log format (EnvoyTextLogFormat; istio.io "Envoy Access Logs",
 * Default access log format): Envoy's default plus response code details, connection termination
 * details, the upstream transport failure reason, the cluster and addresses, SNI and route name.
 */
export const ISTIO_TEXT_LOG_FORMAT =
  '[%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%" %RESPONSE_CODE% %RESPONSE_FLAGS% ' +
  '%RESPONSE_CODE_DETAILS% %CONNECTION_TERMINATION_DETAILS% "%UPSTREAM_TRANSPORT_FAILURE_REASON%" %BYTES_RECEIVED% %BYTES_SENT% ' +
  '%DURATION% %RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% "%REQ(X-FORWARDED-FOR)%" "%REQ(USER-AGENT)%" "%REQ(X-REQUEST-ID)%" ' +
  '"%REQ(:AUTHORITY)%" "%UPSTREAM_HOST%" %UPSTREAM_CLUSTER_RAW% %UPSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_LOCAL_ADDRESS% ' +
  '%DOWNSTREAM_REMOTE_ADDRESS% %REQUESTED_SERVER_NAME% %ROUTE_NAME%\n';

/** A JSON accessLogFormat as Envoy's json_format; Istio falls back to its default when it is not a JSON object. */
function jsonLogFormat(format: string): EnvoyJson | undefined {
  try {
    const v = JSON.parse(format);
    return v && typeof v === 'object' && !Array.isArray(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

/** As Istio does: a custom text format is one line per entry. */
function textFormat(format: string): EnvoyJson {
  return { text_format_source: { inline_string: format.endsWith('\n') ? format : `${format}\n` } };
}

/** meshConfig.accessLogFile/Encoding/Format → Envoy's file access logger (the pre-Telemetry setting). */
function meshAccessLog(mesh: MeshConfig): EnvoyJson[] {
  if (!mesh.accessLogFile) return [];
  const typed: EnvoyJson = { '@type': ACCESS_LOGGER.FILE, path: mesh.accessLogFile };
  const format = mesh.accessLogFormat?.trim() ? mesh.accessLogFormat : undefined;
  if (mesh.accessLogEncoding === 'JSON') typed.log_format = { json_format: (format && jsonLogFormat(format)) || ISTIO_JSON_LOG_FORMAT };
  else typed.log_format = textFormat(format ?? ISTIO_TEXT_LOG_FORMAT);
  return [{ name: FILE_LOGGER, typed_config: typed }];
}

/** A provider's FileAccessLog config, or undefined for a provider that is not a file logger. */
function providerLogger(mesh: MeshConfig, name: string): EnvoyJson | undefined {
  const entry = mesh.extensionProviders?.find((p) => p.name === name) as Record<string, any> | undefined;
  const file = entry?.envoyFileAccessLog;
  if (!entry) return name === 'envoy' ? { '@type': ACCESS_LOGGER.FILE, path: '/dev/stdout', log_format: textFormat(ISTIO_TEXT_LOG_FORMAT) } : undefined;
  if (!file || typeof file !== 'object') return undefined;
  const typed: EnvoyJson = { '@type': ACCESS_LOGGER.FILE, path: typeof file.path === 'string' && file.path ? file.path : '/dev/stdout' };
  const lf = file.logFormat;
  if (lf?.labels && typeof lf.labels === 'object') typed.log_format = { json_format: lf.labels, ...(lf.omitEmptyValues ? { omit_empty_values: true } : {}) };
  else typed.log_format = textFormat(typeof lf?.text === 'string' && lf.text ? lf.text : ISTIO_TEXT_LOG_FORMAT);
  return typed;
}

/** The loggers for one side of a proxy ('CLIENT' outbound and gateways, 'SERVER' inbound). */
export function accessLogsFor(push: PushContext, proxy: Proxy, mode: 'CLIENT' | 'SERVER'): EnvoyJson[] {
  const eff = effectiveTelemetry(push, proxy);
  if (!eff.accessLoggingFromTelemetry) return meshAccessLog(push.mesh);
  const out: EnvoyJson[] = [];
  for (const spec of eff.accessLogging) {
    if (spec.mode !== mode) continue;
    for (const provider of spec.providers) {
      const typed = providerLogger(push.mesh, provider);
      if (!typed) continue; // not a file-logging provider (tracing/metrics kinds): Istio skips it too
      const logger: EnvoyJson = { name: FILE_LOGGER, typed_config: typed };
      if (spec.filter) logger.filter = { extension_filter: { name: CEL_FILTER, typed_config: { '@type': ACCESS_LOG_FILTER.CEL, expression: spec.filter } } };
      out.push(logger);
    }
  }
  return out;
}

/** The proxy's listeners with access_log on every HCM and tcp_proxy; the input objects are not changed. */
export function withAccessLogs(push: PushContext, proxy: Proxy, listeners: NamedResource[]): NamedResource[] {
  const client = accessLogsFor(push, proxy, 'CLIENT');
  const server = proxy.type === 'router' ? client : accessLogsFor(push, proxy, 'SERVER');
  if (client.length === 0 && server.length === 0) return listeners;
  return listeners.map((l) => {
    const logs = proxy.type !== 'router' && l.resource.traffic_direction === 'INBOUND' ? server : client;
    return logs.length === 0 ? l : { name: l.name, resource: listenerWithLogs(l.resource, logs) };
  });
}

function listenerWithLogs(listener: EnvoyJson, logs: EnvoyJson[]): EnvoyJson {
  const out: EnvoyJson = { ...listener };
  if (Array.isArray(listener.filter_chains)) out.filter_chains = listener.filter_chains.map((c: EnvoyJson) => chainWithLogs(c, logs));
  if (listener.default_filter_chain) out.default_filter_chain = chainWithLogs(listener.default_filter_chain, logs);
  return out;
}

function chainWithLogs(chain: EnvoyJson, logs: EnvoyJson[]): EnvoyJson {
  if (!Array.isArray(chain.filters)) return chain;
  return {
    ...chain,
    filters: chain.filters.map((f: EnvoyJson) => {
      const type = f.typed_config?.['@type'];
      if (type !== NETWORK_FILTER.HTTP_CONNECTION_MANAGER && type !== NETWORK_FILTER.TCP_PROXY) return f;
      return { ...f, typed_config: { ...f.typed_config, access_log: logs } };
    }),
  };
}
