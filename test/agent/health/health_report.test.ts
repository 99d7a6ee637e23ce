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
import { groupRegistrationProblem } from '../../../src/controlplane/autoregistration.ts';
import type { GroupTemplate } from '../../../src/registry/workloadentry.ts';
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

test('auto-registration refuses a WorkloadGroup that does not exist (logged, naming it) and still serves the proxy its config', { timeout: 60_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tsmesh-health-report-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'ratings.yaml'), CONFIG);
  const logs: string[] = [];
  const cp = new ControlPlane({ configDir: dir, grpcPort: 0, httpPort: 0, secureGrpcPort: 0, stateDir: caStateDir(t), log: (l) => logs.push(l) });
  await cp.start();
  t.after(() => cp.close());
  // Labels that the Service selects, so only the missing group keeps it out.
  const node = buildBootstrap({
    type: 'sidecar', ip: '127.0.8.9', pod: 'vm', namespace: 'default', app: 'ratings', labels: { app: 'ratings' }, workloadName: 'ghost',
    admin: { host: '127.0.0.1', port: 15000 }, xds: { host: '127.0.0.1', port: cp.grpcPort },
    metadata: { AUTO_REGISTER_GROUP: 'ghost' },
  }).node;
  const c = new AdsClient({ address: `127.0.0.1:${cp.grpcPort}`, node, mode: 'sotw' });
  c.watch(TYPE.CLUSTER, '*', { validate: () => undefined, onUpdate: () => {}, onNack: () => {} } as never);
  c.start();
  t.after(() => c.close());
  await until(() => (c.resources(TYPE.CLUSTER).size > 0 ? true : undefined), 'the refused proxy still gets clusters');
  await until(() => (logs.some((l) => /auto-registration: refused .*WorkloadGroup default\/ghost .*does not exist/.test(l)) ? true : undefined), 'the refusal is logged naming the group');
  assert.equal(cp.registry.endpoints(HOST, 9080).find((e) => e.address === '127.0.8.9'), undefined, 'no endpoint for a proxy naming a missing group');
  assert.equal(cp.registry.workloads().find((w) => w.address === '127.0.8.9'), undefined);
});

test("a verified xDS identity must be the group's service account and namespace", () => {
  const group = { labels: {}, serviceAccount: 'ratings', locality: {}, weight: 1 } as unknown as GroupTemplate;
  assert.equal(groupRegistrationProblem('default', 'ratings', group, undefined), undefined, 'plaintext: no identity to check');
  assert.equal(groupRegistrationProblem('default', 'ratings', group, 'spiffe://cluster.local/ns/default/sa/ratings'), undefined);
  assert.match(groupRegistrationProblem('default', 'ratings', group, 'spiffe://cluster.local/ns/default/sa/reviews')!, /identity spiffe:\/\/cluster\.local\/ns\/default\/sa\/reviews is not WorkloadGroup default\/ratings's .*service account ratings/);
  assert.match(groupRegistrationProblem('default', 'ratings', group, 'spiffe://cluster.local/ns/other/sa/ratings')!, /namespace default/);
  assert.match(groupRegistrationProblem('default', 'ratings', group, 'not-a-spiffe-id')!, /is not WorkloadGroup/);
  const noSa = { ...group, serviceAccount: undefined } as GroupTemplate;
  assert.equal(groupRegistrationProblem('default', 'ratings', noSa, 'spiffe://cluster.local/ns/default/sa/default'), undefined, "Kubernetes' default service account");
  assert.match(groupRegistrationProblem('default', 'ghost', undefined, undefined)!, /WorkloadGroup default\/ghost .*does not exist/);
});
