/**
 * `tsmesh version`'s output forms, as istioctl version prints them: the short lines with proxies
 * grouped by version, the long BuildInfo form, and the JSON shape (clientVersion, meshVersion,
 * dataPlaneVersion); and the command itself, whose versions must be package.json's.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { tsmeshCommand } from '../../src/common/self_command.ts';
import { ControlPlane } from '../../src/controlplane/server.ts';
import { freePort } from '../../src/demo/ports.ts';
import { caStateDir, REPO } from '../helpers/processes.ts';
import { renderProxyVersions, renderVersionText, versionOutput } from '../../src/cli/version.ts';
import { TSMESH_VERSION, buildVersion, buildVersionString } from '../../src/common/version.ts';

/** The CLI as a process: what it prints is package.json's version, read here on its own. */
function tsmesh(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const cmd = tsmeshCommand(args, REPO);
  return new Promise((resolve) => {
    execFile(cmd.command, cmd.args, { cwd: REPO, env: { ...process.env, TSMESH_CONTROLPLANE: '' }, timeout: 60_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }),
    );
  });
}

test("tsmesh version prints package.json's version in every form; the control plane's too, or how to start one", { timeout: 120_000 }, async (t) => {
  const pkg = (JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { version: string }).version;
  assert.match(pkg, /^\d+\.\d+\.\d+/);
  const plain = await tsmesh(['version', '--remote=false']);
  assert.equal(plain.code, 0, plain.stderr);
  assert.equal(plain.stdout, `${pkg}\n`);
  assert.equal((await tsmesh(['version', '--remote=false', '-o', 'short'])).stdout, `${pkg}\n`);
  const json = JSON.parse((await tsmesh(['version', '--remote=false', '-o', 'json'])).stdout);
  assert.deepEqual([json.clientVersion.version, json.clientVersion.tag, json.meshVersion], [pkg, pkg, undefined]);
  assert.equal((await tsmesh(['version', '--remote=false', '--short=false'])).stdout, `version.BuildInfo{Version:"${pkg}", GitRevision:"unknown", GolangVersion:"node ${process.versions.node}", BuildStatus:"Clean", GitTag:"${pkg}"}\n`);

  // No control plane there: exit 1, saying how to start one or to skip it.
  const port = await freePort('127.0.0.1');
  const none = await tsmesh(['version', '--controlplane', `http://127.0.0.1:${port}`]);
  assert.equal(none.code, 1);
  assert.match(none.stderr, new RegExp(`^tsmesh version: no control plane answers at http://127\\.0\\.0\\.1:${port} \\(from --controlplane\\): start one with \`npx tsmesh demo\`.*--remote=false`));

  // A control plane with no proxies: its version, and none on the data plane.
  const dir = mkdtempSync(join(tmpdir(), 'tsmesh-version-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const cp = new ControlPlane({ configDir: dir, grpcPort: 0, httpPort: 0, secureGrpcPort: 0, stateDir: caStateDir(t), log: () => {} });
  await cp.start();
  t.after(() => cp.close());
  const remote = await tsmesh(['version', '--controlplane', `http://127.0.0.1:${cp.httpPort}`]);
  assert.equal(remote.code, 0, remote.stderr);
  assert.equal(remote.stdout, `client version: ${pkg}\ncontrol plane version: ${pkg}\ndata plane version: none\n`);
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
