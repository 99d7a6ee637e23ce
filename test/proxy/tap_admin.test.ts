/**
 * The proxy's POST /tap: no tap work while nobody taps, only a control-plane-signed token for this
 * proxy opens a tap, the stream carries each finished request, and the tap is gone when the
 * client goes away. A real proxy (in process), a real HTTP upstream and a real CA.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Agent, createServer, request } from 'node:http';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AdminServer } from '../../src/proxy/admin/admin.ts';
import { CertificateAuthority } from '../../src/ca/authority.ts';
import { TapTokenSigner } from '../../src/controlplane/tap_token.ts';
import { SignJWT } from 'jose';
import { x509 } from '../../src/ca/x509.ts';
import { generateKeyPair, importSigningKey } from '../../src/ca/keys.ts';
import { MAX_TAPS } from '../../src/proxy/tap/tap_manager.ts';
import { TAP_SIGNER_DNS, TAP_TOKEN_ISSUER } from '../../src/proxy/tap/tap_token.ts';
import { closeServer, httpListener, listen, startProxy, staticCluster, until } from './helpers.ts';

async function stat(admin: number, name: string): Promise<number> {
  const body = await (await fetch(`http://127.0.0.1:${admin}/stats?filter=^${name.replace(/\./g, '\\.')}$`)).text();
  const m = new RegExp(`^${name.replace(/\./g, '\\.')}: (\\d+)$`, 'm').exec(body);
  if (!m) throw new Error(`no stat ${name} in /stats`);
  return Number(m[1]);
}

function get(port: number, path: string, method = 'GET'): Promise<number> {
  return new Promise((resolve, reject) => {
    const r = request({ host: '127.0.0.1', port, path, method, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    r.on('error', reject);
    r.end();
  });
}

/** Opens POST /tap; collects the NDJSON lines until close(). */
function openTap(admin: number, token?: string): Promise<{ status: number; body: string; lines: Array<Record<string, unknown>>; close: () => void }> {
  return new Promise((resolve, reject) => {
    const r = request({ host: '127.0.0.1', port: admin, path: '/tap', method: 'POST', headers: token ? { authorization: `Bearer ${token}` } : {} }, (res) => {
      const out = { status: res.statusCode ?? 0, body: '', lines: [] as Array<Record<string, unknown>>, close: () => r.destroy() };
      let buf = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => {
        if (out.status !== 200) return void (out.body += d);
        buf += d;
        let nl: number;
        while ((nl = buf.indexOf('\n')) >= 0) {
          out.lines.push(JSON.parse(buf.slice(0, nl)));
          buf = buf.slice(nl + 1);
        }
      });
      res.on('error', () => undefined);
      if (out.status !== 200) res.on('end', () => resolve(out));
      else resolve(out);
    });
    r.on('error', reject);
    r.end();
  });
}

test('tap: off costs no tap work; only a control-plane token opens it; it ends with its client', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tsmesh-tap-'));
  const otherDir = mkdtempSync(join(tmpdir(), 'tsmesh-tap-other-'));
  t.after(() => (rmSync(dir, { recursive: true, force: true }), rmSync(otherDir, { recursive: true, force: true })));
  const ca = await CertificateAuthority.load({ stateDir: dir });
  const signer = new TapTokenSigner(ca);
  const stranger = new TapTokenSigner(await CertificateAuthority.load({ stateDir: otherDir }));

  const upstream = createServer((req, res) => res.writeHead(req.url === '/missing' ? 404 : 200).end('ok'));
  const upPort = await listen(upstream);
  t.after(() => closeServer(upstream));
  const proxy = await startProxy({
    clusters: [staticCluster('up', [upPort])],
    listeners: [httpListener('in', [{ match: { prefix: '/' }, route: { cluster: 'up' } }], 0, { stat_prefix: 'in' })],
    secrets: [{ name: 'ROOTCA', validation_context: { trusted_ca: { inline_string: ca.rootPem() } } }],
  });
  t.after(() => proxy.close());
  const admin = new AdminServer({ server: proxy.server, onQuit: () => undefined, version: 'tsmesh/test', commandLineOptions: {} });
  const adminPort = await admin.listen('127.0.0.1', 0);
  t.after(() => admin.close());
  const port = proxy.port('in');

  // Nobody taps: requests do no tap work.
  for (let i = 0; i < 20; i++) assert.equal(await get(port, `/a/${i}`), 200);
  assert.equal(await stat(adminPort, 'tap.streams_inspected'), 0);
  assert.equal(await stat(adminPort, 'tap.active'), 0);

  // Refused: no token, a token from another CA, a token for another proxy, GET.
  const none = await openTap(adminPort);
  assert.equal(none.status, 401);
  assert.match(none.body, /token from the control plane/);
  const here = `127.0.0.1:${adminPort}`;
  const foreign = await openTap(adminPort, await stranger.sign('test-proxy', { maxRps: 100, admin: here }, 'test'));
  assert.equal(foreign.status, 403);
  assert.match(foreign.body, /trust root/);
  const otherNode = await openTap(adminPort, await signer.sign('sidecar~1.2.3.4~x.default~default.svc.cluster.local', { maxRps: 100, admin: here }, 'test'));
  assert.equal(otherNode.status, 403);
  assert.match(otherNode.body, /aud/);
  assert.equal((await fetch(`http://127.0.0.1:${adminPort}/tap`)).status, 405);
  // A token the control plane sent to another admin address (a client that claimed this node id
  // with its own address) is refused here: it cannot be replayed.
  const elsewhere = await openTap(adminPort, await signer.sign('test-proxy', { maxRps: 100, admin: '127.0.0.9:15000' }, 'test'));
  assert.equal(elsewhere.status, 403);
  assert.match(elsewhere.body, /for the admin API at 127\.0\.0\.9:15000, not this one \(127\.0\.0\.1:\d+\)/);

  // A token for this proxy: a tap on GET /b..., and the token cannot be used twice.
  const token = await signer.sign('test-proxy', { maxRps: 100, pathPrefix: '/b', method: 'GET', admin: here }, 'test');
  const tap = await openTap(adminPort, token);
  assert.equal(tap.status, 200);
  const replay = await openTap(adminPort, token);
  assert.equal(replay.status, 403);
  assert.match(replay.body, /already used/);
  await until(() => tap.lines.some((l) => l.type === 'start'), 'the start line');
  assert.equal(await stat(adminPort, 'tap.active'), 1);
  await get(port, '/a/x');
  await get(port, '/b/x', 'POST');
  await get(port, '/b/1');
  await get(port, '/missing');
  await get(port, '/b/2?access_token=secret');
  const events = await until(() => {
    const e = tap.lines.filter((l) => l.type === 'event');
    return e.length >= 2 && e;
  }, 'two tap events');
  // The query string stays in the proxy unless the tap asks for it (showQuery).
  assert.deepEqual(events.map((e) => [e.method, e.path, e.status, e.direction]), [['GET', '/b/1', 200, 'inbound'], ['GET', '/b/2', 200, 'inbound']]);
  assert.equal(typeof events[0]!.latencyMs, 'number');
  assert.match(String(events[0]!.source), /^127\.0\.0\.1:\d+$/);
  assert.equal(events[0]!.destination, `127.0.0.1:${port}`);
  assert.ok(await stat(adminPort, 'tap.streams_inspected') >= 5);

  // The client goes away: the proxy drops the tap at once, and the request path does no tap work again.
  tap.close();
  await until(async () => (await stat(adminPort, 'tap.active')) === 0, 'tap.active back to 0');
  const inspected = await stat(adminPort, 'tap.streams_inspected');
  for (let i = 0; i < 10; i++) await get(port, `/b/${i}`);
  assert.equal(await stat(adminPort, 'tap.streams_inspected'), inspected);
  assert.equal(await stat(adminPort, 'tap.sessions_total'), 1);
});

test('tap: memory stays bounded while a tap streams every request (heap after GC does not grow)', async (t) => {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const dir = mkdtempSync(join(tmpdir(), 'tsmesh-tap-mem-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const ca = await CertificateAuthority.load({ stateDir: dir });
  const upstream = createServer((_req, res) => res.end('ok'));
  const upPort = await listen(upstream);
  t.after(() => closeServer(upstream));
  const proxy = await startProxy({
    clusters: [staticCluster('up', [upPort])],
    listeners: [httpListener('in', [{ match: { prefix: '/' }, route: { cluster: 'up' } }])],
    secrets: [{ name: 'ROOTCA', validation_context: { trusted_ca: { inline_string: ca.rootPem() } } }],
  });
  t.after(() => proxy.close());
  const admin = new AdminServer({ server: proxy.server, onQuit: () => undefined, version: 'tsmesh/test', commandLineOptions: {} });
  const adminPort = await admin.listen('127.0.0.1', 0);
  t.after(() => admin.close());
  const agent = new Agent({ keepAlive: true, maxSockets: 4 });
  t.after(() => agent.destroy());
  const port = proxy.port('in');
  const one = () => new Promise<void>((resolve, reject) => request({ host: '127.0.0.1', port, path: '/x', agent }, (res) => (res.resume(), res.on('end', resolve))).on('error', reject).end());
  const batch = async (n: number) => {
    for (let i = 0; i < n; i += 4) await Promise.all([one(), one(), one(), one()]);
  };
  const heapKb = () => (gc(), gc(), Math.round(process.memoryUsage().heapUsed / 1024));

  // A client that counts lines and keeps none: what stays on the heap is the proxy's.
  let events = 0;
  const token = await new TapTokenSigner(ca).sign('test-proxy', { maxRps: 1000, admin: `127.0.0.1:${adminPort}` }, 'test');
  const tapReq = request({ host: '127.0.0.1', port: adminPort, path: '/tap', method: 'POST', headers: { authorization: `Bearer ${token}` } }, (res) => {
    res.setEncoding('utf8');
    res.on('data', (d: string) => (events += d.split('"type":"event"').length - 1));
    res.on('error', () => undefined);
  });
  tapReq.on('error', () => undefined);
  tapReq.end();
  t.after(() => tapReq.destroy());
  await until(async () => (await stat(adminPort, 'tap.active')) === 1, 'the tap is open');
  const started = Date.now();
  await batch(3000);
  const before = heapKb();
  await batch(12000);
  const after = heapKb();
  // The tap streams at most maxRps (1,000) events a second: on a fast machine 15,000 requests
  // take only a few seconds, so what it must have streamed depends on how long they took.
  const seconds = (Date.now() - started) / 1000;
  const streamable = Math.min(15000, 1000 * seconds);
  console.log(`heap after GC: ${before} kB -> ${after} kB over 12,000 tapped requests (${events} events streamed in ${seconds.toFixed(1)} s)`);
  assert.ok(events > 0.5 * streamable && events > 1000, `the tap streamed the requests (${events} events; up to ${Math.round(streamable)} could be streamed at 1,000 a second)`);
  // A leak of even 100 bytes per event would be 1.2 MB here.
  assert.ok(after - before < 1024, `heap grew ${after - before} kB`);
});

test('tap: at most 8 taps per proxy (429 names the count); show_query keeps the query; quiet taps get a heartbeat; a workload certificate cannot sign a tap token', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tsmesh-tap-cap-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const ca = await CertificateAuthority.load({ stateDir: dir });
  const signer = new TapTokenSigner(ca);
  const upstream = createServer((_req, res) => res.end('ok'));
  const upPort = await listen(upstream);
  t.after(() => closeServer(upstream));
  const proxy = await startProxy({
    clusters: [staticCluster('up', [upPort])],
    listeners: [httpListener('in', [{ match: { prefix: '/' }, route: { cluster: 'up' } }])],
    secrets: [{ name: 'ROOTCA', validation_context: { trusted_ca: { inline_string: ca.rootPem() } } }],
  });
  t.after(() => proxy.close());
  const admin = new AdminServer({ server: proxy.server, onQuit: () => undefined, version: 'tsmesh/test', commandLineOptions: {} });
  const adminPort = await admin.listen('127.0.0.1', 0);
  t.after(() => admin.close());
  const here = `127.0.0.1:${adminPort}`;

  // A leaf naming the control plane, signed with a workload's key (its certificate issued by the
  // mesh CA, carried as the "intermediate"): refused, whatever OpenSSL infers from key usage.
  const workload = await ca.serverCertificate({ dnsNames: ['reviews.default.svc'] });
  const workloadCert = new x509.X509Certificate(workload.chainPem);
  const workloadKey = await importSigningKey(workload.keyPem);
  const leafKeys = await generateKeyPair('ECDSA');
  const forged = await x509.X509CertificateGenerator.create({
    serialNumber: '01',
    subject: 'CN=istiod',
    issuer: workloadCert.subject,
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + 3_600_000),
    publicKey: leafKeys.publicKey as CryptoKey,
    signingKey: workloadKey.key as CryptoKey,
    signingAlgorithm: workloadKey.algorithm,
    extensions: [new x509.SubjectAlternativeNameExtension([{ type: 'dns', value: TAP_SIGNER_DNS }])],
  });
  const now = Math.floor(Date.now() / 1000);
  const forgedToken = await new SignJWT({ tap: { maxRps: 10, admin: here } })
    .setProtectedHeader({ alg: 'ES256', x5c: [Buffer.from(forged.rawData).toString('base64'), Buffer.from(workloadCert.rawData).toString('base64')] })
    .setIssuer(TAP_TOKEN_ISSUER).setAudience('test-proxy').setJti('forged-1').setIssuedAt(now).setExpirationTime(now + 30)
    .sign(leafKeys.privateKey as CryptoKey);
  const refused = await openTap(adminPort, forgedToken);
  assert.equal(refused.status, 403);
  assert.match(refused.body, /chain is broken at #2: it is not a CA certificate/);

  const taps: Array<Awaited<ReturnType<typeof openTap>>> = [];
  t.after(() => taps.forEach((x) => x.close()));
  taps.push(await openTap(adminPort, await signer.sign('test-proxy', { maxRps: 100, admin: here, showQuery: true }, 'test')));
  for (let i = 1; i < MAX_TAPS; i++) taps.push(await openTap(adminPort, await signer.sign('test-proxy', { maxRps: 100, admin: here }, 'test')));
  assert.deepEqual(taps.map((x) => x.status), Array(MAX_TAPS).fill(200));
  const ninth = await openTap(adminPort, await signer.sign('test-proxy', { maxRps: 100, admin: here }, 'test'));
  assert.equal(ninth.status, 429);
  assert.match(ninth.body, /already runs 8 taps, the most it allows \(8\): stop one/);

  assert.equal(await get(proxy.port('in'), '/q?sig=abc'), 200);
  const withQuery = await until(() => taps[0]!.lines.find((l) => l.type === 'event'), 'an event on the show_query tap');
  const without = await until(() => taps[1]!.lines.find((l) => l.type === 'event'), 'an event on a plain tap');
  assert.equal(withQuery.path, '/q?sig=abc');
  assert.equal(without.path, '/q');

  // A quiet tap still hears from the proxy (the same stats line again), so a dead reader is noticed.
  await until(() => {
    const st = taps[2]!.lines.filter((l) => l.type === 'stats').map((l) => JSON.stringify(l));
    return st.length >= 2 && st.at(-1) === st.at(-2);
  }, 'a heartbeat: an unchanged stats line repeated on a quiet tap', 30_000, 50);

  // One ends: a new tap fits again.
  taps.pop()!.close();
  await until(async () => (await stat(adminPort, 'tap.active')) === MAX_TAPS - 1, 'one tap fewer');
  const again = await openTap(adminPort, await signer.sign('test-proxy', { maxRps: 100, admin: here }, 'test'));
  taps.push(again);
  assert.equal(again.status, 200);
});
