/** Listeners at run time: add/update/remove with connections kept, hand-off, TLS termination. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import tls from 'node:tls';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TYPE } from '../../src/xds/types.ts';
import { setOriginalDestination } from '../../src/proxy/listener/original_dst.ts';
import { openConn, roundTrip, startEcho, startProxy, startTag, staticCluster, tcpListener, until, listen, closeServer } from './helpers.ts';
import { freePort } from '../helpers/processes.ts';

test('add, update and remove listeners at run time; an update keeps the socket and existing connections', async () => {
  const echo = await startEcho();
  const [a, b] = await Promise.all(['a', 'b'].map(startTag));
  const proxy = await startProxy({ listeners: [] }, { drainMs: 60_000 });
  const s = proxy.server;
  try {
    s.setResources(TYPE.CLUSTER, [staticCluster('echo', [echo.port]), staticCluster('a', [a.port]), staticCluster('b', [b.port])], 'v1');
    const port = await freePort();
    assert.deepEqual(s.setResources(TYPE.LISTENER, [tcpListener('l', 'echo', port)], 'v1'), { ok: true });
    await s.listeners.listening();
    const held = await openConn(port);
    assert.equal(await held.ask('before'), 'before');

    // Update: same address, new chain. New connections see the new config at once, the held one keeps its session.
    assert.deepEqual(s.setResources(TYPE.LISTENER, [tcpListener('l', 'a', port)], 'v2'), { ok: true });
    assert.equal(await roundTrip(port, ''), 'a');
    assert.equal(await held.ask('during drain'), 'during drain');
    assert.equal(s.store.counter('listener_manager.listener_modified').value(), 1);
    assert.equal(s.store.gauge('listener_manager.total_listeners_draining').value(), 1);

    // Add a second listener, then remove the first: its port stops accepting, the other serves.
    s.setResources(TYPE.LISTENER, [tcpListener('l', 'a', port), tcpListener('l2', 'b')], 'v3');
    await s.listeners.listening();
    assert.equal(await roundTrip(s.listeners.active.get('l2')!.boundPort, ''), 'b');
    s.setResources(TYPE.LISTENER, [tcpListener('l2', 'b')], 'v4');
    await until(async () => (await new Promise<boolean>((r) => net.connect(port, '127.0.0.1').on('connect', function (this: net.Socket) { this.destroy(); r(false); }).on('error', () => r(true)))), 'port closed');
    assert.equal(await roundTrip(s.listeners.active.get('l2')!.boundPort, ''), 'b');
    assert.equal(await held.ask('after removal'), 'after removal', 'drained connections live until drain time');
    held.socket.destroy();
  } finally {
    await proxy.close();
    await Promise.all([echo.close(), a.close(), b.close()]);
  }
});

test('an updated listener drains: its old connections close after the drain time', async () => {
  const echo = await startEcho();
  const proxy = await startProxy({ clusters: [staticCluster('echo', [echo.port])], listeners: [] }, { drainMs: 50 });
  const s = proxy.server;
  try {
    const port = await freePort();
    s.setResources(TYPE.LISTENER, [tcpListener('l', 'echo', port)], 'v1');
    await s.listeners.listening();
    const held = await openConn(port);
    assert.equal(await held.ask('x'), 'x');
    s.setResources(TYPE.LISTENER, [tcpListener('l', 'echo', port, { per_connection_buffer_limit_bytes: 65536 })], 'v2');
    await held.closed;
    assert.equal(await roundTrip(port, 'new'), 'new');
  } finally {
    await proxy.close();
    await echo.close();
  }
});

test('use_original_dst hands the connection to the listener for its original destination (bind_to_port false)', async () => {
  const [inbound, passthrough] = await Promise.all(['reviews', 'passthrough'].map(startTag));
  const proxy = await startProxy({
    clusters: [staticCluster('outbound|9080||reviews', [inbound.port]), staticCluster('PassthroughCluster', [passthrough.port])],
    listeners: [
      tcpListener('virtualOutbound', 'PassthroughCluster', 0, { use_original_dst: true }),
      { ...tcpListener('0.0.0.0_9080', 'outbound|9080||reviews'), address: { socket_address: { address: '0.0.0.0', port_value: 9080 } }, bind_to_port: false },
    ],
  }, { explicitProxy: true });
  try {
    const port = proxy.port('virtualOutbound');
    // Pluggable original destination (SO_ORIGINAL_DST later): pretend the app dialed 10.0.0.5:9080.
    setOriginalDestination(() => ({ ip: '10.0.0.5', port: 9080 }));
    assert.equal(await roundTrip(port, ''), 'reviews');
    setOriginalDestination(() => ({ ip: '10.0.0.5', port: 7777 }));
    assert.equal(await roundTrip(port, ''), 'passthrough', 'no listener for the port: the capture listener own chain');
    setOriginalDestination(undefined);
    // Explicit-proxy hook: a PROXY v1 line names the destination.
    assert.equal(await roundTrip(port, 'PROXY TCP4 127.0.0.1 10.0.0.5 5555 9080\r\n'), 'reviews');
    assert.equal(await roundTrip(port, 'PROXY TCP4 127.0.0.1 10.0.0.5 5555 1234\r\n'), 'passthrough');
    assert.equal(proxy.server.store.counter('listener.0.0.0.0_9080.downstream_cx_total').value(), 2);
  } finally {
    setOriginalDestination(undefined);
    await proxy.close();
    await Promise.all([inbound.close(), passthrough.close()]);
  }
});

function makeCert(dir: string, cn: string): { cert: string; key: string } | undefined {
  try {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', `/CN=${cn}`, '-addext', `subjectAltName=DNS:${cn}`, '-keyout', join(dir, `${cn}.key`), '-out', join(dir, `${cn}.crt`)], { stdio: 'ignore' });
    return { cert: readFileSync(join(dir, `${cn}.crt`), 'utf8'), key: readFileSync(join(dir, `${cn}.key`), 'utf8') };
  } catch {
    return undefined;
  }
}

test('TLS termination: tls_inspector picks the chain by SNI, certificates inline or from a static secret', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tsmesh-tls-'));
  const a = makeCert(dir, 'a.example.com');
  const b = makeCert(dir, 'b.example.com');
  if (!a || !b) {
    rmSync(dir, { recursive: true, force: true });
    return t.skip('openssl not available (apt-get install openssl)');
  }
  const echo = await startEcho();
  const tlsSocket = (ctx: object) => ({ name: 'envoy.transport_sockets.tls', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext', common_tls_context: { alpn_protocols: ['h2', 'http/1.1'], ...ctx } } });
  const listener = tcpListener('tls', 'echo');
  const chain = listener.filter_chains[0];
  listener.listener_filters = [{ name: 'envoy.filters.listener.tls_inspector', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector' } }];
  listener.filter_chains = [
    { ...chain, filter_chain_match: { server_names: ['a.example.com'] }, transport_socket: tlsSocket({ tls_certificates: [{ certificate_chain: { inline_string: a.cert }, private_key: { inline_string: a.key } }] }) },
    { ...chain, filter_chain_match: { server_names: ['*.example.com'] }, transport_socket: tlsSocket({ tls_certificate_sds_secret_configs: [{ name: 'b-cert' }] }) },
    { ...chain, filter_chain_match: { transport_protocol: 'raw_buffer' } },
  ];
  const proxy = await startProxy({
    clusters: [staticCluster('echo', [echo.port])],
    listeners: [listener],
    secrets: [{ name: 'b-cert', tls_certificate: { certificate_chain: { inline_string: b.cert }, private_key: { inline_string: b.key } } }],
  });
  const port = proxy.port('tls');
  const ask = (servername: string) =>
    new Promise<{ cn: string; reply: string; alpn: string | false | null }>((resolve, reject) => {
      const c = tls.connect({ port, host: '127.0.0.1', servername, rejectUnauthorized: false, ALPNProtocols: ['h2'] }, () => c.end('secret'));
      let reply = '';
      c.on('data', (d) => (reply += d));
      c.on('error', reject);
      c.on('end', () => resolve({ cn: String(c.getPeerCertificate().subject.CN), reply, alpn: c.alpnProtocol || false }));
    });
  try {
    assert.deepEqual(await ask('a.example.com'), { cn: 'a.example.com', reply: 'secret', alpn: 'h2' });
    assert.deepEqual(await ask('api.example.com'), { cn: 'b.example.com', reply: 'secret', alpn: 'h2' });
    assert.equal(await roundTrip(port, 'plain'), 'plain', 'plaintext goes to the raw_buffer chain');
    assert.equal(proxy.server.store.counter('listener.127.0.0.1_0.ssl.handshake').value(), 2);
  } finally {
    await proxy.close();
    await echo.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
