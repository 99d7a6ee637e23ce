/**
 * The HTTP filter registry holds the built-in filters from the start (static imports, no loader
 * trick), and per-route filter config is compiled by its filter when the route config is: a type
 * no filter understands is rejected unless the FilterConfig wrapper marks it optional.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compilePerFilterConfigs, httpFilterFactory } from '../../../src/proxy/http/filters/registry.ts';
import { ERR } from '../../../src/api/errors.ts';
import { HTTP_FILTER } from '../../../src/xds/type_urls.ts';

test('built-in filters are registered by importing the registry alone', () => {
  for (const t of [HTTP_FILTER.ROUTER, HTTP_FILTER.FAULT, HTTP_FILTER.CORS, HTTP_FILTER.DYNAMIC_FORWARD_PROXY]) assert.ok(httpFilterFactory(t), t);
});

test('typed_per_filter_config: compiled by its filter; unknown types rejected unless optional', () => {
  const fault = { '@type': HTTP_FILTER.FAULT, abort: { http_status: 503, percentage: { numerator: 100 } } };
  const compiled = compilePerFilterConfigs({ 'envoy.filters.http.fault': fault }, 'r');
  assert.equal((compiled.get('envoy.filters.http.fault') as { httpStatus: number }).httpStatus, 503);
  assert.throws(() => compilePerFilterConfigs({ 'envoy.filters.http.fault': { '@type': HTTP_FILTER.FAULT, abort: { http_status: 99 } } }, 'r'), /r\.envoy\.filters\.http\.fault: abort\.http_status/);
  const unknown = { '@type': 'type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthzPerRoute', disabled: true };
  assert.throws(() => compilePerFilterConfigs({ 'envoy.filters.http.ext_authz': unknown }, 'r'), { code: ERR.UNSUPPORTED_FIELD });
  const optional = { '@type': HTTP_FILTER.ROUTE_FILTER_CONFIG, is_optional: true, config: unknown };
  assert.equal(compilePerFilterConfigs({ 'envoy.filters.http.ext_authz': optional }, 'r').size, 0);
});
