/**
 * `tsmesh version`'s output forms, as istioctl version prints them: the short lines with proxies
 * grouped by version, the long BuildInfo form, and the JSON shape (clientVersion, meshVersion,
 * dataPlaneVersion).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { renderProxyVersions, renderVersionText, versionOutput } from '../../src/cli/version.ts';
import { TSMESH_VERSION, buildVersion, buildVersionString } from '../../src/common/version.ts';

test('the client version is the package version', () => {
  assert.equal(TSMESH_VERSION, JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')).version);
});

test("a proxy's build version round-trips through Envoy's BuildVersion", () => {
  assert.deepEqual(buildVersion('0.1.0'), { version: { major_number: 0, minor_number: 1, patch: 0 } });
  assert.equal(buildVersionString(buildVersion(TSMESH_VERSION)), TSMESH_VERSION);
  assert.equal(buildVersionString(undefined), undefined);
});

test('proxies are counted per version, versions sorted; none without proxies', () => {
  assert.equal(renderProxyVersions([]), 'none');
  assert.equal(renderProxyVersions([{ IstioVersion: '1.24.0' }, { IstioVersion: '1.23.1' }, { IstioVersion: '1.24.0' }]), '1.23.1 (1 proxies), 1.24.0 (2 proxies)');
});

test('short text: client, control plane and data plane lines; client alone without the control plane', () => {
  const remote = { version: '0.1.0', revision: 'default', proxies: [{ ID: 'sidecar~1.2.3.4~a.default~default.svc.cluster.local', IstioVersion: '1.24.0' }, { ID: 'router~1.2.3.5~gw.istio-system~istio-system.svc.cluster.local', IstioVersion: '1.24.0' }] };
  assert.deepEqual(renderVersionText(versionOutput('0.1.0', remote), true), ['client version: 0.1.0', 'control plane version: 0.1.0', 'data plane version: 1.24.0 (2 proxies)']);
  assert.deepEqual(renderVersionText(versionOutput('0.1.0', undefined), true), ['0.1.0']);
  const long = renderVersionText(versionOutput('0.1.0', remote), false);
  assert.match(long[0]!, /^client version: version\.BuildInfo\{Version:"0\.1\.0", /);
  assert.match(long[1]!, /^pilot version: version\.BuildInfo\{Version:"0\.1\.0", /);
  assert.equal(long[2], 'data plane version: version.ProxyInfo{ID:"sidecar~1.2.3.4~a.default~default.svc.cluster.local", IstioVersion:"1.24.0"}');
});

test('JSON shape as istioctl version -o json', () => {
  const v = versionOutput('0.1.0', { version: '0.1.0', revision: 'default', proxies: [{ ID: 'p', IstioVersion: '1.24.0', type: 'sidecar' }] });
  assert.equal(v.clientVersion.version, '0.1.0');
  assert.deepEqual(v.meshVersion?.map((m) => [m.Component, m.Revision, m.Info.version]), [['pilot', 'default', '0.1.0']]);
  assert.deepEqual(v.dataPlaneVersion, [{ ID: 'p', IstioVersion: '1.24.0' }]);
});
