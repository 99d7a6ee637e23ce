/**
 * Istio's "Authorization for TCP traffic" task (tasks/security/authorization/authz-tcp) with
 * Istio's tcp-echo Service (samples/tcp-echo/tcp-echo.yaml: ports 9000 and 9001; the app also
 * listens on 9002) behind a real sidecar: an ALLOW on ports 9000/9001 admits both (9002 is not
 * reachable through the sidecar); the same ALLOW
 * with an HTTP-only key (methods) matches nothing on TCP, so both are refused; a DENY with that
 * key drops it and refuses port 9000 only. A refused connection is closed without a byte of the
 * echo. Connections go to the sidecar's inbound listeners on the pod address.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { test } from 'node:test';
import { start as startTcpEcho } from '../../samples/tcp-echo/main.ts';
import { NO_ISTIO_DATA, ISTIO_SAMPLES } from '../helpers/demo.ts';
import { startMesh } from '../helpers/mesh.ts';
import { until } from '../helpers/poll.ts';

/** Sends one line and returns what came back before the connection closed or 2 s passed. */
function echo(host: string, port: number, line: string): Promise<string> {
  return new Promise((resolve) => {
    const s = connect({ host, port });
    let got = '';
    const done = () => {
      clearTimeout(timer);
      s.destroy();
      resolve(got);
    };
    const timer = setTimeout(done, 2000);
    s.setEncoding('utf8');
    s.on('connect', () => s.write(`${line}\n`));
    s.on('data', (d) => {
      got += d;
      if (got.includes('\n')) done();
    });
    s.on('error', done);
    s.on('close', done);
  });
}

const policy = (name: string, action: string, operation: string) => `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: ${name}
  namespace: default
spec:
  selector:
    matchLabels:
      app: tcp-echo
  action: ${action}
  rules:
  - to:
    - operation:
${operation}`;

test("Istio's TCP authorization task: ports allowed, HTTP-only keys match nothing for ALLOW and drop for DENY", { skip: NO_ISTIO_DATA, timeout: 300_000 }, async (t) => {
  const service = readFileSync(`${ISTIO_SAMPLES}/tcp-echo/tcp-echo.yaml`, 'utf8').split(/^---$/m).find((d) => /kind: Service\b/.test(d))!;
  const mesh = await startMesh(t, { config: { 'tcp-echo.yaml': service } });
  const server = await mesh.startPod({
    name: 'tcp-echo',
    labels: { app: 'tcp-echo', version: 'v1' },
    ports: { tcp: 9000, 'tcp-other': 9001 },
    app: async (ip) => {
      const apps = await Promise.all([9000, 9001, 9002].map((port) => startTcpEcho({ host: ip, port, prefix: 'hello', log: () => {} })));
      return { close: async () => void (await Promise.all(apps.map((a) => a.close()))) };
    },
  });
  const ip = server.podIP;
  await until(async () => (await echo(ip, 9000, 'port 9000')) === 'hello port 9000\n', 'tcp-echo answers through its sidecar', 60_000, 200);
  assert.equal(await echo(ip, 9001, 'port 9001'), 'hello port 9001\n');

  const answers = async () => [await echo(ip, 9000, 'port 9000'), await echo(ip, 9001, 'port 9001')];
  // An ACK says the proxy took the listener update, not that the new listener already serves:
  // like Envoy, it may still be warming (Istio's task says to wait for the policy to propagate).
  // So the answers are awaited, bounded, and then asserted.
  const expectAnswers = async (expected: string[]) => {
    let last: string[] = [];
    await until(async () => JSON.stringify((last = await answers())) === JSON.stringify(expected), `answers ${JSON.stringify(expected)}`, 30_000, 200).catch(() => undefined);
    assert.deepEqual(last, expected);
  };

  await t.test('ALLOW ports 9000 and 9001: both answer; 9002 (not in the Service) gets nothing', async () => {
    await mesh.apply('tcp-policy.yaml', policy('tcp-policy', 'ALLOW', '        ports: ["9000", "9001"]\n'), [server]);
    assert.deepEqual(await answers(), ['hello port 9000\n', 'hello port 9001\n']);
    // Istio refuses it on the passthrough chain; without traffic capture (issue 14) the sidecar
    // has no listener for a port outside the Service at all, so the app's 9002 is out of reach.
    assert.equal(await echo(ip, 9002, 'port 9002'), '');
  });

  await t.test('ALLOW with methods on port 9000: matches nothing on TCP, both refused', async () => {
    await mesh.apply('tcp-policy.yaml', policy('tcp-policy', 'ALLOW', '        methods: ["GET"]\n        ports: ["9000"]\n'), [server]);
    await expectAnswers(['', '']);
  });

  await t.test('DENY with methods on port 9000: the method is dropped, port 9000 refused, 9001 answers', async () => {
    await mesh.apply('tcp-policy.yaml', policy('tcp-policy', 'DENY', '        methods: ["GET"]\n        ports: ["9000"]\n'), [server]);
    await expectAnswers(['', 'hello port 9001\n']);
    const stats = await (await fetch(`${server.admin}/stats`)).text();
    assert.match(stats, /rbac\.denied: [1-9]/, 'the network rbac filter counted the refusals');
  });

  await t.test('no policy: both answer again', async () => {
    await mesh.apply('tcp-policy.yaml', undefined, [server]);
    await expectAnswers(['hello port 9000\n', 'hello port 9001\n']);
  });
});
