/**
 * Issue 14, acceptance 3 (Istio's DNS proxy) on netns hosts: a sidecar whose node metadata has
 * ISTIO_META_DNS_CAPTURE and ISTIO_META_DNS_AUTO_ALLOCATE, on a host whose port-53 traffic
 * `tsmesh init --redirect-dns` sends to the agent (15053) and whose TCP `tsmesh init` captures.
 * A ServiceEntry host without addresses resolves inside the host (glibc's getent and node's
 * dns.lookup) to an auto-allocated 240.240/16 VIP, and HTTP and TCP to it reach the entry's
 * endpoint on another host through the sidecar; a name the mesh does not know is answered by
 * the upstream resolver in resolv.conf, a dns-packet server this test runs on another host.
 * A Kubernetes Service answers by its short forms too (name, name.ns, name.ns.svc).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NO_NETNS, netLab } from '../helpers/netns.ts';
import { hostHttp, hostTcp, httpEchoApp, startHostApp, startHostMesh, tcpEchoApp, type HostApp } from '../helpers/host_mesh.ts';
import { until } from '../helpers/poll.ts';
import { tsmeshCommand } from '../../src/common/self_command.ts';

const SUBNET = '10.89.0.0/24';
const CP = '10.89.0.2';
const CLIENT = '10.89.0.11';
const EXT = '10.89.0.30';
const RESOLVER = '10.89.0.53';

const SERVICE_ENTRY = `
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ext-api, namespace: default}
spec:
  hosts: [api.ext.test]
  location: MESH_EXTERNAL
  resolution: STATIC
  ports:
  - {number: 80, name: http, protocol: HTTP, targetPort: 8080}
  - {number: 9000, name: tcp, protocol: TCP, targetPort: 9001}
  endpoints: [{address: ${EXT}}]
---
apiVersion: v1
kind: Service
metadata: {name: reviews, namespace: default}
spec:
  clusterIP: 10.96.0.20
  selector: {app: reviews}
  ports: [{name: http, port: 9080}]
`;

/** The upstream resolver: dns-packet on UDP and TCP 53; outside.example A 192.0.2.55, the rest NXDOMAIN; logs each question. */
const RESOLVER_APP: HostApp = {
  script: `
import dgram from 'node:dgram';
import net from 'node:net';
import * as dnsPacket from 'dns-packet';
const answer = (msg, from) => {
  const q = dnsPacket.decode(msg);
  const qq = q.questions[0];
  console.log('query ' + qq.name + ' ' + qq.type + ' from ' + from);
  const known = qq.name === 'outside.example' && qq.type === 'A';
  return dnsPacket.encode({ type: 'response', id: q.id, flags: dnsPacket.RECURSION_AVAILABLE | (known ? 0 : 3), questions: q.questions,
    answers: known ? [{ name: qq.name, type: 'A', ttl: 60, class: 'IN', data: '192.0.2.55' }] : [] });
};
const udp = dgram.createSocket('udp4');
udp.on('message', (m, r) => { try { udp.send(answer(m, r.address), r.port, r.address); } catch {} });
udp.bind(53, '0.0.0.0', () => {
  net.createServer((s) => {
    let buf = Buffer.alloc(0);
    s.on('error', () => {});
    s.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        const n = buf.readUInt16BE(0);
        const out = answer(buf.subarray(2, 2 + n), s.remoteAddress);
        buf = buf.subarray(2 + n);
        s.write(Buffer.concat([Buffer.from([out.length >> 8, out.length & 255]), out]));
      }
    });
  }).listen(53, '0.0.0.0', () => console.log('resolver ready'));
});
`,
  ready: /resolver ready/,
};

const LOOKUP_JS = `
import dns from 'node:dns';
const name = process.argv[1];
dns.lookup(name, { family: 4 }, (err, address) => console.log(JSON.stringify(err ? { error: err.code } : { address })));
`;

test('DNS proxy: an addressless ServiceEntry resolves to an auto-allocated VIP and is routed; other names go to the upstream resolver', { skip: NO_NETNS, timeout: 240_000 }, async (t) => {
  const lab = await netLab(t);
  const net = await lab.network('mesh', SUBNET);
  const cpHost = await lab.host('cp', [{ network: net, ip: CP }]);
  const ext = await lab.host('ext', [{ network: net, ip: EXT }]);
  const resolverHost = await lab.host('dns', [{ network: net, ip: RESOLVER }]);
  // A default route, as a pod has: 240.240/16 must be routable for connect() to reach the capture rules.
  const client = await lab.host('client', [{ network: net, ip: CLIENT, gateway: CP }]);

  const resolver = await startHostApp(resolverHost, RESOLVER_APP);
  t.after(() => resolver.stop());
  const extHttp = await startHostApp(ext, httpEchoApp(8080, 'ext-http'));
  const extTcp = await startHostApp(ext, tcpEchoApp(9001, 'ext-tcp'));
  t.after(async () => void (await Promise.all([extHttp.stop(), extTcp.stop()])));

  const mesh = await startHostMesh(t, cpHost, { config: { 'se.yaml': SERVICE_ENTRY } });

  // The workload's resolv.conf names the bridge resolver; capture sends its port-53 traffic to the agent.
  client.etcFile('resolv.conf', `nameserver ${RESOLVER}\nsearch default.svc.cluster.local svc.cluster.local cluster.local\noptions ndots:5\n`);
  const init = tsmeshCommand(['init', '-i', '*', '--redirect-dns', '--dns-servers', RESOLVER]);
  await client.run(init.command, init.args);

  const sc = await mesh.startSidecar(client, {
    name: 'client',
    labels: { app: 'client' },
    capture: false,
    env: { ISTIO_META_DNS_CAPTURE: 'true', ISTIO_META_DNS_AUTO_ALLOCATE: 'true' },
  });

  // glibc (getent) through the captured port 53: the NameTable reaches the agent with the first push.
  let vip = '';
  await until(async () => {
    const r = await client.run('getent', ['ahostsv4', 'api.ext.test'], { allowFail: true, timeoutMs: 10_000 });
    vip = r.stdout.split(/\s+/)[0] ?? '';
    return /^240\.240\.\d+\.\d+$/.test(vip);
  }, 'api.ext.test resolves to an auto-allocated VIP', 30_000, 300).catch(async (e) => {
    const rules = await client.run('iptables-save', [], { allowFail: true });
    throw new Error(`${(e as Error).message} (last: ${vip || 'nothing'})\n--- sidecar ---\n${sc.output().slice(-3000)}\n--- resolver ---\n${resolver.output().slice(-1000)}\n--- rules ---\n${rules.stdout}`);
  });
  t.diagnostic(`api.ext.test -> ${vip}`);
  // The resolver logs each question as it gets it, but its stdout reaches this process later.
  // A name only the resolver knows about, asked after the queries under test, is a barrier: once
  // its line is here, any earlier query that reached the resolver has been logged too.
  const resolverBarrier = async (name: string) => {
    await client.run('getent', ['ahostsv4', name], { allowFail: true, timeoutMs: 10_000 });
    await until(async () => resolver.output().includes(`query ${name} A`), `the resolver logged ${name}`, 10_000, 50);
  };

  // node's dns.lookup agrees, and the agent answered it (the upstream never saw the name).
  const lookup = JSON.parse((await client.run(process.execPath, ['--input-type=module', '-e', LOOKUP_JS, 'api.ext.test'])).stdout.trim());
  assert.deepEqual(lookup, { address: vip });
  await resolverBarrier('barrier-1.example');
  assert.doesNotMatch(resolver.output(), /query api\.ext\.test/);

  // The outbound listener for the VIP: HTTP by name and TCP by VIP reach the entry's endpoint through the sidecar.
  const http = await hostHttp(client, 'http://api.ext.test/', { count: 5 });
  assert.deepEqual(http.map((r) => r.status), [200, 200, 200, 200, 200], JSON.stringify(http));
  for (const r of http) {
    const body = JSON.parse(r.body);
    assert.equal(body.version, 'ext-http');
    assert.equal(body.host, 'api.ext.test');
  }
  const tcp = await hostTcp(client, vip, 9000, 'hello', { count: 3 });
  for (const r of tcp) assert.match(r, /^ext-tcp (::ffff:)?10\.89\.0\.11\nhello$/, JSON.stringify(tcp));
  const stats = await sc.stats();
  const tcpCx = stats['cluster.outbound|9000||api.ext.test.upstream_cx_total'] ?? 0;
  const httpRq = stats['cluster.outbound|80||api.ext.test.upstream_rq_total'] ?? stats['cluster.outbound|80||api.ext.test.upstream_cx_total'] ?? 0;
  assert.ok(tcpCx >= 3, `sidecar stats: tcp upstream_cx_total ${tcpCx}`);
  assert.ok(httpRq >= 5, `sidecar stats: http upstream ${httpRq}`);
  t.diagnostic(`through the sidecar: ${httpRq} HTTP requests, ${tcpCx} TCP connections to the VIP`);

  // A Kubernetes Service by its short forms: glibc tries the search domains first, and the
  // agent answers the first try (`reviews.default` + the first search domain is its CNAME).
  for (const name of ['reviews', 'reviews.default', 'reviews.default.svc']) {
    const r = await client.run('getent', ['ahostsv4', name], { allowFail: true });
    assert.equal(r.stdout.split(/\s+/)[0], '10.96.0.20', `${name}: ${r.stdout}${r.stderr}`);
  }
  await resolverBarrier('barrier-2.example');
  assert.doesNotMatch(resolver.output(), /query reviews/, 'the mesh answered every form itself');

  // A non-mesh name: forwarded to the resolver on the bridge, its answer back to the app.
  const out = await client.run('getent', ['ahostsv4', 'outside.example'], { allowFail: true });
  assert.equal(out.stdout.split(/\s+/)[0], '192.0.2.55', out.stdout + out.stderr);
  assert.match(resolver.output(), new RegExp(`query outside\\.example A from ${CLIENT.replace(/\./g, '\\.')}`));
  const missing = await client.run('getent', ['ahostsv4', 'missing.example'], { allowFail: true });
  assert.equal(missing.code, 2, 'NXDOMAIN from upstream reaches the app as not found');
});
