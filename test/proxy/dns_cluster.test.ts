/**
 * STRICT_DNS clusters with respect_dns_ttl: the proxy resolves again when the record's TTL runs
 * out, not only every dns_refresh_rate. The DNS server is a real UDP server on loopback, named
 * to the cluster by dns_resolution_config.resolvers; it answers A queries with the current
 * address and a 1 s TTL (the repository has no DNS packet library: the answer is the few bytes
 * RFC 1035 §4.1 defines, built below). Before, respect_dns_ttl was ignored and the name was
 * resolved by the system resolver every dns_refresh_rate (here an hour).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import net from 'node:net';
import type { EnvoyJson } from '../../src/xds/types.ts';
import { nextRefreshMs } from '../../src/proxy/upstream/dns_cluster.ts';
import { closeServer, roundTrip, startProxy, tcpListener, until } from './helpers.ts';

/** A DNS server answering every A query with `current().ip` (TTL `ttl`); AAAA gets no answer. */
async function dnsServer(current: () => string, ttl: number): Promise<{ port: number; queries: () => number; close: () => void }> {
  const sock = dgram.createSocket('udp4');
  let queries = 0;
  sock.on('message', (q, from) => {
    if (q.length < 12) return;
    let end = 12;
    while (end < q.length && q[end] !== 0) end += q[end]! + 1;
    const question = q.subarray(12, end + 5); // name, its 0 byte, QTYPE, QCLASS
    const qtype = q.readUInt16BE(end + 1);
    const header = Buffer.alloc(12);
    q.copy(header, 0, 0, 2); // ID
    header.writeUInt16BE(0x8180, 2); // response, recursion desired + available, NOERROR
    header.writeUInt16BE(1, 4); // QDCOUNT
    const answers: Buffer[] = [];
    if (qtype === 1) {
      queries++;
      const rr = Buffer.alloc(16);
      rr.writeUInt16BE(0xc00c, 0); // name: pointer to the question's
      rr.writeUInt16BE(1, 2); // A
      rr.writeUInt16BE(1, 4); // IN
      rr.writeUInt32BE(ttl, 6);
      rr.writeUInt16BE(4, 10);
      current()
        .split('.')
        .forEach((o, i) => rr.writeUInt8(Number(o), 12 + i));
      answers.push(rr);
    }
    header.writeUInt16BE(answers.length, 6); // ANCOUNT
    sock.send(Buffer.concat([header, question, ...answers]), from.port, from.address);
  });
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
  return { port: sock.address().port, queries: () => queries, close: () => sock.close() };
}

/** Answers each connection with `tag` on ip:port. */
async function tagAt(ip: string, port: number, tag: string): Promise<{ port: number; close: () => Promise<void> }> {
  const server = net.createServer((s) => {
    s.on('error', () => {});
    s.end(tag);
  });
  await new Promise<void>((r, j) => (server.once('error', j), server.listen(port, ip, () => r())));
  return { port: (server.address() as net.AddressInfo).port, close: () => closeServer(server) };
}

test('refresh scheduling: the TTL when respect_dns_ttl and the TTL is non-zero, else dns_refresh_rate (Envoy)', () => {
  assert.equal(nextRefreshMs(true, 30, 5000), 30_000);
  assert.equal(nextRefreshMs(true, 0, 5000), 5000);
  assert.equal(nextRefreshMs(true, undefined, 5000), 5000);
  assert.equal(nextRefreshMs(false, 30, 5000), 5000);
});

test('respect_dns_ttl: a STRICT_DNS cluster follows the record to its new address when the 1 s TTL runs out (dns_refresh_rate is 1 h)', async () => {
  const a = await tagAt('127.0.0.2', 0, 'a');
  const b = await tagAt('127.0.0.3', a.port, 'b');
  let ip = '127.0.0.2';
  const dns = await dnsServer(() => ip, 1);
  const cluster: EnvoyJson = {
    name: 'backend',
    type: 'STRICT_DNS',
    connect_timeout: '1s',
    dns_lookup_family: 'V4_ONLY',
    dns_refresh_rate: '3600s',
    respect_dns_ttl: true,
    dns_resolution_config: { resolvers: [{ socket_address: { address: '127.0.0.1', port_value: dns.port } }] },
    load_assignment: { cluster_name: 'backend', endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: 'backend.tsmesh.test', port_value: a.port } } } }] }] },
  };
  const proxy = await startProxy({ clusters: [cluster], listeners: [tcpListener('tcp', 'backend')] });
  try {
    const port = proxy.port('tcp');
    assert.equal(await roundTrip(port, ''), 'a', 'resolved through the configured DNS server');
    ip = '127.0.0.3';
    await until(async () => (await roundTrip(port, '')) === 'b', 'the cluster re-resolved at the TTL and moved to the new address');
    assert.ok(dns.queries() >= 2);
  } finally {
    await proxy.close();
    dns.close();
    await Promise.all([a.close(), b.close()]);
  }
});
