// Issue 14, acceptance 4: VM workloads (Istio's VM integration without Kubernetes). A control
// plane host; three "VM" hosts each running `tsmesh sidecar` from the files `tsmesh vm bootstrap`
// wrote for one WorkloadGroup (auto-registration through ISTIO_META_AUTO_REGISTER_GROUP, the
// group's HTTP readiness probe run by the agent and reported over xDS); a client host with a
// captured sidecar calling the Service that selects the group. Observed from the client's proxy
// (its /clusters) and its traffic: the VMs become endpoints soon after their sidecars are ready,
// requests spread over all three, a VM whose probe fails leaves the client's load balancing and
// comes back when it passes, and a VM whose sidecar stops is removed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, unlinkSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { NO_NETNS, netLab, nodeForAnyUser, type Host } from '../helpers/netns.ts';
import { hostHttp, started as startedProcess, startHostApp, startHostMesh, waitOutput, type HostApp } from '../helpers/host_mesh.ts';
import { REPO } from '../helpers/processes.ts';
import { tsmeshCommand } from '../../src/common/self_command.ts';
import { ADDON_PATH } from '../../src/proxy/listener/so_original_dst.ts';

const run = promisify(execFile);
const VIP = '10.96.0.30';
const CLUSTER = 'outbound|9080||ratings.default.svc.cluster.local';

const CONFIG = `
apiVersion: v1
kind: Service
metadata: { name: ratings, namespace: default }
spec:
  clusterIP: ${VIP}
  selector: { app: ratings }
  ports: [{ name: http, port: 9080 }]
---
# Round robin (Istio's simple LB), so the spread over the VMs is deterministic: the default
# LEAST_REQUEST is a uniform random pick for one-at-a-time requests.
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: ratings, namespace: default }
spec:
  host: ratings.default.svc.cluster.local
  trafficPolicy:
    loadBalancer: { simple: ROUND_ROBIN }
`;

const GROUP = `
apiVersion: networking.istio.io/v1
kind: WorkloadGroup
metadata: { name: ratings, namespace: default }
spec:
  metadata:
    labels: { app: ratings, version: v1 }
  template:
    serviceAccount: ratings
    ports: { http: 9080 }
  probe:
    periodSeconds: 1
    timeoutSeconds: 1
    successThreshold: 1
    failureThreshold: 1
    httpGet: { path: /healthz, port: 9080, host: 127.0.0.1 }
`;

/** HTTP app on 9080: answers its name; /healthz fails (503) while `flag` exists. */
function vmApp(name: string, flag: string): HostApp {
  return {
    script: `
import http from 'node:http';
import { existsSync } from 'node:fs';
const [name, flag] = [process.argv[1], process.argv[2]];
http.createServer((req, res) => {
  if (req.url === '/healthz') return res.writeHead(existsSync(flag) ? 503 : 200).end();
  res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ vm: name, peer: req.socket.remoteAddress }));
}).listen(9080, '0.0.0.0', () => console.log('app listening 9080'));
`,
    args: [name, flag],
    ready: /app listening 9080/,
  };
}

/**
 * Watches the client proxy's endpoints of the Service from inside its host: polls its admin
 * /clusters every 25 ms and prints, on each change, the time (Date.now(), one clock for every
 * namespace) and address -> health flags.
 */
const WATCH_JS = `
import http from 'node:http';
const [cluster] = JSON.parse(process.argv[1]);
let last = '';
const get = () => new Promise((resolve) => {
  const req = http.get('http://127.0.0.1:15000/clusters', { timeout: 2000 }, (res) => {
    let b = ''; res.setEncoding('utf8'); res.on('data', (d) => (b += d)); res.on('end', () => resolve(b));
  });
  req.on('error', () => resolve(undefined));
  req.on('timeout', () => req.destroy());
});
for (;;) {
  const text = await get();
  if (text !== undefined) {
    const eps = {};
    for (const line of text.split('\\n')) {
      const i = line.indexOf('::health_flags::');
      if (i < 0 || !line.startsWith(cluster + '::')) continue;
      eps[line.slice(cluster.length + 2, i).replace(/:\\d+$/, '')] = line.slice(i + 16).trim();
    }
    const key = JSON.stringify(eps);
    if (key !== last) { last = key; console.log(JSON.stringify({ t: Date.now(), eps })); }
  }
  await new Promise((r) => setTimeout(r, 25));
}
`;

interface EndpointWatch {
  /** Endpoint address -> health flags, as last seen. */
  now(): Record<string, string>;
  /** Resolves with the Date.now() time at which `want` first held (checked on each change, and now). */
  until(want: (eps: Record<string, string>) => boolean, what: string, ms?: number): Promise<number>;
  /** The first time `want` held over all changes seen so far (undefined: never). */
  firstTime(want: (eps: Record<string, string>) => boolean): number | undefined;
}

function watchEndpoints(h: Host): EndpointWatch {
  const child = h.spawn(process.execPath, ['--input-type=module', '-e', WATCH_JS, JSON.stringify([CLUSTER])]);
  const events: { t: number; eps: Record<string, string> }[] = [];
  const waiters = new Set<() => void>();
  let buf = '';
  child.stdout?.on('data', (d: Buffer) => {
    buf += d.toString();
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      try {
        events.push(JSON.parse(line));
      } catch {
        continue;
      }
      for (const w of [...waiters]) w();
    }
  });
  const now = () => events.at(-1)?.eps ?? {};
  return {
    now,
    firstTime: (want) => events.find((e) => want(e.eps))?.t,
    until: (want, what, ms = 20_000) =>
      new Promise((resolve, reject) => {
        const check = () => {
          const e = events.at(-1);
          if (e && want(e.eps)) {
            waiters.delete(check);
            clearTimeout(timer);
            resolve(e.t);
          }
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`${what}: not seen within ${ms} ms; endpoints now ${JSON.stringify(now())}`));
        }, ms);
        waiters.add(check);
        check();
      }),
  };
}

function tally(rs: { status: number; body: string }[]): Record<string, number> {
  const n: Record<string, number> = {};
  for (const r of rs) {
    const k = r.status === 200 ? (JSON.parse(r.body) as { vm: string }).vm : `status ${r.status} ${r.body.slice(0, 40)}`;
    n[k] = (n[k] ?? 0) + 1;
  }
  return n;
}

test('VM workloads: WorkloadGroup auto-registration from tsmesh vm bootstrap files, load balancing, probe health, hosts leaving', { skip: NO_NETNS || (!existsSync(ADDON_PATH) && 'native SO_ORIGINAL_DST addon not built (npm install with a C compiler)'), timeout: 600_000 }, async (t) => {
  const lab = await netLab(t);
  const net = await lab.network('vm', '10.89.0.0/24');
  const host = (name: string, ip: string) => lab.host(name, [{ network: net, ip }]);
  const [cpHost, client, ...vms] = await Promise.all([host('cp', '10.89.0.2'), host('client', '10.89.0.20'), host('vm1', '10.89.0.11'), host('vm2', '10.89.0.12'), host('vm3', '10.89.0.13')]);
  await client.run('ip', ['route', 'add', '10.96.0.0/16', 'dev', 'eth0']);
  const mesh = await startHostMesh(t, cpHost, { config: { 'ratings.yaml': CONFIG } });
  // The group is config like any other (the control plane reads it as the VMs' template).
  mesh.writeConfig('ratings-group.yaml', GROUP);

  // istioctl x workload entry configure's job, run where the control plane's state is.
  const work = mkdtempSync(join(tmpdir(), 'tsmesh-vm-test-'));
  t.after(() => rmSync(work, { recursive: true, force: true }));
  writeFileSync(join(work, 'group.yaml'), GROUP);
  const files = join(work, 'vm-files');
  const boot = tsmeshCommand(['vm', 'bootstrap', '--workload-group', join(work, 'group.yaml'), '-o', files, '--ingressIP', mesh.ip, '--state-dir', mesh.stateDir, '--clusterID', 'Kubernetes', '--tokenDuration', '3600']);
  await run(boot.command, boot.args, { cwd: REPO });
  const env = readFileSync(join(files, 'cluster.env'), 'utf8');
  assert.match(env, /^ISTIO_META_AUTO_REGISTER_GROUP='ratings'$/m);
  assert.match(readFileSync(join(files, 'hosts'), 'utf8'), new RegExp(`^${mesh.ip.replace(/\./g, '\\.')} istiod\\.istio-system\\.svc$`, 'm'));

  const clientSc = await mesh.startSidecar(client, { name: 'client', labels: { app: 'client' }, identity: true });
  const watch = watchEndpoints(client);
  // Three VMs: app, then `tsmesh sidecar` as root (capture, then the proxy as uid 1337).
  const flags = vms.map((_, i) => join(work, `fail-vm${i + 1}`));
  type Vm = { host: Host; ip: string; readyAt: number; stop(): Promise<void>; output(): string };
  const started: Vm[] = await Promise.all(
    vms.map(async (h, i) => {
      await startHostApp(h, vmApp(`vm${i + 1}`, flags[i]!));
      const ip = Object.values(h.ips)[0]!;
      const cmd = tsmeshCommand(['sidecar', '--config-dir', files, '--ip', ip, '--drain-time-s', '0']);
      // The sidecar starts the proxy as uid 1337 with its own Node: one that uid can execute.
      const sc = startedProcess(h.spawn(nodeForAnyUser(), cmd.args, { cwd: REPO }));
      t.after(() => sc.stop());
      await waitOutput(sc, /tsmesh proxy ready/, `[${h.name}] tsmesh sidecar`);
      return { host: h, ip, readyAt: Date.now(), stop: sc.stop, output: sc.output };
    }),
  );

  // cluster.env's ISTIO_META_DNS_CAPTURE (vm bootstrap's default): DNS is captured too.
  assert.match(started[0]!.output(), /traffic captured \(.*except 22,15090,15021,15020, DNS -> 15053;/);

  // Time to endpoint: from each sidecar's ready line to its address being a healthy endpoint in
  // the client's proxy (the watcher polls the client's admin API every 25 ms).
  const healthy = (ip: string) => (eps: Record<string, string>) => eps[ip] === 'healthy';
  try {
    await watch.until((eps) => started.every((vm) => eps[vm.ip] === 'healthy'), 'all three VMs healthy endpoints at the client', 30_000);
  } catch (e) {
    assert.fail(`${(e as Error).message}\n${started.map((v) => v.output().slice(-1500)).join('\n---\n')}\n--- control plane:\n${mesh.output().slice(-3000)}`);
  }
  const toEndpoint = started.map((vm) => watch.firstTime(healthy(vm.ip))! - vm.readyAt);
  t.diagnostic(`time from sidecar ready to healthy endpoint at the client (ms): ${toEndpoint.join(', ')}`);
  // The figure is the diagnostic; the bound is generous, as scheduling on a busy 2-core machine
  // alone can take a second (set TSMESH_STRICT_TIMING=1 for the 1 s).
  const bound = process.env.TSMESH_STRICT_TIMING ? 1000 : 10_000;
  for (const ms of toEndpoint) assert.ok(ms < bound, `a VM became an endpoint ${ms} ms after its sidecar was ready (want < ${bound} ms)`);

  // Load balancing across the three (ROUND_ROBIN from the DestinationRule, mTLS to each VM's).
  // Round robin over three healthy hosts gives each N/3; >= N/6 leaves room for a retried request.
  const N = 60;
  const spread = tally(await hostHttp(client, `http://${VIP}:9080/`, { count: N }));
  t.diagnostic(`distribution over ${N} requests: ${JSON.stringify(spread)}`);
  for (const name of ['vm1', 'vm2', 'vm3']) assert.ok((spread[name] ?? 0) >= N / 6, `${name} got ${spread[name] ?? 0} of ${N}: ${JSON.stringify(spread)}`);
  assert.equal((spread.vm1 ?? 0) + (spread.vm2 ?? 0) + (spread.vm3 ?? 0), N, JSON.stringify(spread));

  // The VMs took xDS over TLS on 15012 (vm bootstrap's default) with their workload certificate:
  // the control plane saw the group's identity on each of their connections.
  const conns = (await mesh.debug('/debug/connections')) as Array<{ node?: { metadata?: Record<string, unknown> }; verifiedIdentity?: string }>;
  const vmConns = conns.filter((c) => started.some((v) => String(c.node?.metadata?.INSTANCE_IPS ?? '').split(',').includes(v.ip)));
  assert.equal(vmConns.length, started.length, `one xDS connection per VM: ${JSON.stringify(conns.map((c) => c.node?.metadata?.INSTANCE_IPS))}`);
  for (const c of vmConns) assert.equal(c.verifiedIdentity, 'spiffe://cluster.local/ns/default/sa/ratings', JSON.stringify(c));

  // vm2's app fails its probe: the control plane marks it unhealthy, the client stops using it.
  const vm2 = started[1]!;
  const waitHealth = async (ip: string, want: (flags: string | undefined) => boolean, what: string) => {
    const t0 = Date.now();
    return (await watch.until((eps) => want(eps[ip]), `${what} (${ip})`)) - t0;
  };
  writeFileSync(flags[1]!, '');
  const removedMs = await waitHealth(vm2.ip, (f) => f !== undefined && f !== 'healthy', 'failing probe');
  t.diagnostic(`probe failing -> out of the client's load balancing in ${removedMs} ms (probe period 1 s, failureThreshold 1)`);
  const without2 = tally(await hostHttp(client, `http://${VIP}:9080/`, { count: 30 }));
  t.diagnostic(`while vm2 is unhealthy: ${JSON.stringify(without2)}`);
  assert.equal(without2.vm2 ?? 0, 0, `no request reaches the unhealthy VM: ${JSON.stringify(without2)}`);
  assert.equal((without2.vm1 ?? 0) + (without2.vm3 ?? 0), 30, JSON.stringify(without2));

  unlinkSync(flags[1]!);
  const backMs = await waitHealth(vm2.ip, (f) => f === 'healthy', 'recovered probe');
  t.diagnostic(`probe passing again -> back in ${backMs} ms`);
  const with2 = tally(await hostHttp(client, `http://${VIP}:9080/`, { count: 30 }));
  t.diagnostic(`after vm2 recovered: ${JSON.stringify(with2)}`);
  // Round robin: 10 each; >= 5 is deterministic, not a probability.
  assert.ok((with2.vm2 ?? 0) >= 5, `the recovered VM takes traffic again: ${JSON.stringify(with2)}`);

  // vm3's sidecar stops: its xDS stream ends, and it is no endpoint anywhere.
  const vm3 = started[2]!;
  const t0 = Date.now();
  const gone = watch.until((eps) => eps[vm3.ip] === undefined, `stopped sidecar (${vm3.ip})`);
  await vm3.stop();
  const exited = Date.now();
  const goneAt = await gone;
  // `exited` is after the sidecar removed its capture, which follows the proxy's own exit (so this can be negative).
  t.diagnostic(`sidecar stopped -> removed from the client's endpoints ${goneAt - t0} ms after SIGTERM (${goneAt - exited} ms relative to the sidecar's exit)`);
  // The sidecar removes its capture as it goes: rules left behind would send the VM's traffic to a closed 15001.
  const nat = await vm3.host.run('iptables-save', ['-t', 'nat']);
  assert.doesNotMatch(nat.stdout, /ISTIO_/, `capture left behind on the stopped VM:\n${nat.stdout}`);
  assert.match(vm3.output(), /capture removed/);
  const after = tally(await hostHttp(client, `http://${VIP}:9080/`, { count: 30 }));
  assert.equal(after.vm3 ?? 0, 0, JSON.stringify(after));
  assert.equal((after.vm1 ?? 0) + (after.vm2 ?? 0), 30, JSON.stringify(after));
});
