/**
 * Istio's mutual TLS migration task, end to end in the demo with Istio's YAML unmodified:
 * namespaces foo and bar with sidecars, legacy without; Istio's curl and httpbin in each; every
 * curl calls every httpbin (`tsmesh exec -n <ns> deploy/curl -- curl http://httpbin.<ns>:8000/ip`,
 * the real curl). Under the default PERMISSIVE all nine pairs answer 200, and sidecar callers
 * arrive over mTLS (httpbin sees X-Forwarded-Client-Cert with the caller's SPIFFE id). STRICT in
 * foo shuts out legacy→foo only; STRICT mesh-wide (root namespace) shuts out legacy→foo and
 * legacy→bar. On the wire: a plaintext client straight to a STRICT pod's port is refused, a
 * PERMISSIVE port takes plaintext and mTLS, and a certificate from another CA is refused.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect as tcpConnect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import type { DemoPodState } from '../../src/demo/state.ts';
import { createPki, hasOpenssl } from '../helpers/certs.ts';
import { ISTIO_SAMPLES, NO_ISTIO_DATA, startIstioDemo, type IstioDemo } from '../helpers/demo.ts';
import { until } from '../helpers/poll.ts';
import { NO_CURL, readyPod, runTsmesh } from '../helpers/tasks.ts';

const HTTPBIN = `${ISTIO_SAMPLES}/httpbin/httpbin.yaml`;
const CURL = `${ISTIO_SAMPLES}/curl/curl.yaml`;
const NAMESPACES = ['foo', 'bar', 'legacy'] as const;
const dir = mkdtempSync(join(tmpdir(), 'tsmesh-mtls-migration-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, text: string): string {
  const f = join(dir, name);
  writeFileSync(f, text);
  return f;
}

/** The task's loop: `curl http://httpbin.<to>:8000/ip` from `<from>`'s curl pod, as "<from>→<to>: <code>". */
async function matrix(demo: IstioDemo): Promise<string[]> {
  const out: string[] = [];
  for (const from of NAMESPACES) {
    for (const to of NAMESPACES) {
      const r = await runTsmesh(['exec', '-n', from, 'deploy/curl', '--state-dir', demo.stateDir, '--', 'curl', '-s', '-o', '/dev/null', '-w', '%{http_code}', '--max-time', '10', `http://httpbin.${to}:8000/ip`]);
      out.push(`${from}→${to}: ${r.stdout || r.stderr.trim()}`);
    }
  }
  return out;
}

const expect = (fails: string[]) => NAMESPACES.flatMap((from) => NAMESPACES.map((to) => `${from}→${to}: ${fails.includes(`${from}→${to}`) ? '000' : '200'}`));

/** Retries the whole matrix until it matches: a policy change takes a push and an ACK to land. */
async function matrixBecomes(demo: IstioDemo, fails: string[], what: string): Promise<void> {
  let last: string[] = [];
  await until(async () => {
    last = await matrix(demo);
    return JSON.stringify(last) === JSON.stringify(expect(fails)) ? true : undefined;
  }, `${what}: ${JSON.stringify(expect(fails))}`, 90_000, 1000).catch((e) => {
    throw new Error(`${(e as Error).message}\nlast: ${JSON.stringify(last)}\n${demo.output()}`);
  });
}

function plaintextGet(host: string, port: number): Promise<string> {
  return new Promise((resolve) => {
    const s = tcpConnect({ host, port });
    let data = '';
    s.setTimeout(5000, () => s.destroy());
    s.on('connect', () => s.write(`GET /ip HTTP/1.1\r\nhost: httpbin\r\nconnection: close\r\n\r\n`));
    s.on('data', (d) => (data += d));
    s.on('error', () => undefined);
    s.on('close', () => resolve(data));
  });
}

/** A TLS handshake as a mesh client would make it; resolves with whether it completed. */
function meshHandshake(host: string, port: number, creds: { cert: string; key: string; ca: string }): Promise<{ ok: boolean; error?: string }> {
  return new Promise((resolve) => {
    const s = tlsConnect({ host, port, cert: creds.cert, key: creds.key, ca: creds.ca, ALPNProtocols: ['istio-peer-exchange', 'istio'], rejectUnauthorized: false, servername: 'outbound_.8000_._.httpbin.foo.svc.cluster.local' });
    s.setTimeout(5000, () => s.destroy(new Error('timeout')));
    s.once('secureConnect', () => {
      // TLS 1.3: a refused client certificate shows up as an alert after the handshake.
      s.write('GET /ip HTTP/1.1\r\nhost: httpbin\r\nconnection: close\r\n\r\n');
    });
    let data = '';
    s.on('data', (d) => (data += d));
    s.once('error', (e) => resolve({ ok: false, error: e.message }));
    s.once('close', () => resolve(data.startsWith('HTTP/1.1 200') ? { ok: true } : { ok: false, error: data || 'closed' }));
  });
}

test("Istio's mutual TLS migration task: PERMISSIVE, STRICT in foo, STRICT mesh-wide", { skip: NO_ISTIO_DATA || NO_CURL || (!hasOpenssl() && 'openssl CLI not available'), timeout: 900_000 }, async (t) => {
  const ns = file('namespaces.yaml', ['foo', 'bar'].map((n) => `apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ${n}\n  labels:\n    istio-injection: enabled\n`).join('---\n') + '---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: legacy\n');
  const demo = await startIstioDemo(t, { configs: [ns], readyTimeoutMs: 180_000 });
  const cp = ['--controlplane', demo.controlplane];
  for (const namespace of NAMESPACES) {
    for (const f of [HTTPBIN, CURL]) {
      const r = await runTsmesh(['apply', '-n', namespace, '-f', f, ...cp]);
      assert.equal(r.code, 0, `apply -n ${namespace} -f ${f}: ${r.stderr}`);
    }
  }
  const httpbin: Record<string, DemoPodState> = {};
  for (const namespace of NAMESPACES) {
    httpbin[namespace] = await readyPod(demo, namespace, 'httpbin', 180_000);
    await readyPod(demo, namespace, 'curl', 180_000);
  }
  await demo.settle();

  await t.test('PERMISSIVE (the default): all nine pairs answer 200', async () => {
    await matrixBecomes(demo, [], 'every pair answers');
  });

  await t.test('a sidecar caller arrives over mTLS: httpbin sees X-Forwarded-Client-Cert with its SPIFFE id', async () => {
    const r = await runTsmesh(['exec', '-n', 'foo', 'deploy/curl', '--state-dir', demo.stateDir, '--', 'curl', '-s', 'http://httpbin.bar:8000/headers']);
    const headers = JSON.parse(r.stdout).headers as Record<string, string | string[]>;
    const xfcc = String(headers['X-Forwarded-Client-Cert'] ?? '');
    assert.match(xfcc, /URI=spiffe:\/\/cluster\.local\/ns\/foo\/sa\/curl/, r.stdout);
    assert.match(xfcc, /By=spiffe:\/\/cluster\.local\/ns\/bar\/sa\/httpbin/, r.stdout);
    const plain = await runTsmesh(['exec', '-n', 'legacy', 'deploy/curl', '--state-dir', demo.stateDir, '--', 'curl', '-s', '-H', 'X-Forwarded-Client-Cert: By=forged;URI=spiffe://cluster.local/ns/foo/sa/admin', 'http://httpbin.bar:8000/headers']);
    assert.equal(JSON.parse(plain.stdout).headers['X-Forwarded-Client-Cert'], undefined, 'a plaintext client cannot pass its own XFCC through');
  });

  await t.test('STRICT in foo: legacy→foo fails, every other pair answers 200', async () => {
    await demo.apply('apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata:\n  name: default\n  namespace: foo\nspec:\n  mtls:\n    mode: STRICT\n', 'pa-foo');
    await matrixBecomes(demo, ['legacy→foo'], 'STRICT in foo');
  });

  await t.test('on the wire: plaintext to a STRICT port is refused; a PERMISSIVE port takes plaintext; another CA is refused', async () => {
    const strict = httpbin.foo!;
    const permissive = httpbin.bar!;
    assert.equal(await plaintextGet(strict.podIP, 8080).then((d) => d.startsWith('HTTP/1.1 200')), false, 'plaintext to STRICT foo/httpbin');
    assert.match(await plaintextGet(permissive.podIP, 8080), /^HTTP\/1\.1 200/, 'plaintext to PERMISSIVE bar/httpbin');
    const rogue = createPki('tsmesh-rogue-mesh-');
    t.after(() => rogue.dispose());
    const c = rogue.client('rogue', 'rogue');
    const r = await meshHandshake(strict.podIP, 8080, { cert: c.cert, key: c.key, ca: rogue.ca });
    assert.equal(r.ok, false, 'a certificate from another CA is refused');
  });

  await t.test('STRICT mesh-wide (root namespace): legacy→foo and legacy→bar fail', async () => {
    await demo.apply('apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata:\n  name: default\n  namespace: istio-system\nspec:\n  mtls:\n    mode: STRICT\n', 'pa-mesh');
    await matrixBecomes(demo, ['legacy→foo', 'legacy→bar'], 'STRICT mesh-wide');
  });
});
