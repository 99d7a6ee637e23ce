/**
 * meshConfig's access-log settings reach every connection manager and tcp_proxy as Envoy's file
 * access logger: accessLogFormat as a text format (one line per entry) or, with JSON encoding,
 * as json_format; an unparsable JSON format falls back to the default fields, as Istio does.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generate } from '../../src/pilot/generator.ts';
import { TYPE, type EnvoyJson } from '../../src/xds/types.ts';
import { MESH, proxyFor, pushFromYaml } from './fixtures.ts';
import { ISTIO_DEFAULT_TEXT } from './istio_text_format.ts';

const YAML = `
apiVersion: v1
kind: Service
metadata: {name: reviews, namespace: default}
spec: {selector: {app: reviews}, ports: [{name: http, port: 9080}, {name: tcp, port: 9000}]}
`;

function loggers(mesh: Partial<typeof MESH>): EnvoyJson[] {
  const push = pushFromYaml(YAML, [], { ...MESH, ...mesh });
  const listeners = generate(push, proxyFor({ namespace: 'default', labels: { app: 'productpage' } }), TYPE.LISTENER as never, undefined);
  const found: EnvoyJson[] = [];
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === 'object') {
      const o = v as EnvoyJson;
      if (Array.isArray(o.access_log)) found.push(...o.access_log.map((l: EnvoyJson) => l.typed_config));
      Object.values(o).forEach(walk);
    }
  };
  walk(listeners.map((l) => l.resource));
  return found;
}

test('accessLogFormat (TEXT) becomes the logger text format, one line per entry', () => {
  const logs = loggers({ accessLogFile: '/dev/stdout', accessLogFormat: '[%START_TIME%] %REQ(:METHOD)% %RESPONSE_CODE%' });
  assert.ok(logs.length > 0);
  for (const l of logs) {
    assert.equal(l.path, '/dev/stdout');
    assert.equal(l.log_format.text_format_source.inline_string, '[%START_TIME%] %REQ(:METHOD)% %RESPONSE_CODE%\n');
  }
});

test('accessLogFile with TEXT encoding and no accessLogFormat: Istio\'s default text format, not Envoy\'s', () => {
  for (const mesh of [{ accessLogFile: '/dev/stdout' }, { accessLogFile: '/dev/stdout', accessLogEncoding: 'TEXT' as const, accessLogFormat: '  ' }]) {
    const logs = loggers(mesh);
    assert.ok(logs.length > 0);
    for (const l of logs) assert.equal(l.log_format?.text_format_source?.inline_string, ISTIO_DEFAULT_TEXT);
  }
});

test('accessLogFormat (JSON) becomes json_format; an invalid one falls back to the default fields', () => {
  const custom = loggers({ accessLogFile: '/tmp/a.log', accessLogEncoding: 'JSON', accessLogFormat: '{"code": "%RESPONSE_CODE%", "host": "%REQ(:AUTHORITY)%"}' });
  assert.deepEqual(custom[0]!.log_format.json_format, { code: '%RESPONSE_CODE%', host: '%REQ(:AUTHORITY)%' });
  const fallback = loggers({ accessLogFile: '/tmp/a.log', accessLogEncoding: 'JSON', accessLogFormat: 'not json' });
  assert.equal(fallback[0]!.log_format.json_format.response_code, '%RESPONSE_CODE%');
  assert.deepEqual(loggers({}), [], 'no file, no logger');
});
