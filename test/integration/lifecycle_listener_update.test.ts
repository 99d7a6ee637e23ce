/**
 * "Nothing lost", listener updates: 2,000 requests on keep-alive connections (test → client
 * sidecar → server sidecar → app) while the HTTP route changes 20 times. Each change rewrites
 * the VirtualService (an RDS swap on the client sidecar, mid-request for some) and adds or
 * removes a second Service over the server pods (an LDS update of the server sidecars' inbound
 * listener, whose inline route changes: the old listener must drain its keep-alive connections,
 * not cut them). No retries hide a
 * failure: every request must come back 200 from a backend, and no connection is refused.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startMesh } from '../helpers/mesh.ts';
import { clusterStat, startBackend, startLoad, type Backend } from '../helpers/lifecycle.ts';
import { until } from '../helpers/poll.ts';
import { ECHO_WITH_SUBSETS } from '../helpers/yaml.ts';

const ECHO = 'echo.default.svc.cluster.local';
const REQUESTS = 2000;
const CHANGES = 20;
/** Drain time for every sidecar: old listeners keep their connections while those finish. */
const DRAIN = ['--drain-time-s', '10'];

const SERVICES = `
${ECHO_WITH_SUBSETS}`;

/** Change k: a different split plus a header route, no retries. */
function virtualService(k: number): string {
  const w1 = 10 + ((k * 37) % 81);
  return `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: echo, namespace: default }
spec:
  hosts: [${ECHO}]
  http:
  - match: [{ headers: { x-group: { exact: g${k % 3} } } }]
    retries: { attempts: 0 }
    route: [{ destination: { host: ${ECHO}, subset: ${k % 2 ? 'v1' : 'v2'} } }]
  - retries: { attempts: 0 }
    route:
    - { destination: { host: ${ECHO}, subset: v1 }, weight: ${w1} }
    - { destination: { host: ${ECHO}, subset: v2 }, weight: ${100 - w1} }
`;
}

/** Plaintext only: the inbound listener needs no SDS secret, so each update is warm at once. */
const PEER_AUTHENTICATION = `
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: { name: echo, namespace: default }
spec:
  selector: { matchLabels: { app: echo } }
  mtls: { mode: DISABLE }
`;

/**
 * A second Service over the same pods whose name sorts first: while it exists the server
 * sidecars' inbound listener carries a different inline route (its decorator names this host),
 * so adding or removing it is an LDS update of the listener every request goes through.
 */
const ALIAS = `
apiVersion: v1
kind: Service
metadata: { name: aaa-echo, namespace: default }
spec:
  selector: { app: echo }
  ports: [{ name: http, port: 80, targetPort: 8080 }]
`;

test('listener and route updates under keep-alive load: 2,000 requests, 20 changes, nothing refused, nothing failed', { timeout: 600_000 }, async (t) => {
  const mesh = await startMesh(t, { config: { 'services.yaml': SERVICES, 'vs.yaml': virtualService(0), 'pa.yaml': PEER_AUTHENTICATION } });
  const backends: Backend[] = [];
  t.after(() => Promise.all(backends.map((b) => b.close())));
  const pod = (version: string) =>
    mesh.startPod({
      name: `echo-${version}`,
      labels: { app: 'echo', version },
      ports: { http: 8080 },
      proxyArgs: DRAIN,
      app: async (ip) => {
        const b = await startBackend(`echo-${version}`, ip, 8080);
        backends.push(b);
        return b;
      },
    });
  const [v1, v2] = await Promise.all([pod('v1'), pod('v2')]);
  const client = await mesh.startPod({ name: 'client', labels: { app: 'client' }, proxyArgs: DRAIN });
  for (const who of ['echo-v1', 'echo-v2']) {
    await client.waitFor('echo:80', '/warmup', (r) => r.status === 200 && r.json().who === who);
  }
  const listenerVersions = async (p: typeof v1) => {
    const d = await p.configDump();
    const l = d.configs.find((c: any) => String(c['@type']).includes('ListenersConfigDump'));
    return JSON.stringify((l?.dynamic_listeners ?? []).map((x: any) => [x.name, x.active_state?.version_info]));
  };

  let applied = 0;
  const inFlightAtChange: number[] = [];
  const load = startLoad({
    url: client.outbound,
    host: 'echo:80',
    clients: 4,
    max: REQUESTS,
    deadlineMs: 400_000,
    valid: (who) => who === 'echo-v1' || who === 'echo-v2',
    // Every 8th request is slow, so a change finds requests in flight on old listeners/routes.
    path: (i) => (i % 8 === 0 ? `/r/${i}?delay=150` : `/r/${i}`),
    headers: (i): Record<string, string> => (i % 5 === 0 ? { 'x-group': `g${i % 3}` } : {}),
    // Spread the changes over the run: request i waits for change ⌊i / 80⌋ - 2.
    mayStart: (i) => applied >= Math.min(CHANGES, Math.floor(i / 80) - 2),
  });
  let listenerUpdates = 0;
  try {
    for (let k = 1; k <= CHANGES; k++) {
      await until(() => load.sent >= (k - 1) * 80 + 40 || load.sent >= REQUESTS, `request ${(k - 1) * 80}`, 120_000);
      const before = await Promise.all([listenerVersions(v1), listenerVersions(v2)]);
      inFlightAtChange.push(load.inFlight);
      await Promise.all([mesh.apply('vs.yaml', virtualService(k), [client]), mesh.apply('alias.yaml', k % 2 ? ALIAS : undefined, [v1, v2])]);
      // The ACK says each proxy took the update; the new listener may still be warming (as in
      // Envoy, config_dump shows it active once warm), so its version is awaited, bounded.
      let after = before;
      await until(async () => {
        after = await Promise.all([listenerVersions(v1), listenerVersions(v2)]);
        return after[0] !== before[0] && after[1] !== before[1];
      }, `change ${k} to reach both server listeners`, 10_000, 50).catch(() => undefined);
      if (process.env.LIFECYCLE_DEBUG) console.log(k, before, after);
      if (before[0] !== after[0]) listenerUpdates++;
      if (before[1] !== after[1]) listenerUpdates++;
      applied = k;
    }
  } finally {
    applied = CHANGES;
    await load.done;
  }
  const refused = await clusterStat(client.admin, 'echo', 'upstream_cx_connect_fail');
  console.log(
    `listener update: ${load.sent} requests, ${load.ok} ok, ${load.failures.length} failed, ${CHANGES} route changes, ${listenerUpdates} server listener updates, ` +
      `in flight at each change ${inFlightAtChange.join(',')}, ${load.connectionClose} drain closes, upstream connect failures ${refused}, by backend ${JSON.stringify(Object.fromEntries(load.byBackend))}` +
      (load.failures.length ? `\n  ${load.failures.slice(0, 20).join('\n  ')}` : ''),
  );
  assert.equal(load.sent, REQUESTS, 'every request was sent');
  assert.deepEqual(load.failures.slice(0, 20), [], `${load.failures.length} of ${load.sent} requests failed`);
  assert.equal(load.ok, REQUESTS);
  assert.equal(refused, 0, 'no upstream connection was refused or failed');
  assert.equal(listenerUpdates, 2 * CHANGES, 'each change updated both server inbound listeners');
});
