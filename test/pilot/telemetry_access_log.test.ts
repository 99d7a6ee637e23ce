/**
 * Telemetry accessLogging → Envoy access_log on the proxy's listeners: providers from
 * meshConfig.extensionProviders (envoyFileAccessLog) and the built-in `envoy`, the filter as the
 * CEL ExpressionFilter, CLIENT on outbound listeners and SERVER on inbound ones, `disabled`
 * removing loggers, meshConfig.accessLogFile only when the Telemetry API decides nothing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generate } from '../../src/pilot/generator.ts';
import { TYPE, type EnvoyJson } from '../../src/xds/types.ts';
import type { MeshConfig } from '../../src/api/types.ts';
import { ACCESS_LOG_FILTER } from '../../src/xds/type_urls.ts';
import { MESH, proxyFor, pushFromYaml, workload } from './fixtures.ts';
import { routerProxy } from './gateway/helpers.ts';
import { ISTIO_DEFAULT_TEXT } from './istio_text_format.ts';

const SERVICES = `
apiVersion: v1
kind: Service
metadata: {name: reviews, namespace: default}
spec: {selector: {app: reviews}, ports: [{name: http, port: 9080}, {name: tcp, port: 9000}]}
`;

const MESH_WITH_PROVIDERS: MeshConfig = {
  ...MESH,
  accessLogFile: '/dev/stdout',
  extensionProviders: [
    { name: 'json-file', envoyFileAccessLog: { path: '/tmp/access.json', logFormat: { labels: { code: '%RESPONSE_CODE%', flags: '%RESPONSE_FLAGS%' } } } },
    { name: 'text-file', envoyFileAccessLog: { path: '/tmp/access.log', logFormat: { text: '%RESPONSE_CODE% %REQ(:PATH)%' } } },
  ],
};

/** access_log lists by listener side: INBOUND (virtualInbound) vs OUTBOUND. */
function logsBySide(telemetry: string, mesh = MESH_WITH_PROVIDERS, labels = { app: 'reviews' }): { inbound: EnvoyJson[][]; outbound: EnvoyJson[][] } {
  const w = workload('reviews-v1', '10.0.0.5', labels);
  const push = pushFromYaml(`${SERVICES}\n---\n${telemetry}`, [w], mesh);
  const listeners = generate(push, proxyFor(w), TYPE.LISTENER as never, undefined);
  const out = { inbound: [] as EnvoyJson[][], outbound: [] as EnvoyJson[][] };
  for (const { resource: l } of listeners) {
    const side = l.traffic_direction === 'INBOUND' ? out.inbound : out.outbound;
    for (const chain of [...(l.filter_chains ?? []), ...(l.default_filter_chain ? [l.default_filter_chain] : [])]) {
      for (const f of chain.filters ?? []) if (f.typed_config?.['@type']?.match(/HttpConnectionManager|TcpProxy/)) side.push(f.typed_config.access_log ?? []);
    }
  }
  return out;
}

const uniq = (lists: EnvoyJson[][]) => [...new Set(lists.map((l) => JSON.stringify(l)))].map((s) => JSON.parse(s));

test('no Telemetry: meshConfig.accessLogFile on every HCM and tcp_proxy, both sides', () => {
  const { inbound, outbound } = logsBySide('');
  assert.ok(inbound.length > 0 && outbound.length > 0);
  for (const l of [...inbound, ...outbound]) assert.deepEqual(l.map((x) => x.typed_config.path), ['/dev/stdout']);
});

test('Telemetry providers, filter and mode: SERVER side gets the filtered JSON logger, CLIENT the text one', () => {
  const { inbound, outbound } = logsBySide(`
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {name: logs, namespace: default}
spec:
  accessLogging:
  - providers: [{name: json-file}]
    match: {mode: SERVER}
    filter: {expression: "response.code >= 400"}
  - providers: [{name: text-file}]
    match: {mode: CLIENT}
`);
  assert.deepEqual(uniq(inbound), [[{
    name: 'envoy.access_loggers.file',
    typed_config: { '@type': 'type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog', path: '/tmp/access.json', log_format: { json_format: { code: '%RESPONSE_CODE%', flags: '%RESPONSE_FLAGS%' } } },
    filter: { extension_filter: { name: 'envoy.access_loggers.extension_filters.cel', typed_config: { '@type': ACCESS_LOG_FILTER.CEL, expression: 'response.code >= 400' } } },
  }]]);
  assert.deepEqual(uniq(outbound).map((l) => l.map((x: EnvoyJson) => [x.typed_config.path, x.typed_config.log_format?.text_format_source?.inline_string, x.filter])), [[['/tmp/access.log', '%RESPONSE_CODE% %REQ(:PATH)%\n', undefined]]]);
});

test('the built-in envoy provider logs to stdout in Istio\'s default text format; disabled for a workload removes it', () => {
  const mesh = `
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {name: mesh, namespace: ${MESH.rootNamespace}}
spec:
  accessLogging: [{providers: [{name: envoy}]}]
`;
  const on = logsBySide(mesh, { ...MESH, accessLogFile: '' });
  assert.deepEqual(uniq([...on.inbound, ...on.outbound]), [[{
    name: 'envoy.access_loggers.file',
    typed_config: { '@type': 'type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog', path: '/dev/stdout', log_format: { text_format_source: { inline_string: ISTIO_DEFAULT_TEXT } } },
  }]]);
  const off = logsBySide(`${mesh}
---
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {name: quiet, namespace: default}
spec:
  selector: {matchLabels: {app: reviews}}
  accessLogging: [{disabled: true}]
`);
  assert.deepEqual(uniq([...off.inbound, ...off.outbound]), [[]], 'no logger, and meshConfig.accessLogFile does not come back');
});

test('an envoyFileAccessLog provider without logFormat logs Istio\'s default text format', () => {
  const mesh: MeshConfig = { ...MESH, extensionProviders: [{ name: 'plain', envoyFileAccessLog: { path: '/tmp/plain.log' } }] };
  const { inbound, outbound } = logsBySide(`
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {name: logs, namespace: default}
spec:
  accessLogging: [{providers: [{name: plain}]}]
`, mesh);
  assert.deepEqual(uniq([...inbound, ...outbound]).map((l) => l.map((x: EnvoyJson) => [x.typed_config.path, x.typed_config.log_format])), [[['/tmp/plain.log', { text_format_source: { inline_string: ISTIO_DEFAULT_TEXT } }]]]);
});

test('meshConfig.defaultProviders.accessLogging applies with no Telemetry', () => {
  const { inbound, outbound } = logsBySide('', { ...MESH_WITH_PROVIDERS, accessLogFile: '', defaultProviders: { accessLogging: ['text-file'] } });
  for (const l of [...inbound, ...outbound]) assert.deepEqual(l.map((x) => x.typed_config.path), ['/tmp/access.log']);
});

test('a gateway logs in CLIENT mode', () => {
  const yaml = `${SERVICES}
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw, namespace: istio-system}
spec:
  selector: {istio: ingressgateway}
  servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: ["*"]}]
---
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {name: logs, namespace: ${MESH.rootNamespace}}
spec:
  accessLogging:
  - providers: [{name: text-file}]
    match: {mode: CLIENT}
  - providers: [{name: json-file}]
    match: {mode: SERVER}
`;
  const gw = workload('istio-ingressgateway', '10.0.0.9', { istio: 'ingressgateway' }, { namespace: 'istio-system' });
  const push = pushFromYaml(yaml, [gw], MESH_WITH_PROVIDERS);
  const listeners = generate(push, routerProxy({ istio: 'ingressgateway' }), TYPE.LISTENER as never, undefined);
  const paths = listeners.flatMap(({ resource: l }) => (l.filter_chains ?? []).flatMap((c: EnvoyJson) => c.filters.flatMap((f: EnvoyJson) => (f.typed_config.access_log ?? []).map((a: EnvoyJson) => a.typed_config.path))));
  assert.ok(paths.length > 0, 'the gateway has listeners with loggers');
  assert.deepEqual([...new Set(paths)], ['/tmp/access.log']);
});
