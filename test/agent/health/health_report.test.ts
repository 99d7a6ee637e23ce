/**
 * A VM's health over xDS (Istio's HealthInformation request on the proxy's own ADS stream): a
 * proxy naming AUTO_REGISTER_GROUP registers through that WorkloadGroup (its labels, service
 * account, `<group>-<ip>` name), starts unhealthy when its node carries a readiness probe, follows
 * the agent's reports, and is gone when its stream ends. A real control plane and a real ADS client.
 */
import { caStateDir } from '../../helpers/processes.ts';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ControlPlane } from '../../../src/controlplane/server.ts';
import { buildBootstrap } from '../../../src/agent/bootstrap.ts';
import { AdsClient } from '../../../src/xds/client/index.ts';
import { ISTIO_XDS } from '../../../src/xds/type_urls.ts';
import { TYPE } from '../../../src/xds/types.ts';

const CONFIG = `
apiVersion: v1
kind: Service
metadata: { name: ratings, namespace: default }
spec:
  clusterIP: 10.96.0.30
  selector: { app: ratings }
  ports: [{ name: http, port: 9080 }]
---
apiVersion: networking.istio.io/v1
kind: WorkloadGroup
metadata: { name: ratings, namespace: default }
spec:
  metadata: { labels: { app: ratings } }
  template: { serviceAccount: ratings }
  probe: { httpGet: { port: 9080, path: /healthz } }
`;

const HOST = 'ratings.default.svc.cluster.local';

async function until<T>(f: () => T | undefined, what: string, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = f();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('health reports over xDS move an auto-registered VM workload between healthy and unhealthy; a closed stream removes it', { timeout: 60_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tsmesh-health-report-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'ratings.yaml'), CONFIG);
  const cp = new ControlPlane({ configDir: dir, grpcPort: 0, httpPort: 0, secureGrpcPort: 0, stateDir: caStateDir(t), log: () => {} });
  await cp.start();
  t.after(() => cp.close());
  const node = (ip: string, probe: boolean) =>
    buildBootstrap({
      type: 'sidecar', ip, pod: 'vm', namespace: 'default', app: 'ratings', labels: {}, workloadName: 'ratings',
      admin: { host: '127.0.0.1', port: 15000 }, xds: { host: '127.0.0.1', port: cp.grpcPort },
      metadata: { AUTO_REGISTER_GROUP: 'ratings', ...(probe ? { PROXY_CONFIG: { readinessProbe: { httpGet: { port: 9080 } } } } : {}) },
    }).node;
  const connect = (ip: string, probe: boolean) => {
    const c = new AdsClient({ address: `127.0.0.1:${cp.grpcPort}`, node: node(ip, probe), mode: 'sotw' });
    c.watch(TYPE.CLUSTER, '*', { validate: () => undefined, onUpdate: () => {}, onNack: () => {} } as never);
    c.start();
    t.after(() => c.close());
    return c;
  };
  const endpoint = (ip: string) => cp.registry.endpoints(HOST, 9080).find((e) => e.address === ip);

  const probed = connect('127.0.8.1', true);
  const plain = connect('127.0.8.2', false);
  // Both join through the group (its labels select them); the probed one waits for its agent.
  const e1 = await until(() => endpoint('127.0.8.1'), 'probed VM registered');
  const e2 = await until(() => endpoint('127.0.8.2'), 'unprobed VM registered');
  assert.equal(e1.healthy, false, 'a workload whose agent runs a probe takes no traffic before its first report');
  assert.equal(e2.healthy, true, 'a workload without a probe is healthy from the start');
  const w = cp.registry.workloads().find((x) => x.address === '127.0.8.1')!;
  assert.equal(w.name, 'ratings-127.0.8.1', "Istio's auto-registered WorkloadEntry name: <group>-<ip>");
  assert.equal(w.serviceAccount, 'ratings', "the group's template service account");
  assert.equal(w.labels.app, 'ratings', "the group's labels");

  probed.report(ISTIO_XDS.HEALTH_INFO);
  await until(() => (endpoint('127.0.8.1')?.healthy === true ? true : undefined), 'healthy after a healthy report');
  probed.report(ISTIO_XDS.HEALTH_INFO, { code: 500, message: 'HTTP probe: status 503' });
  await until(() => (endpoint('127.0.8.1')?.healthy === false ? true : undefined), 'unhealthy after an unhealthy report');
  // The unhealthy workload stays listed (marked), it is not removed.
  assert.ok(endpoint('127.0.8.1'));

  plain.close();
  await until(() => (endpoint('127.0.8.2') === undefined ? true : undefined), 'a VM whose stream ends is no endpoint');
  assert.ok(endpoint('127.0.8.1'), 'the other VM stays');
});
