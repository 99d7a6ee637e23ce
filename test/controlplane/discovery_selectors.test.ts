import { caStateDir } from '../helpers/processes.ts';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ControlPlane } from '../../src/controlplane/server.ts';
import { generate } from '../../src/pilot/generator.ts';
import { parseProxy } from '../../src/pilot/proxy.ts';
import { TYPE } from '../../src/xds/types.ts';

const svc = (ns: string) => `
apiVersion: v1
kind: Service
metadata: { name: web, namespace: ${ns} }
spec: { selector: { app: web }, ports: [{ name: http, port: 80 }] }
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: web, namespace: ${ns} }
spec:
  hosts: [web.${ns}.svc.cluster.local]
  http: [{ directResponse: { status: 418 } }]
`;

test('discoverySelectors hide the services and the config of namespaces they leave out', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tsmesh-ds-'));
  writeFileSync(join(dir, 'team-a.yaml'), svc('team-a'));
  writeFileSync(join(dir, 'team-b.yaml'), svc('team-b'));
  writeFileSync(join(dir, 'ns.yaml'), 'apiVersion: v1\nkind: Namespace\nmetadata: { name: team-a, labels: { mesh: "on" } }\n');
  const mesh = join(dir, '..', `${dir.split('/').pop()}-mesh.yaml`);
  writeFileSync(mesh, 'discoverySelectors:\n- matchLabels: { mesh: "on" }\n');
  const cp = new ControlPlane({ configDir: dir, meshFile: mesh, grpcPort: 0, httpPort: 0, secureGrpcPort: 0, stateDir: caStateDir(t), log: () => undefined });
  await cp.start();
  t.after(async () => {
    await cp.close();
    rmSync(dir, { recursive: true, force: true });
    rmSync(mesh, { force: true });
  });
  await cp.discovery.ready();
  const push = cp.discovery.pushContext!;
  assert.deepEqual(push.services.map((s) => s.hostname), ['web.team-a.svc.cluster.local']);
  assert.ok(push.configs.some((c) => c.kind === 'VirtualService' && c.metadata.namespace === 'team-a'));
  assert.ok(!push.configs.some((c) => c.metadata.namespace === 'team-b'), 'team-b config is not seen');
  const proxy = parseProxy({ id: 'sidecar~127.0.0.9~client.team-a~team-a.svc.cluster.local', metadata: { NAMESPACE: 'team-a' } });
  const routes = generate(push, proxy, TYPE.ROUTE, ['80']);
  const domains = routes.flatMap((r) => r.resource.virtual_hosts.flatMap((v: { domains: string[] }) => v.domains));
  assert.ok(domains.includes('web.team-a.svc.cluster.local'));
  assert.ok(!domains.some((d: string) => d.includes('team-b')));
});
