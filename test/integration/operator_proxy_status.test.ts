/**
 * `tsmesh proxy-status` and `tsmesh proxy-config` against the Bookinfo demo, run as a user runs
 * them (the CLI in a process of its own): every sidecar SYNCED; the reviews route seen in the
 * productpage sidecar after Istio's virtual-service-reviews-v3.yaml is applied with `tsmesh
 * apply`; a proxy stopped with SIGSTOP shown STALE, then SYNCED again; log levels changed
 * through the admin API; the tables and filters over a config dump recorded from the real
 * productpage sidecar, read back with --file.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ISTIO_BOOKINFO_CONFIGS, ISTIO_NETWORKING, NO_ISTIO_DATA, startIstioDemo, type IstioDemo } from '../helpers/demo.ts';
import { until } from '../helpers/poll.ts';
import { runTsmesh } from '../helpers/tasks.ts';
import type { EnvoyJson } from '../../src/xds/types.ts';
import { TSMESH_VERSION } from '../../src/common/version.ts';

const REVIEWS_V3 = 'outbound|9080|v3|reviews.default.svc.cluster.local';

/** proxy-status's table as NAME → {column → cell}. */
function parseStatus(stdout: string): Map<string, Record<string, string>> {
  const [head, ...lines] = stdout.trimEnd().split('\n');
  assert.match(head!, /^NAME\s+CLUSTER\s+CDS\s+LDS\s+EDS\s+RDS\s+ECDS\s+ISTIOD\s+VERSION$/, 'istioctl proxy-status header');
  const cols = ['NAME', 'CLUSTER', 'CDS', 'LDS', 'EDS', 'RDS', 'ECDS', 'ISTIOD', 'VERSION'];
  const out = new Map<string, Record<string, string>>();
  for (const line of lines) {
    // Cells are separated by at least 5 spaces (istioctl's padding); NOT SENT has one.
    const cells = line.split(/\s{2,}/);
    assert.equal(cells.length, cols.length, `a row of 9 cells: ${JSON.stringify(line)}`);
    out.set(cells[0]!, Object.fromEntries(cols.map((c, i) => [c, cells[i]!])));
  }
  return out;
}

async function cli(demo: IstioDemo, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return runTsmesh([...args, '--state-dir', demo.stateDir]);
}

test('proxy-status and proxy-config on the Bookinfo demo', { skip: NO_ISTIO_DATA, timeout: 600_000 }, async (t) => {
  const demo = await startIstioDemo(t, { configs: ISTIO_BOOKINFO_CONFIGS });
  await demo.settle();
  const sidecars = demo.state.pods.filter((p) => p.sidecar !== false).map((p) => `${p.name}.${p.namespace}`);
  assert.ok(sidecars.includes('productpage-v1.default'), `the demo runs productpage-v1: ${sidecars.join(', ')}`);

  await t.test('every sidecar and the gateway SYNCED', async () => {
    const r = await cli(demo, ['proxy-status']);
    assert.equal(r.code, 0, r.stderr);
    const rows = parseStatus(r.stdout);
    for (const name of [...sidecars, 'istio-ingressgateway-1.istio-system']) {
      const row = rows.get(name);
      assert.ok(row, `${name} listed in:\n${r.stdout}`);
      for (const col of ['CDS', 'LDS', 'EDS', 'RDS']) assert.equal(row[col], 'SYNCED', `${name} ${col}:\n${r.stdout}`);
      assert.equal(row.ECDS, 'NOT SENT', 'tsmesh sends no extension configs');
      assert.equal(row.CLUSTER, 'Kubernetes');
      assert.ok(row.ISTIOD, `${name} has a control plane: ${JSON.stringify(row)}`);
      assert.equal(row.VERSION, TSMESH_VERSION, `${name} reports its tsmesh build (node user_agent_build_version)`);
    }
    assert.equal(r.stderr, '', 'no demo pod is missing from the table');
    // The alias, and one pod by every short form.
    const ps = await cli(demo, ['ps']);
    assert.equal(ps.stdout, r.stdout);
  });

  // Sidecars registered one after another at start-up: each new service account must have
  // reached every client's clusters as a SAN check (a CDS push), not only as endpoints.
  await t.test('right after start-up every sidecar holds the clusters the control plane would send it', async () => {
    for (const name of sidecars) {
      const diff = await cli(demo, ['proxy-status', name]);
      assert.equal(diff.code, 0, diff.stderr);
      assert.match(diff.stdout, /^Clusters Match$/m, `${name}:\n${diff.stdout.slice(0, 3000)}`);
    }
  });

  await t.test('the debug API takes short proxy names and names close ones for an unknown one', async () => {
    const short = await fetch(`${demo.controlplane}/debug/config_dump?proxyID=productpage-v1.default`);
    assert.equal(short.status, 200);
    const dump = (await short.json()) as Record<string, EnvoyJson[]>;
    assert.ok((dump['type.googleapis.com/envoy.config.cluster.v3.Cluster'] ?? []).some((c) => c.name === REVIEWS_V3), 'the clusters productpage-v1 would be sent');
    const bare = await fetch(`${demo.controlplane}/debug/config_dump?proxyID=productpage-v1`);
    assert.equal(bare.status, 200, 'a bare pod name unique across namespaces');
    const unknown = await fetch(`${demo.controlplane}/debug/config_dump?proxyID=productpage-v9.default`);
    assert.equal(unknown.status, 404);
    assert.match(((await unknown.json()) as { error: string }).error, /did you mean productpage-v1\.default\?/);
    const syncz = (await (await fetch(`${demo.controlplane}/debug/syncz`)).json()) as Array<Record<string, unknown>>;
    const pp = syncz.find((s) => s.proxy === 'productpage-v1.default');
    assert.ok(pp && pp.cluster_sent && pp.cluster_sent === pp.cluster_acked && pp.istio_version, `istiod's SyncStatus fields: ${JSON.stringify(pp)}`);
  });

  await t.test('unknown pods are errors that name close ones', async () => {
    const r = await cli(demo, ['proxy-config', 'cluster', 'productpage-v2']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /no pod productpage-v2 in namespace default of the running demo; did you mean productpage-v1\.default\?/);
    const ns = await cli(demo, ['proxy-config', 'cluster', 'productpage-v1', '-n', 'istio-system']);
    assert.match(ns.stderr, /it is in namespace default \(give productpage-v1\.default\)/);
  });

  await t.test('the reviews route after virtual-service-reviews-v3.yaml is applied', async () => {
    const before = await demo.syncKey();
    const applied = await runTsmesh(['apply', '-f', `${ISTIO_NETWORKING}/virtual-service-reviews-v3.yaml`, '--controlplane', demo.controlplane]);
    assert.equal(applied.code, 0, applied.stderr);
    await demo.settle(before);
    const r = await cli(demo, ['proxy-config', 'route', 'deploy/productpage-v1', '--name', '9080', '-o', 'json']);
    assert.equal(r.code, 0, r.stderr);
    const routes = JSON.parse(r.stdout) as EnvoyJson[];
    assert.equal(routes[0]?.['@type'], 'type.googleapis.com/envoy.config.route.v3.RouteConfiguration', "Envoy's config_dump shape");
    const vhost = routes.flatMap((rc) => rc.virtual_hosts).find((vh: EnvoyJson) => vh.name === 'reviews.default.svc.cluster.local:9080');
    assert.ok(vhost, `the reviews virtual host for port 9080: ${r.stdout.slice(0, 400)}`);
    assert.deepEqual(vhost.routes.map((x: EnvoyJson) => x.route?.cluster), [REVIEWS_V3], 'every reviews request to subset v3');
    assert.match(r.stderr, /showing http_proxy's virtual hosts for port 9080/, 'the HTTP-proxy route is named as such');
    const table = await cli(demo, ['pc', 'route', 'productpage-v1.default', '--name', '9080']);
    const line = table.stdout.split('\n').find((l) => l.includes('reviews.default.svc.cluster.local:9080'));
    assert.match(line ?? '', /reviews\.default:9080, reviews:9080\s+\/\*\s+reviews\.default$/, `VIRTUAL SERVICE column names the VirtualService:\n${table.stdout}`);
    // After that full push, the proxy holds what the control plane would send it now.
    const diff = await cli(demo, ['proxy-status', 'productpage-v1.default']);
    assert.equal(diff.code, 0, diff.stderr);
    assert.match(diff.stdout, /^Clusters Match$/m, diff.stdout.slice(0, 3000));
    assert.match(diff.stdout, /^Listeners Match$/m);
    assert.match(diff.stdout, /^Routes Match$/m);
  });

  await t.test('tables and filters over a dump recorded from the productpage sidecar (--file)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsmesh-pc-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, 'productpage.json');
    writeFileSync(file, await (await fetch(`${demo.pod('productpage-v1').admin}/config_dump?include_eds`)).text());

    const live = await cli(demo, ['pc', 'cluster', 'productpage-v1', '--fqdn', 'reviews.default.svc.cluster.local']);
    const saved = await runTsmesh(['pc', 'cluster', '-f', file, '--fqdn', 'reviews.default.svc.cluster.local']);
    assert.equal(saved.stdout, live.stdout, 'the saved dump reads as the live proxy');
    const lines = saved.stdout.trimEnd().split('\n');
    assert.match(lines[0]!, /^SERVICE FQDN\s+PORT\s+SUBSET\s+DIRECTION\s+TYPE\s+DESTINATION RULE$/);
    assert.deepEqual(lines.slice(1).map((l) => l.split(/\s{2,}/)), ['-', 'v1', 'v2', 'v3'].map((s) => ['reviews.default.svc.cluster.local', '9080', s, 'outbound', 'EDS', 'reviews.default']));
    const v3 = await runTsmesh(['pc', 'cluster', '-f', file, '--fqdn', 'reviews', '--subset', 'v3', '-o', 'json']);
    assert.deepEqual((JSON.parse(v3.stdout) as EnvoyJson[]).map((c) => c.name), [REVIEWS_V3]);
    const inbound = await runTsmesh(['pc', 'cluster', '-f', file, '--direction', 'inbound', '--port', '9080']);
    assert.deepEqual(inbound.stdout.trimEnd().split('\n').slice(1).map((l) => l.trim().split(/\s{2,}/)), [['9080', '-', 'inbound', 'STATIC']]);

    const listeners = await runTsmesh(['pc', 'listener', '-f', file, '--port', '15080']);
    assert.match(listeners.stdout, /^ADDRESSES\s+PORT\s+MATCH\s+DESTINATION\n\S+\s+15080\s+ALL\s+Route: http_proxy\n$/);
    const short = await runTsmesh(['pc', 'listener', '-f', file, '--port', '9080', '-o', 'short']);
    assert.match(short.stdout, /^ADDRESSES\s+PORT\s+TYPE\n\S+\s+9080\s+HTTP\n$/, 'the inbound listener, HTTP (an HCM on each chain)');
    const tcp = await runTsmesh(['pc', 'listener', '-f', file, '--type', 'tcp', '-o', 'short']);
    assert.equal(tcp.stdout, 'ADDRESSES     PORT     TYPE\n', 'no TCP-only listener on an HTTP workload');

    const eps = await cli(demo, ['pc', 'endpoint', 'productpage-v1', '--cluster', REVIEWS_V3, '--status', 'healthy']);
    const reviewsV3 = demo.pod('reviews-v3').podIP;
    assert.match(eps.stdout, new RegExp(`^ENDPOINT\\s+STATUS\\s+OUTLIER CHECK\\s+CLUSTER\\n${reviewsV3.replace(/\./g, '\\.')}:9080\\s+HEALTHY\\s+OK\\s+outbound\\|9080\\|v3\\|reviews`));
    const savedEps = await runTsmesh(['pc', 'endpoint', '-f', file, '--cluster', REVIEWS_V3]);
    assert.equal(savedEps.stdout, eps.stdout, 'endpoints from the dump as from /clusters');

    const secrets = await runTsmesh(['pc', 'secret', '-f', file]);
    const rows = secrets.stdout.trimEnd().split('\n').map((l) => l.split(/\s{2,}/));
    assert.deepEqual(rows[0], ['RESOURCE NAME', 'TYPE', 'STATUS', 'VALID CERT', 'SERIAL NUMBER', 'NOT AFTER', 'NOT BEFORE']);
    const byName = Object.fromEntries(rows.slice(1).map((r) => [r[0], r]));
    assert.deepEqual(byName.default?.slice(1, 4), ['Cert Chain', 'ACTIVE', 'true']);
    assert.deepEqual(byName.ROOTCA?.slice(1, 4), ['CA', 'ACTIVE', 'true']);
    assert.match(byName.default?.[4] ?? '', /^\d+$/, 'serial number in decimal');
    assert.match(byName.default?.[5] ?? '', /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);

    const boot = JSON.parse((await runTsmesh(['pc', 'bootstrap', '-f', file])).stdout) as EnvoyJson;
    assert.equal(boot['@type'], 'type.googleapis.com/envoy.admin.v3.BootstrapConfigDump');
    assert.match(boot.bootstrap.node.id, /^sidecar~.*~productpage-v1\.default~/);
  });

  await t.test('proxy-config log --level changes the level a second proxy-config log shows', async () => {
    const before = await cli(demo, ['pc', 'log', 'productpage-v1.default']);
    assert.equal(before.stdout, 'productpage-v1.default:\nactive loggers:\n  tsmesh: info\n');
    const set = await cli(demo, ['pc', 'log', 'productpage-v1.default', '--level', 'debug']);
    assert.equal(set.code, 0, set.stderr);
    const after = await cli(demo, ['pc', 'log', 'deploy/productpage-v1']);
    assert.match(after.stdout, /tsmesh: debug/);
    const one = await cli(demo, ['pc', 'log', 'productpage-v1', '--level', 'tsmesh:warning']);
    assert.match(one.stdout, /tsmesh: warning/);
    const bad = await cli(demo, ['pc', 'log', 'productpage-v1', '--level', 'http:debug']);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /unknown logger name http/);
    await cli(demo, ['pc', 'log', 'productpage-v1', '--level', 'info']);
  });

  await t.test('a stopped proxy shows STALE once a push reaches it, and SYNCED when it runs again', async () => {
    const sidecar = demo.state.processes.find((p) => p.name === 'productpage-v1 sidecar');
    assert.ok(sidecar, `the productpage sidecar's process: ${demo.state.processes.map((p) => p.name).join(', ')}`);
    process.kill(sidecar.pid, 'SIGSTOP');
    try {
      // A route change every proxy is sent; the stopped one cannot ACK it.
      const applied = await runTsmesh(['apply', '-f', `${ISTIO_NETWORKING}/virtual-service-reviews-50-v3.yaml`, '--controlplane', demo.controlplane]);
      assert.equal(applied.code, 0, applied.stderr);
      const stale = await until(
        async () => {
          const rows = parseStatus((await cli(demo, ['proxy-status'])).stdout);
          return rows.get('productpage-v1.default')?.RDS === 'STALE' && rows;
        },
        'productpage-v1 RDS STALE',
        60_000,
        500,
      );
      assert.equal(stale.get('reviews-v1.default')?.RDS, 'SYNCED', 'the running proxies ACKed the same push');
    } finally {
      process.kill(sidecar.pid, 'SIGCONT');
    }
    await until(
      async () => {
        const row = parseStatus((await cli(demo, ['proxy-status'])).stdout).get('productpage-v1.default');
        return row && ['CDS', 'LDS', 'EDS', 'RDS'].every((c) => row[c] === 'SYNCED');
      },
      'productpage-v1 SYNCED again after SIGCONT',
      60_000,
      500,
    );
  });
});
