/**
 * Lease leader election against a real kube-apiserver, on the paths a graceful close() never
 * takes: a leader killed with SIGKILL (no release) is replaced once its lease runs out, and a
 * leader cut off from the API server (requests hang, no error) steps down on its own clock
 * before another replica can take over, so two replicas never both act as leader.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startKubeCluster, type KubeCluster } from '../helpers/kube.ts';
import { until } from '../helpers/poll.ts';
import { KubeClient } from '../../src/kube/client/client.ts';
import { LeaderElector } from '../../src/kube/leader/lease.ts';

const LEASE_MODULE = fileURLToPath(new URL('../../src/kube/leader/lease.ts', import.meta.url));
const CLIENT_MODULE = fileURLToPath(new URL('../../src/kube/client/client.ts', import.meta.url));

let kube: KubeCluster;
let client: KubeClient;
let dir: string;

const lease = async (name: string) => (await client.get(`/apis/coordination.k8s.io/v1/namespaces/default/leases/${name}`)).spec;

/**
 * A TCP relay to the API server that can go silent: afterwards it moves no more bytes on open
 * connections and leaves new ones unanswered, as a host that vanished (no FIN, no RST) looks.
 */
async function silenceableRelay(target: URL): Promise<{ port: number; silence(): void; close(): void }> {
  const sockets = new Set<Socket>();
  let silent = false;
  const server: Server = createServer((down) => {
    sockets.add(down);
    down.on('close', () => sockets.delete(down));
    down.on('error', () => undefined);
    if (silent) return down.pause();
    const up = connect(Number(target.port), target.hostname);
    sockets.add(up);
    up.on('close', () => sockets.delete(up));
    up.on('error', () => down.destroy());
    down.on('error', () => up.destroy());
    down.on('data', (d) => silent || up.write(d));
    up.on('data', (d) => silent || down.write(d));
    down.on('end', () => silent || up.end());
    up.on('end', () => silent || down.end());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as { port: number }).port,
    silence: () => {
      silent = true;
    },
    close: () => {
      for (const s of sockets) s.destroy();
      server.close();
    },
  };
}

describe('leader election', { timeout: 180_000 }, () => {
  after(() => kube?.close());
  after(() => dir && rmSync(dir, { recursive: true, force: true }));
  before(async () => {
    kube = await startKubeCluster(undefined);
    client = KubeClient.fromFile(kube.kubeconfig);
    dir = mkdtempSync(join(tmpdir(), 'tsmesh-leader-'));
  });

  test('a leader killed with SIGKILL (the Lease not released) is replaced once its lease has run out', async (t) => {
    const timings = { leaseDurationSeconds: 4, renewDeadlineMs: 2000, retryPeriodMs: 200 };
    // The first replica in its own process, so it can die without running any code.
    const script = `
      const { KubeClient } = await import(${JSON.stringify(CLIENT_MODULE)});
      const { LeaderElector } = await import(${JSON.stringify(LEASE_MODULE)});
      const le = new LeaderElector(KubeClient.fromFile(${JSON.stringify(kube.kubeconfig)}), { namespace: 'default', name: 'killed', identity: 'doomed', ...${JSON.stringify(timings)} });
      le.onChange((leading) => console.log(leading ? 'LEADING' : 'NOT LEADING'));
      le.start();`;
    const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
    t.after(() => child.kill('SIGKILL'));
    let out = '';
    child.stdout!.on('data', (d) => (out += d));
    child.stderr!.on('data', (d) => (out += d));
    await until(() => out.includes('LEADING'), 'the child replica to lead', 30_000, 50).catch((e: Error) => assert.fail(`${e.message}\n${out}`));
    const held = await lease('killed');
    assert.equal(held.holderIdentity, 'doomed');

    const next = new LeaderElector(client, { namespace: 'default', name: 'killed', identity: 'survivor', ...timings });
    t.after(() => next.stop());
    next.start();
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    await until(() => next.leading, 'the survivor to take over the unreleased lease', 30_000, 50);
    const taken = await lease('killed');
    assert.equal(taken.holderIdentity, 'survivor');
    assert.equal(taken.leaseTransitions, (held.leaseTransitions ?? 0) + 1, 'one transition: doomed -> survivor');
  });

  test('a leader whose API server goes silent steps down on its own clock before another replica takes over', async (t) => {
    const relay = await silenceableRelay(new URL(kube.server));
    t.after(() => relay.close());
    const viaRelay = join(dir, 'relay.kubeconfig');
    writeFileSync(viaRelay, readFileSync(kube.kubeconfig, 'utf8').replace(kube.server, `https://127.0.0.1:${relay.port}`));
    // The lease outlasts the renew deadline by 5 s: a busy machine's late timer does not blur the order.
    const timings = { leaseDurationSeconds: 8, renewDeadlineMs: 3000, retryPeriodMs: 250 };
    const order: string[] = [];
    const cut = new LeaderElector(KubeClient.fromFile(viaRelay), { namespace: 'default', name: 'silent', identity: 'cut-off', ...timings });
    const other = new LeaderElector(client, { namespace: 'default', name: 'silent', identity: 'other', ...timings });
    cut.onChange((l) => order.push(`cut-off ${l ? 'leads' : 'stepped down'}`));
    other.onChange((l) => order.push(`other ${l ? 'leads' : 'stepped down'}`));
    t.after(() => Promise.all([cut.stop(), other.stop()]));
    cut.start();
    await until(() => cut.leading, 'the relayed replica to lead', 30_000, 50);
    other.start();
    relay.silence();
    await until(() => other.leading, 'the other replica to take over', 60_000, 50);
    assert.deepEqual(order, ['cut-off leads', 'cut-off stepped down', 'other leads'], 'never two leaders: the cut-off one stepped down first');
    assert.equal((await lease('silent')).holderIdentity, 'other');
  });
});
