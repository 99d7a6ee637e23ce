/**
 * Istio's Telemetry merge rules (effectiveTelemetry): root namespace → namespace → workload,
 * providers replaced by the more specific level, metric overrides merged per metric and mode,
 * tracing field by field, access logging per provider and mode with `disabled`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { effectiveTelemetry } from '../../src/pilot/telemetry/effective.ts';
import { MESH, proxyFor, pushFromYaml } from './fixtures.ts';

const ROOT = MESH.rootNamespace;

function eff(yaml: string, labels: Record<string, string> = { app: 'reviews' }, mesh = MESH, namespace = 'default') {
  return effectiveTelemetry(pushFromYaml(yaml, [], mesh), proxyFor({ namespace, labels }));
}

const MESH_WIDE = `
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {name: mesh-default, namespace: ${ROOT}}
spec:
  accessLogging: [{providers: [{name: envoy}]}]
  tracing: [{providers: [{name: zipkin}], randomSamplingPercentage: 1, customTags: {a: {literal: {value: "1"}}}}]
  metrics:
  - providers: [{name: prometheus}]
    overrides:
    - match: {metric: REQUEST_COUNT, mode: CLIENT_AND_SERVER}
      tagOverrides: {request_protocol: {operation: REMOVE}}
`;

test('mesh-wide Telemetry applies to every workload', () => {
  const e = eff(MESH_WIDE);
  assert.deepEqual(e.accessLogging, [{ providers: ['envoy'], mode: 'CLIENT' }, { providers: ['envoy'], mode: 'SERVER' }]);
  assert.equal(e.accessLoggingFromTelemetry, true);
  assert.deepEqual(e.tracing, { providers: ['zipkin'], randomSamplingPercentage: 1, customTags: { a: { literal: { value: '1' } } } });
  assert.deepEqual(e.metrics, [{
    provider: 'prometheus',
    overrides: [
      { metric: 'REQUEST_COUNT', mode: 'CLIENT', tagOverrides: { request_protocol: { operation: 'REMOVE' } } },
      { metric: 'REQUEST_COUNT', mode: 'SERVER', tagOverrides: { request_protocol: { operation: 'REMOVE' } } },
    ],
  }]);
});

test('namespace and workload levels override the mesh level; other namespaces keep the mesh level', () => {
  const yaml = `${MESH_WIDE}
---
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {name: ns, namespace: default}
spec:
  tracing: [{randomSamplingPercentage: 50, customTags: {b: {header: {name: x-b}}}}]
  accessLogging: [{providers: [{name: envoy}], filter: {expression: "response.code >= 400"}}]
  metrics:
  - overrides:
    - match: {metric: REQUEST_COUNT, mode: SERVER}
      disabled: true
---
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {name: reviews, namespace: default}
spec:
  selector: {matchLabels: {app: reviews}}
  tracing: [{disableSpanReporting: true, match: {mode: SERVER}}]
  accessLogging: [{disabled: true, match: {mode: CLIENT}}]
  metrics:
  - overrides:
    - match: {metric: REQUEST_COUNT, mode: SERVER}
      tagOverrides: {destination_port: {value: "string(destination.port)"}}
`;
  const reviews = eff(yaml);
  // Tracing: field by field; the workload's SERVER-only entry changes only the server side.
  assert.equal(reviews.tracingByMode!.SERVER.disableSpanReporting, true);
  assert.equal(reviews.tracingByMode!.CLIENT.disableSpanReporting, undefined);
  assert.equal(reviews.tracingByMode!.CLIENT.randomSamplingPercentage, 50);
  assert.deepEqual(reviews.tracingByMode!.CLIENT.providers, ['zipkin']);
  assert.deepEqual(Object.keys(reviews.tracingByMode!.CLIENT.customTags!), ['a', 'b']);
  // Access logging: the namespace's filter, and the workload disables its CLIENT side.
  assert.deepEqual(reviews.accessLogging, [{ providers: ['envoy'], mode: 'SERVER', filter: 'response.code >= 400' }]);
  // Metrics: merged per metric+mode (disabled from the namespace, the tag from the workload).
  const server = reviews.metrics[0]!.overrides.find((o) => o.metric === 'REQUEST_COUNT' && o.mode === 'SERVER');
  assert.deepEqual(server, {
    metric: 'REQUEST_COUNT', mode: 'SERVER', disabled: true,
    tagOverrides: { request_protocol: { operation: 'REMOVE' }, destination_port: { operation: 'UPSERT', value: 'string(destination.port)' } },
  });

  const ratings = eff(yaml, { app: 'ratings' });
  assert.deepEqual(ratings.accessLogging.map((l) => l.mode), ['CLIENT', 'SERVER']);
  assert.equal(ratings.tracingByMode!.SERVER.disableSpanReporting, undefined);

  const other = eff(yaml, { app: 'x' }, MESH, 'other');
  assert.deepEqual(other.accessLogging, [{ providers: ['envoy'], mode: 'CLIENT' }, { providers: ['envoy'], mode: 'SERVER' }]);
  assert.equal(other.tracing!.randomSamplingPercentage, 1);
});

test('disabled removes logging for that scope; providers named lower replace the parent\'s', () => {
  const yaml = `${MESH_WIDE}
---
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {name: off, namespace: default}
spec:
  accessLogging: [{disabled: true}]
---
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {name: json, namespace: default}
spec:
  selector: {matchLabels: {app: json}}
  accessLogging: [{providers: [{name: json-file}]}]
`;
  const off = eff(yaml);
  assert.deepEqual(off.accessLogging, []);
  assert.equal(off.accessLoggingFromTelemetry, true, 'Telemetry decides: meshConfig.accessLogFile does not come back');
  assert.deepEqual(eff(yaml, { app: 'json' }).accessLogging.map((l) => l.providers[0]), ['json-file', 'json-file']);
});

test('meshConfig.defaultProviders seed the lists; nothing configured means the legacy meshConfig path', () => {
  const none = eff('');
  assert.deepEqual(none.accessLogging, []);
  assert.equal(none.accessLoggingFromTelemetry, false);
  assert.equal(none.tracing, undefined);
  assert.deepEqual(none.metrics, [{ provider: 'prometheus', overrides: [] }]);
  const withDefaults = eff('', {}, { ...MESH, defaultProviders: { accessLogging: ['envoy'], tracing: ['zipkin'], metrics: [] } });
  assert.deepEqual(withDefaults.accessLogging.map((l) => `${l.providers[0]}/${l.mode}`), ['envoy/CLIENT', 'envoy/SERVER']);
  assert.deepEqual(withDefaults.tracing?.providers, ['zipkin']);
  assert.deepEqual(withDefaults.metrics, []);
});

test('ALL_METRICS disabled at the root and re-enabled for a workload', () => {
  const yaml = `
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {name: root, namespace: ${ROOT}}
spec:
  metrics: [{overrides: [{match: {metric: ALL_METRICS}, disabled: true}]}]
---
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {name: on, namespace: default}
spec:
  selector: {matchLabels: {app: on}}
  metrics: [{overrides: [{match: {metric: ALL_METRICS, mode: SERVER}, disabled: false}]}]
`;
  const off = eff(yaml).metrics[0]!.overrides.filter((o) => o.metric === 'ALL_METRICS');
  assert.deepEqual(off, [{ metric: 'ALL_METRICS', mode: 'CLIENT', disabled: true }, { metric: 'ALL_METRICS', mode: 'SERVER', disabled: true }]);
  const on = eff(yaml, { app: 'on' }).metrics[0]!.overrides;
  assert.deepEqual(on.filter((o) => o.metric === 'ALL_METRICS'), [{ metric: 'ALL_METRICS', mode: 'CLIENT', disabled: true }]);
  assert.ok(on.some((o) => o.metric === 'REQUEST_COUNT' && o.mode === 'SERVER' && o.disabled === false));
});

test('a namespace override of one metric re-enables the metrics a root ALL_METRICS disable turned off (Istio mergeMetrics)', () => {
  // "root namespace disables all, but then enables them by namespace scoped": any override that is
  // not ALL_METRICS-disabled lifts the disable for its modes, so the stats filter comes back.
  const yaml = `
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {name: root, namespace: ${ROOT}}
spec:
  metrics: [{overrides: [{match: {metric: ALL_METRICS}, disabled: true}]}]
---
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {name: ns, namespace: default}
spec:
  metrics:
  - overrides:
    - match: {metric: REQUEST_COUNT, mode: SERVER}
      tagOverrides: {request_protocol: {operation: REMOVE}}
`;
  const ns = eff(yaml).metrics;
  assert.deepEqual(ns, [{
    provider: 'prometheus',
    overrides: [
      { metric: 'REQUEST_COUNT', mode: 'SERVER', tagOverrides: { request_protocol: { operation: 'REMOVE' } } },
      { metric: 'ALL_METRICS', mode: 'CLIENT', disabled: true },
    ],
  }]);
  // Another namespace keeps the root's disable in both modes.
  const other = eff(yaml, { app: 'x' }, MESH, 'other').metrics[0]!.overrides;
  assert.deepEqual(other, [{ metric: 'ALL_METRICS', mode: 'CLIENT', disabled: true }, { metric: 'ALL_METRICS', mode: 'SERVER', disabled: true }]);
});

test('the oldest of two namespace-wide Telemetries wins', () => {
  const yaml = `
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {name: b, namespace: default, creationTimestamp: "2024-01-01T00:00:00Z"}
spec: {accessLogging: [{providers: [{name: first}]}]}
---
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {name: a, namespace: default, creationTimestamp: "2024-02-01T00:00:00Z"}
spec: {accessLogging: [{providers: [{name: second}]}]}
`;
  assert.deepEqual(eff(yaml).accessLogging.map((l) => l.providers[0]), ['first', 'first']);
});
