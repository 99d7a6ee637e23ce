/**
 * The control plane's /metrics on its HTTP port (istiod's :15014): Istio's pilot_* and
 * citadel_server_* families, in Prometheus' text format, moving as a real ADS client connects,
 * is pushed a config change, NACKs, and as a workload asks the CA for a certificate.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { ControlPlane } from '../../src/controlplane/server.ts';
import { AdsClient } from '../../src/xds/client/ads_client.ts';
import { TYPE } from '../../src/xds/types.ts';
import { createCertificate, newCertificateClient } from '../../src/ca/csr_service.ts';
import { issueWorkloadToken } from '../../src/ca/token.ts';
import { CA_STATE_FILES } from '../../src/ca/authority.ts';
import { caStateDir } from '../helpers/processes.ts';
import { until } from '../helpers/poll.ts';
import { makeCsr } from '../ca/helpers.ts';
import { NO_PROMTOOL, promtoolCheck } from '../helpers/promtool.ts';

const SERVICE = `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: web, namespace: default}
spec:
  hosts: [web.default.svc.cluster.local]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{number: 8080, name: http, protocol: HTTP}]
  endpoints: [{address: 127.0.8.1}]
`;
const VIRTUAL_SERVICE = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: web, namespace: default}
spec:
  hosts: [web.default.svc.cluster.local]
  http: [{route: [{destination: {host: web.default.svc.cluster.local}}], timeout: 3s}]
`;

async function scrapeText(port: number): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  return res.text();
}

/** One scrape as series -> value (`name{labels}` exactly as exposed). */
async function scrape(port: number): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const line of (await scrapeText(port)).split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    out.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return out;
}

test('control-plane /metrics: pilot_* move with connections, pushes, config events and NACKs; citadel_* with CSRs', { timeout: 60_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tsmesh-cpmetrics-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'web.yaml'), SERVICE);
  const stateDir = caStateDir(t);
  const cp = new ControlPlane({ configDir: dir, grpcPort: 0, httpPort: 0, secureGrpcPort: 0, stateDir, debounce: { afterMs: 10, maxMs: 100 }, log: () => {} });
  await cp.start();
  t.after(() => cp.close());

  const before = await scrape(cp.httpPort);
  assert.equal(before.get('pilot_services'), 1);
  assert.equal(before.get('pilot_virt_services'), 0);
  assert.ok(before.get('citadel_server_root_cert_expiry_timestamp')! > Date.now() / 1000, 'root expiry is a future unix time');

  // A client that NACKs every route response once it has seen one listener update.
  let nackRoutes = false;
  const node = { id: 'sidecar~127.0.8.50~client-1.default~default.svc.cluster.local', metadata: { NAMESPACE: 'default', LABELS: { app: 'client' }, ISTIO_VERSION: '1.24.0' } };
  const client = new AdsClient({ address: `127.0.0.1:${cp.grpcPort}`, node, mode: 'sotw', backoff: { initialMs: 5, maxMs: 20 } });
  t.after(() => client.close());
  client.watch(TYPE.CLUSTER, '*', { onUpdate: () => {} });
  client.watch(TYPE.LISTENER, '*', { onUpdate: () => {} });
  client.watch(TYPE.ROUTE, ['8080'], { validate: () => (nackRoutes ? { ok: false, error: 'test rejects routes' } : { ok: true }), onUpdate: () => {} });
  client.start();

  const connected = await until(async () => {
    const m = await scrape(cp.httpPort);
    return (m.get('pilot_xds_pushes{type="cds"}') ?? 0) >= 1 && (m.get('pilot_xds_pushes{type="rds"}') ?? 0) >= 1 && m;
  }, 'first responses counted');
  assert.equal(connected.get('pilot_xds{version="1.24.0"}'), 1, 'one connected proxy, by Istio version');

  // A config change: a config event, a push trigger, a push with its convergence time, and a NACK.
  nackRoutes = true;
  writeFileSync(join(dir, 'vs.yaml'), VIRTUAL_SERVICE);
  const after = await until(async () => {
    const m = await scrape(cp.httpPort);
    return (m.get('pilot_total_xds_rejects{type="rds"}') ?? 0) >= 1 && (m.get('pilot_proxy_convergence_time_count') ?? 0) >= 1 && m;
  }, 'a push converged and a NACK counted', 15_000);
  t.diagnostic(`pilot_xds_pushes: ${[...after].filter(([k]) => k.startsWith('pilot_xds_pushes')).map(([k, v]) => `${k}=${v}`).join(' ')}`);
  assert.equal(after.get('pilot_k8s_cfg_events{event="add",type="VirtualService"}'), 1);
  assert.ok((after.get('pilot_push_triggers{type="config"}') ?? 0) >= 1);
  assert.equal(after.get('pilot_virt_services'), 1);
  assert.ok(after.get('pilot_xds_pushes{type="rds"}')! > connected.get('pilot_xds_pushes{type="rds"}')!, 'the changed route was pushed');
  assert.equal(after.get('pilot_proxy_convergence_time_bucket{le="+Inf"}'), after.get('pilot_proxy_convergence_time_count'));
  assert.ok((after.get('pilot_xds_push_time_count{type="rds"}') ?? 0) >= 1);

  // The CA: one signed CSR, one refused for a wrong identity.
  const roots = readFileSync(join(stateDir, 'ca', CA_STATE_FILES.rootCert));
  const ca = newCertificateClient(`127.0.0.1:${cp.secureGrpcPort}`, grpc.credentials.createSsl(roots), { 'grpc.ssl_target_name_override': 'istiod.istio-system.svc' });
  t.after(() => ca.close());
  const token = await issueWorkloadToken(stateDir, { namespace: 'default', serviceAccount: 'web' });
  const { csrPem } = await makeCsr(['spiffe://cluster.local/ns/default/sa/web']);
  await createCertificate(ca, { csr: csrPem, validitySeconds: 3600, token });
  const { csrPem: other } = await makeCsr(['spiffe://cluster.local/ns/default/sa/someone-else']);
  await assert.rejects(createCertificate(ca, { csr: other, validitySeconds: 3600, token }));
  const citadel = await scrape(cp.httpPort);
  assert.equal(citadel.get('citadel_server_csr_count'), 2);
  assert.equal(citadel.get('citadel_server_success_cert_issuance_count'), 1);
  assert.equal(citadel.get('citadel_server_id_extraction_err_count'), 1, 'the CSR naming another identity');
  assert.equal(citadel.get('citadel_server_authentication_failure_count'), 0);
  assert.ok((citadel.get('process_resident_memory_bytes') ?? 0) > 0, "the process' series, as istiod serves Go's");

  await t.test('promtool parses the scrape', { skip: NO_PROMTOOL }, async () => {
    const text = await scrapeText(cp.httpPort);
    const lints = promtoolCheck(text);
    t.diagnostic(`promtool check metrics: ${text.split('\n').length} lines parsed, ${lints.length} naming lints (Istio's and Node's names)`);
    for (const family of ['pilot_xds_pushes', 'pilot_proxy_convergence_time', 'pilot_k8s_cfg_events', 'citadel_server_csr_count']) {
      assert.match(text, new RegExp(`^# TYPE ${family} (counter|gauge|histogram)$`, 'm'));
    }
  });

  client.close();
  const gone = await until(async () => {
    const m = await scrape(cp.httpPort);
    return ![...m.keys()].some((k) => k.startsWith('pilot_xds{')) && m;
  }, 'no connected proxy after the client left');
  assert.ok(gone);
});
