import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { allocatePods, checkPort, describeBindProblem, pickPort, podPorts } from '../../src/demo/ports.ts';
import type { DeploymentInfo } from '../../src/registry/deployments.ts';

function dep(name: string, replicas = 1, ports = [9080]): DeploymentInfo {
  return { name, namespace: 'default', replicas, labels: { app: name.split('-')[0]!, version: 'v1' }, ports: { http: ports[0]! }, containerPorts: ports };
}

test('one pod IP 127.0.1.N and app IP 127.0.2.N per replica, in order', () => {
  const pods = allocatePods([dep('details-v1'), dep('reviews-v1', 2), dep('idle-v1', 0), dep('ratings-v1')]);
  assert.deepEqual(
    pods.map((p) => [p.name, p.podIP, p.appIP, p.index]),
    [
      ['details-v1', '127.0.1.1', '127.0.2.1', 1],
      ['reviews-v1', '127.0.1.2', '127.0.2.2', 2],
      ['reviews-v1-2', '127.0.1.3', '127.0.2.3', 3],
      ['ratings-v1', '127.0.1.4', '127.0.2.4', 4],
    ],
  );
  assert.equal(pods[2]!.deployment.name, 'reviews-v1');
});

test('more pods than a /24 holds is refused', () => {
  assert.throws(() => allocatePods([dep('big-v1', 255)]), /too many pods/);
  assert.equal(allocatePods([dep('big-v1', 254)]).at(-1)!.podIP, '127.0.1.254');
});

test('podPorts lists inbound, app, admin and outbound addresses', () => {
  const [p] = allocatePods([dep('details-v1', 1, [9080, 9090])]);
  assert.deepEqual(
    podPorts(p!).map((x) => `${x.host}:${x.port} ${x.what}`),
    ['127.0.1.1:9080 sidecar inbound', '127.0.2.1:9080 app', '127.0.1.1:9090 sidecar inbound', '127.0.2.1:9090 app', '127.0.2.1:15000 sidecar admin', '127.0.2.1:15080 sidecar outbound'],
  );
});

test('pickPort keeps a free preferred port and moves off a busy one', async () => {
  const busy = createServer();
  await new Promise<void>((r) => busy.listen(0, '127.0.0.1', r));
  const port = (busy.address() as AddressInfo).port;
  try {
    assert.deepEqual(await checkPort('127.0.0.1', port), { free: false, code: 'EADDRINUSE' });
    const moved = await pickPort('127.0.0.1', port);
    assert.equal(moved.preferred, false);
    assert.notEqual(moved.port, port);
    assert.ok(await checkPort('127.0.0.1', moved.port).then((c) => c.free));
    const avoided = await pickPort('127.0.0.1', moved.port, [moved.port]);
    assert.equal(avoided.preferred, false);
    assert.notEqual(avoided.port, moved.port);
  } finally {
    busy.close();
  }
  const free = await pickPort('127.0.0.1', port);
  assert.deepEqual(free, { port, preferred: true });
});

test('loopback addresses beyond 127.0.0.1 can be bound (Linux routes all of 127/8 locally)', async () => {
  const c = await checkPort('127.0.2.200', 0);
  if (!c.free) assert.match(describeBindProblem('127.0.2.200', 0, c.code), /macOS|in use|cannot bind/);
  else assert.ok(c.free);
});

test('bind problems read as advice', () => {
  assert.match(describeBindProblem('127.0.1.1', 9080, 'EADDRINUSE'), /127\.0\.1\.1:9080 is already in use/);
  assert.match(describeBindProblem('127.0.1.1', 9080, 'EADDRNOTAVAIL'), /ifconfig lo0 alias 127\.0\.1\.1/);
});
