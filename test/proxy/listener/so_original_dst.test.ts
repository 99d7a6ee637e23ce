// SO_ORIGINAL_DST through the native addon, in a network namespace with real iptables REDIRECT
// rules: a connection the app makes to 10.99.0.9:80 (IPv4) or [fd00:99::9]:80 (IPv6) lands on a
// net.Server on 15001, and the accepted socket's original destination is the dialed address. A
// connection made straight to the server (no NAT) reads as its own local address.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Socket } from 'node:net';
import { closeSync, existsSync, openSync } from 'node:fs';
import { NO_NETNS, netLab } from '../../helpers/netns.ts';
import { createSocket } from 'node:dgram';
import { ADDON_PATH, loadAddon, socketFd, soOriginalDestination } from '../../../src/proxy/listener/so_original_dst.ts';
import { REPO_ROOT } from '../../../src/common/self_command.ts';

test('the addon reads a socket fd and fails with an errno code for a non-socket', { skip: !existsSync(ADDON_PATH) && 'native addon not built (npm install with a C compiler)' }, async () => {
  const a = loadAddon();
  const file = openSync('/dev/null', 'r');
  assert.throws(() => a.originalDst(file), (e: NodeJS.ErrnoException) => e.code === 'ENOTSOCK' && e.errno === 88);
  closeSync(file);
  assert.throws(() => a.originalDst(-1 as number), /file descriptor/);
  // A socket accepted by a net.Server has a descriptor at _handle.fd.
  const server = createServer();
  const accepted = new Promise<Socket>((r) => server.once('connection', r));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  const { connect } = await import('node:net');
  const c = connect(port, '127.0.0.1');
  const s = await accepted;
  const fd = socketFd(s);
  assert.ok(typeof fd === 'number' && fd > 2, `accepted socket fd ${fd}`);
  // Not NATed: conntrack has no redirect for it, or the original tuple is the local address.
  try {
    const d = a.originalDst(fd);
    assert.deepEqual(d, { ip: '127.0.0.1', port });
  } catch (e) {
    assert.equal((e as NodeJS.ErrnoException).code, 'ENOENT');
  }
  // soOriginalDestination: not redirected (ENOENT) is the local address; any other failure throws
  // (the listener counts it) instead of silently reading as the local address.
  assert.deepEqual(soOriginalDestination()(s), { ip: '127.0.0.1', port });
  const udp = createSocket('udp4');
  await new Promise<void>((r) => udp.bind(0, '127.0.0.1', r));
  const udpFd = (udp as unknown as { _handle: { fd: number } })._handle.fd;
  const fake = { localAddress: '127.0.0.1', localPort: udp.address().port, _handle: { fd: udpFd } } as unknown as Socket;
  assert.throws(() => soOriginalDestination()(fake), (e: NodeJS.ErrnoException) => e.code === 'ENOPROTOOPT');
  udp.close();
  c.destroy();
  s.destroy();
  server.close();
});

// Runs inside the namespace: a server on 15001 (IPv4 and IPv6), clients to the redirected
// addresses and one straight to 15001; prints what the server read for each.
const PROBE = `
import { createServer, connect } from 'node:net';
import { soOriginalDestination } from ${JSON.stringify(`${REPO_ROOT}src/proxy/listener/so_original_dst.ts`)};
const dst = soOriginalDestination();
const out = [];
const server = createServer((s) => { out.push(dst(s)); s.end(); });
await new Promise((r) => server.listen({ port: 15001, host: '::' }, r));
for (const [host, port] of [['10.99.0.9', 80], ['fd00:99::9', 8080], ['127.0.0.1', 15001]]) {
  await new Promise((resolve, reject) => { const c = connect({ host, port }); c.on('error', reject); c.on('close', resolve); c.resume(); });
}
server.close();
console.log(JSON.stringify(out));
`;

test('REDIRECTed IPv4 and IPv6 connections read their original destination', { skip: NO_NETNS || (!existsSync(ADDON_PATH) && 'native addon not built') }, async (t) => {
  const lab = await netLab(t);
  const net = await lab.network('n', '10.99.1.0/24');
  const h = await lab.host('h', [{ network: net, ip: '10.99.1.2' }]);
  await h.run('ip', ['route', 'add', '10.99.0.0/24', 'dev', 'eth0']);
  await h.run('ip', ['-6', 'addr', 'add', 'fd00:99::2/64', 'dev', 'eth0', 'nodad']);
  await h.run('iptables', ['-t', 'nat', '-A', 'OUTPUT', '-p', 'tcp', '-d', '10.99.0.9', '-j', 'REDIRECT', '--to-ports', '15001']);
  await h.run('ip6tables', ['-t', 'nat', '-A', 'OUTPUT', '-p', 'tcp', '-d', 'fd00:99::9', '-j', 'REDIRECT', '--to-ports', '15001']);
  const r = await h.run(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', PROBE], { timeoutMs: 30_000 });
  const seen = JSON.parse(r.stdout.trim().split('\n').pop()!);
  assert.deepEqual(seen, [
    { ip: '10.99.0.9', port: 80 },
    { ip: 'fd00:99::9', port: 8080 },
    { ip: '127.0.0.1', port: 15001 },
  ]);
});
