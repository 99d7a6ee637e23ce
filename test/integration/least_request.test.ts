/**
 * Issue 11 acceptance 6 (first half): LEAST_REQUEST sends measurably less traffic than
 * ROUND_ROBIN to a host that is 10× slower. Three upstreams on loopback, one answering in 100 ms
 * and two in 10 ms; the same closed-loop load (8 concurrent clients) through a real proxy whose
 * cluster the pilot built from a DestinationRule `simple: ROUND_ROBIN` or `simple: LEAST_REQUEST`.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { appWorkload, pilotResources, serviceYaml, share, show, startApps, startLbProxy, tally, type App } from './lb_helpers.ts';

let apps: Record<string, App>;
before(async () => {
  apps = await startApps(['fast1', 'fast2', 'slow'], { fast1: 10, fast2: 10, slow: 100 });
});
after(async () => {
  await Promise.all(Object.values(apps).map((a) => a.close()));
});

async function slowShare(simple: string): Promise<number> {
  const yaml = serviceYaml(apps.slow.port, `    loadBalancer: {simple: ${simple}}`);
  const { cluster, cla } = pilotResources(yaml, [appWorkload(apps.fast1, 'us/a'), appWorkload(apps.fast2, 'us/a'), appWorkload(apps.slow, 'us/a')]);
  assert.equal(cluster.lb_policy, simple);
  const proxy = await startLbProxy(cluster, cla);
  try {
    const got = await tally(proxy.port('in'), 300, 8);
    const s = share(got, 'slow');
    console.log(`${simple}: 300 requests, 8 concurrent: ${show(got)} -> slow host ${(s * 100).toFixed(1)}%`);
    assert.equal([...got.keys()].filter((k) => k.startsWith('status') || k === 'error').length, 0, 'every request answered 200');
    return s;
  } finally {
    await proxy.close();
  }
}

test('LEAST_REQUEST gives the 10x slower host measurably less traffic than ROUND_ROBIN', async () => {
  const rr = await slowShare('ROUND_ROBIN');
  const lr = await slowShare('LEAST_REQUEST');
  console.log(`slow host share: ROUND_ROBIN ${(rr * 100).toFixed(1)}%, LEAST_REQUEST ${(lr * 100).toFixed(1)}%`);
  // Round robin ignores speed: a third. Least request sees the slow host's requests pile up.
  assert.ok(Math.abs(rr - 1 / 3) < 0.02, `round robin share ${rr}`);
  assert.ok(lr < rr * 0.6, `least request share ${lr} vs round robin ${rr}`);
});
