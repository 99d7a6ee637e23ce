import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Config } from '../../src/api/types.ts';
import { appLaunch } from '../../src/demo/apps.ts';
import { loadConfigSources } from '../../src/demo/config_copy.ts';
import { allocatePods } from '../../src/demo/ports.ts';
import { listDeployments } from '../../src/registry/deployments.ts';
import { ISTIO_DATA } from '../helpers/istio_data.ts';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const ISTIO_BOOKINFO = `${ISTIO_DATA}/samples/bookinfo/platform/kube/bookinfo.yaml`;

function launches(file: string) {
  const { configs, errors } = loadConfigSources([file]);
  assert.deepEqual(errors, []);
  const byName = new Map(configs.filter((c) => c.kind === 'Deployment').map((c) => [c.metadata.name, c]));
  return allocatePods(listDeployments(configs)).map((slot) => ({ slot, launch: appLaunch(byName.get(slot.deployment.name)!, slot, repoRoot) }));
}

test("our sample's containers run their own command with this Node, at the pod's app address", () => {
  const all = launches(join(repoRoot, 'samples/bookinfo/config/bookinfo.yaml'));
  const r = all.find((x) => x.slot.name === 'reviews-v2')!;
  assert.ok(!('error' in r.launch));
  const l = r.launch as Exclude<typeof r.launch, { error: string }>;
  assert.equal(l.command, process.execPath);
  assert.deepEqual(l.args, ['--import', 'tsx', 'samples/bookinfo/src/main.ts', 'reviews', '--version', 'v2']);
  assert.equal(l.port, 9080);
  assert.equal(l.healthPath, '/health');
  assert.deepEqual(
    { HOST: l.env.HOST, PORT: l.env.PORT, POD_NAME: l.env.POD_NAME, SERVICE_VERSION: l.env.SERVICE_VERSION, TSMESH_OUTBOUND_PROXY: l.env.TSMESH_OUTBOUND_PROXY },
    { HOST: r.slot.appIP, PORT: '9080', POD_NAME: 'reviews-v2', SERVICE_VERSION: 'v2', TSMESH_OUTBOUND_PROXY: `http://${r.slot.appIP}:15080` },
  );
});

test("Istio's images become tsmesh's Bookinfo app of the same app and version labels", { skip: !existsSync(ISTIO_BOOKINFO) && 'Istio data not present' }, () => {
  const all = launches(ISTIO_BOOKINFO);
  assert.equal(all.length, 6);
  for (const { slot, launch } of all) {
    assert.ok(!('error' in launch), slot.name);
    const l = launch as Exclude<typeof launch, { error: string }>;
    const [app, version] = slot.name.split('-');
    assert.deepEqual(l.args, ['--import', 'tsx', 'samples/bookinfo/src/main.ts', app, '--version', version, '--port', '9080']);
    assert.equal(l.env.HOST, slot.appIP);
  }
});

test('an image the demo cannot run is a clear error', () => {
  const cfg: Config = {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'mysql-v1', namespace: 'default' },
    spec: { template: { metadata: { labels: { app: 'mysql', version: 'v1' } }, spec: { containers: [{ name: 'mysql', image: 'mysql:8', ports: [{ containerPort: 3306 }] }] } } },
  };
  const [slot] = allocatePods(listDeployments([cfg]));
  const l = appLaunch(cfg, slot!, repoRoot);
  assert.ok('error' in l);
  assert.match(l.error, /cannot run image mysql:8 without a container runtime/);
});
