/**
 * The agent's DNS proxy on real loopback sockets: mesh names answered from the table over UDP and
 * TCP, everything else forwarded to a resolver this test runs (answers relayed as they are, its
 * NXDOMAIN included), malformed packets dropped while the server keeps answering, and
 * forwarding bounded in time and in queries waiting at once.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { connect, createServer, type Server } from 'node:net';
import * as dnsPacket from 'dns-packet';
import { DnsProxy } from '../../../src/agent/dns/server.ts';
import { checkDnsAddress } from '../../../src/agent/dns/address.ts';
import { listenUdpAndTcp } from '../../../src/agent/dns/listen_pair.ts';

type Q = { name: string; type: dnsPacket.RecordType };

const TABLE = {
  table: {
    'reviews.default.svc.cluster.local': { ips: ['10.96.0.10'], registry: 'Kubernetes', shortname: 'reviews', namespace: 'default' },
    'api.ext.test': { ips: ['240.240.1.2', '2001:2::f0f0:102'], registry: 'External' },
  },
};
const CTX = { namespace: 'default', domain: 'svc.cluster.local', search: ['default.svc.cluster.local', 'svc.cluster.local'] };

/** A resolver on loopback (UDP + TCP, one port): outside.example A 192.0.2.55, anything else NXDOMAIN. */
async function startResolver(): Promise<{ port: number; seen: string[]; close(): Promise<void> }> {
  const seen: string[] = [];
  const answer = (msg: Buffer): Buffer => {
    const q = dnsPacket.decode(msg);
    const qq = q.questions![0]!;
    seen.push(`${qq.name} ${qq.type}`);
    const known = qq.name === 'outside.example' && qq.type === 'A';
    return dnsPacket.encode({
      type: 'response',
      id: q.id,
      flags: dnsPacket.RECURSION_AVAILABLE | (known ? 0 : 3),
      questions: q.questions,
      answers: known ? [{ name: qq.name, type: 'A', ttl: 60, class: 'IN', data: '192.0.2.55' }] : [],
    });
  };
  const tcp: Server = createServer((s) => {
    let buf = Buffer.alloc(0);
    s.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        const n = buf.readUInt16BE(0);
        const out = answer(buf.subarray(2, 2 + n));
        buf = buf.subarray(2 + n);
        const len = Buffer.alloc(2);
        len.writeUInt16BE(out.length);
        s.write(Buffer.concat([len, out]));
      }
    });
    s.on('error', () => undefined);
  });
  const { udp, port } = await listenUdpAndTcp('127.0.0.1', 0, tcp);
  udp.on('message', (m, r) => udp.send(answer(m), r.port, r.address));
  return { port, seen, close: async () => void (await Promise.all([new Promise<void>((r) => udp.close(() => r())), new Promise<void>((r) => tcp.close(() => r()))])) };
}

let nextId = 1;
function packet(q: Q): Buffer {
  return dnsPacket.encode({ type: 'query', id: nextId++, flags: dnsPacket.RECURSION_DESIRED, questions: [q] });
}

/** One UDP query; undefined when nothing comes back within `ms`. */
function udpQuery(port: number, msg: Buffer, ms = 3000): Promise<dnsPacket.DecodedPacket | undefined> {
  return new Promise((resolve) => {
    const s: Socket = createSocket('udp4');
    const t = setTimeout(() => (s.close(), resolve(undefined)), ms);
    s.on('message', (m) => {
      clearTimeout(t);
      s.close();
      resolve(dnsPacket.decode(m));
    });
    s.send(msg, port, '127.0.0.1');
  });
}

/** Several framed messages on one TCP connection; resolves with the `expect` answers decoded. */
function tcpQueries(port: number, msgs: Buffer[], expect: number): Promise<dnsPacket.DecodedPacket[]> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1');
    const out: dnsPacket.DecodedPacket[] = [];
    let buf = Buffer.alloc(0);
    const t = setTimeout(() => (s.destroy(), reject(new Error(`tcp: ${out.length}/${expect} answers`))), 5000);
    s.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        const n = buf.readUInt16BE(0);
        out.push(dnsPacket.decode(buf.subarray(2, 2 + n)));
        buf = buf.subarray(2 + n);
      }
      if (out.length >= expect) {
        clearTimeout(t);
        s.destroy();
        resolve(out);
      }
    });
    s.on('error', reject);
    s.write(Buffer.concat(msgs.map((m) => Buffer.concat([Buffer.from([m.length >> 8, m.length & 255]), m]))));
  });
}

const rcode = (p: dnsPacket.DecodedPacket | undefined) => (p as any)?.rcode as string | undefined;
const data = (p: dnsPacket.DecodedPacket | undefined) => (p?.answers ?? []).map((a: any) => `${a.type} ${a.name} ${a.data}`);

async function startProxy(t: { after(fn: () => Promise<void>): void }, upstreamPort: number, more: Partial<ConstructorParameters<typeof DnsProxy>[0]> = {}) {
  const proxy = new DnsProxy({ ...CTX, address: '127.0.0.1', port: 0, upstreams: [{ host: '127.0.0.1', port: upstreamPort }], timeoutMs: 1000, ...more });
  proxy.setNameTable(TABLE);
  const { port } = await proxy.listen();
  t.after(() => proxy.close());
  return { proxy, port };
}

test('UDP: mesh names from the table (short name, CNAME for the search domain, NODATA for the other family)', async (t) => {
  const resolver = await startResolver();
  t.after(() => resolver.close());
  const { port } = await startProxy(t, resolver.port);

  const a = await udpQuery(port, packet({ name: 'reviews', type: 'A' }));
  assert.equal(rcode(a), 'NOERROR');
  assert.equal(a!.flag_aa, true);
  assert.deepEqual(data(a), ['A reviews 10.96.0.10']);

  const six = await udpQuery(port, packet({ name: 'api.ext.test', type: 'AAAA' }));
  assert.deepEqual(data(six), ['AAAA api.ext.test 2001:2::f0f0:102']);

  const cname = await udpQuery(port, packet({ name: 'api.ext.test.default.svc.cluster.local', type: 'A' }));
  assert.deepEqual(data(cname), ['CNAME api.ext.test.default.svc.cluster.local api.ext.test', 'A api.ext.test 240.240.1.2']);

  const nodata = await udpQuery(port, packet({ name: 'reviews.default.svc', type: 'AAAA' }));
  assert.equal(rcode(nodata), 'NOERROR');
  assert.deepEqual(data(nodata), []);
  assert.deepEqual(resolver.seen, [], 'no mesh name reached the upstream');
});

test('UDP: other names and other types are forwarded; the upstream answer (NXDOMAIN too) comes back as is', async (t) => {
  const resolver = await startResolver();
  t.after(() => resolver.close());
  const { proxy, port } = await startProxy(t, resolver.port);

  const out = await udpQuery(port, packet({ name: 'outside.example', type: 'A' }));
  assert.deepEqual(data(out), ['A outside.example 192.0.2.55']);
  assert.equal(out!.flag_aa, false);
  const missing = await udpQuery(port, packet({ name: 'missing.example', type: 'A' }));
  assert.equal(rcode(missing), 'NXDOMAIN');
  const mx = await udpQuery(port, packet({ name: 'reviews', type: 'MX' }));
  assert.equal(rcode(mx), 'NXDOMAIN', 'a non-address query for a mesh name is the upstream\'s');
  assert.deepEqual(resolver.seen, ['outside.example A', 'missing.example A', 'reviews MX']);
  assert.equal(proxy.stats.forwarded, 3);
});

test('TCP: pipelined queries on one connection, mesh and forwarded', async (t) => {
  const resolver = await startResolver();
  t.after(() => resolver.close());
  const { port } = await startProxy(t, resolver.port);
  const answers = await tcpQueries(port, [packet({ name: 'reviews.default', type: 'A' }), packet({ name: 'outside.example', type: 'A' })], 2);
  const all = answers.flatMap(data).sort();
  assert.deepEqual(all, ['A outside.example 192.0.2.55', 'A reviews.default 10.96.0.10']);
  assert.deepEqual(resolver.seen, ['outside.example A'], 'forwarded over TCP to the resolver');
});

test('malformed packets are dropped and the server keeps answering (UDP and TCP)', async (t) => {
  const resolver = await startResolver();
  t.after(() => resolver.close());
  const { proxy, port } = await startProxy(t, resolver.port);
  const garbage = [Buffer.from([1, 2, 3]), Buffer.from('not a dns message at all, definitely'), Buffer.alloc(0), (() => {
    const b = packet({ name: 'reviews', type: 'A' });
    return b.subarray(0, b.length - 3); // truncated question
  })()];
  for (const g of garbage) assert.equal(await udpQuery(port, g, 300), undefined);
  // A response sent to the server is not a query: dropped too.
  const resp = dnsPacket.encode({ type: 'response', id: 7, questions: [{ name: 'reviews', type: 'A' }] });
  assert.equal(await udpQuery(port, resp, 300), undefined);
  assert.ok(proxy.stats.malformed >= 4, JSON.stringify(proxy.stats));
  assert.deepEqual(data(await udpQuery(port, packet({ name: 'reviews', type: 'A' }))), ['A reviews 10.96.0.10']);
  // TCP: a garbage frame, then a good one on the same connection.
  const [good] = await tcpQueries(port, [Buffer.from('xx'), packet({ name: 'reviews', type: 'A' })], 1);
  assert.deepEqual(data(good), ['A reviews 10.96.0.10']);
  assert.equal(resolver.seen.length, 0);
});

test('queries beyond the in-flight bound are dropped; the held ones are answered once the upstream answers', async (t) => {
  // An upstream that holds every query until the test releases it: nothing frees a slot early,
  // whatever the machine's scheduling, so exactly the first two are forwarded.
  const held: { msg: Buffer; port: number }[] = [];
  const upstream = createSocket('udp4');
  upstream.on('message', (msg, r) => held.push({ msg, port: r.port }));
  await new Promise<void>((r) => upstream.bind(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => upstream.close(() => r())));
  const { proxy, port } = await startProxy(t, upstream.address().port, { timeoutMs: 30_000, maxInFlight: 2 });
  // Five clients that keep listening until the test ends (a dropped query gets no answer at all).
  const answers: dnsPacket.DecodedPacket[] = [];
  const clients = Array.from({ length: 5 }, (_, i) => {
    const c = createSocket('udp4');
    c.on('message', (m) => answers.push(dnsPacket.decode(m)));
    c.send(packet({ name: `q${i}.example`, type: 'A' }), port, '127.0.0.1');
    return c;
  });
  t.after(() => clients.forEach((c) => c.close()));
  await waitFor(() => proxy.stats.queries === 5 && held.length === 2, 10_000, () => JSON.stringify({ stats: proxy.stats, held: held.length }));
  assert.equal(proxy.stats.dropped, 3);
  assert.equal(proxy.stats.forwarded, 2);
  // Mesh names still answer while both slots are taken.
  assert.deepEqual(data(await udpQuery(port, packet({ name: 'reviews', type: 'A' }))), ['A reviews 10.96.0.10']);
  for (const h of held) {
    const q = dnsPacket.decode(h.msg);
    const a = dnsPacket.encode({ type: 'response', id: q.id, flags: dnsPacket.RECURSION_AVAILABLE, questions: q.questions, answers: [{ name: q.questions![0]!.name, type: 'A', ttl: 60, class: 'IN', data: '192.0.2.7' }] });
    upstream.send(a, h.port, '127.0.0.1');
  }
  await waitFor(() => answers.length >= 2, 10_000, () => `${answers.length} answers`);
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(answers.length, 2, 'only the two in flight are answered');
  for (const r of answers) assert.deepEqual(data(r).map((d) => d.replace(/ q\d\.example /, ' q.example ')), ['A q.example 192.0.2.7']);
});

test('an upstream that never answers: SERVFAIL after the bounded per-attempt timeout', async (t) => {
  // A UDP socket that reads and never answers.
  const hole = createSocket('udp4');
  await new Promise<void>((r) => hole.bind(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => hole.close(() => r())));
  const { proxy, port } = await startProxy(t, hole.address().port, { timeoutMs: 400 });
  const began = Date.now();
  const r = await udpQuery(port, packet({ name: 'q.example', type: 'A' }), 10_000);
  const ms = Date.now() - began;
  t.diagnostic(`SERVFAIL after ${ms} ms (timeout 400 ms)`);
  assert.equal(rcode(r), 'SERVFAIL');
  assert.ok(ms >= 350, `the answer waited for the timeout: ${ms} ms`);
  assert.ok(ms < 8000, `bounded: ${ms} ms`);
  assert.equal(proxy.stats.upstreamFailures, 1);
});

test('the proxy serves loopback only: a non-loopback listen address is refused (no open resolver)', async () => {
  for (const address of ['0.0.0.0', '::', '192.0.2.1']) {
    const proxy = new DnsProxy({ ...CTX, address, port: 0, upstreams: [] });
    await assert.rejects(proxy.listen(), /not a loopback address/, address);
  }
  for (const flag of ['0.0.0.0:15053', '[::]:53', '10.0.0.1']) assert.throws(() => checkDnsAddress(flag), /--dns-address .*not a loopback address/, flag);
  for (const ok of ['127.0.0.1:15053', '127.0.0.53', '[::1]:15053']) checkDnsAddress(ok);
  assert.throws(() => checkDnsAddress('nonsense'), /--dns-address: .*expected an IP address/);
});

async function waitFor(cond: () => boolean, ms: number, what: () => string): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out: ${what()}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

test('opcodes other than QUERY get NOTIMP (never forwarded); a CHAOS-class A query for a mesh name is the upstream\'s', async (t) => {
  const resolver = await startResolver();
  t.after(() => resolver.close());
  const { proxy, port } = await startProxy(t, resolver.port);
  const UPDATE = 5 << 11;
  const NOTIFY = 4 << 11;
  for (const [name, opcode] of [['UPDATE', UPDATE], ['NOTIFY', NOTIFY]] as const) {
    const r = await udpQuery(port, dnsPacket.encode({ type: 'query', id: nextId++, flags: opcode, questions: [{ name: 'reviews', type: 'A' }] }));
    assert.equal(rcode(r), 'NOTIMP', name);
    assert.equal((r as any).opcode, name, 'the answer repeats the opcode');
    assert.deepEqual(data(r), []);
  }
  const chaos = await udpQuery(port, dnsPacket.encode({ type: 'query', id: nextId++, flags: dnsPacket.RECURSION_DESIRED, questions: [{ name: 'reviews', type: 'A', class: 'CH' }] }));
  assert.equal(rcode(chaos), 'NXDOMAIN', 'the upstream answered it, not the table');
  assert.deepEqual(resolver.seen, ['reviews A'], 'only the CHAOS query reached the upstream');
  assert.equal(proxy.stats.answered, 0);
});

test('a new name table replaces the old one', async (t) => {
  const resolver = await startResolver();
  t.after(() => resolver.close());
  const { proxy, port } = await startProxy(t, resolver.port);
  proxy.setNameTable({ table: { 'new.ext.test': { ips: ['240.240.9.9'], registry: 'External' } } });
  assert.deepEqual(data(await udpQuery(port, packet({ name: 'new.ext.test', type: 'A' }))), ['A new.ext.test 240.240.9.9']);
  assert.equal(rcode(await udpQuery(port, packet({ name: 'reviews', type: 'A' }))), 'NXDOMAIN', 'gone from the table: the upstream answers');
});

test('UDP and TCP on one port: a fixed port taken for TCP fails with EADDRINUSE and leaves its UDP port free', async () => {
  const taken = createServer();
  await new Promise<void>((r) => taken.listen(0, '127.0.0.1', r));
  const port = (taken.address() as { port: number }).port;
  try {
    await assert.rejects(listenUdpAndTcp('127.0.0.1', port, createServer()), { code: 'EADDRINUSE' });
    const udp = createSocket('udp4');
    await new Promise<void>((r, j) => (udp.once('error', j), udp.bind(port, '127.0.0.1', r)));
    await new Promise<void>((r) => udp.close(() => r()));
  } finally {
    await new Promise<void>((r) => taken.close(() => r()));
  }
  const tcp = createServer();
  const pair = await listenUdpAndTcp('127.0.0.1', 0, tcp);
  assert.equal((tcp.address() as { port: number }).port, pair.port);
  assert.equal(pair.udp.address().port, pair.port);
  await Promise.all([new Promise<void>((r) => pair.udp.close(() => r())), new Promise<void>((r) => tcp.close(() => r()))]);
});
