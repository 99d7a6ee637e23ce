/**
 * Outlier detection (issue 11, acceptance 2) with a static Envoy config: three HTTP backends
 * behind one round-robin cluster, real sockets on loopback, one backend switched to 503.
 * Durations are measured at the backend (the gap in requests reaching it while ejected).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sleep, startWorld, type Backend } from './health_helpers.ts';

/** Gaps of more than `minGapMs` between consecutive requests reaching `b`. */
function gaps(b: Backend, minGapMs: number): number[] {
  const out: number[] = [];
  for (let i = 1; i < b.hits.length; i++) if (b.hits[i] - b.hits[i - 1] > minGapMs) out.push(b.hits[i] - b.hits[i - 1]);
  return out;
}

test('a backend answering 503 is ejected after consecutive_5xx, gets no traffic, returns after base_ejection_time, and stays out twice as long the second time', async () => {
  const w = await startWorld({
    // A host back from ejection that fails again before the next tick (0.5 s) keeps its multiplier.
    outlier_detection: { consecutive_5xx: 3, interval: '0.5s', base_ejection_time: '1s', max_ejection_percent: 100 },
  });
  try {
    const [a, b, c] = w.backends;
    for (let i = 0; i < 9; i++) await w.request();
    assert.ok(a.hits.length && b.hits.length && c.hits.length, 'every backend takes traffic at first');
    c.status = 503;
    let seen503 = 0;
    let flagsWhileEjected = '';
    const deadline = performance.now() + 15_000;
    // Until c has been out twice and back twice (bounded by count and time).
    for (let i = 0; i < 5000 && performance.now() < deadline && gaps(c, 500).length < 2; i++) {
      const r = await w.request();
      if (r.who === 'c') {
        assert.equal(r.status, 503);
        if (++seen503 === 3) flagsWhileEjected = await w.flags(c);
      } else assert.equal(r.status, 200, `${r.who} answers 200`);
      await sleep(3);
    }
    const [first, second] = gaps(c, 500);
    console.log(`outlier: first ejection ${first?.toFixed(0)} ms (base_ejection_time 1000 ms, interval 500 ms), second ejection ${second?.toFixed(0)} ms (2 x base expected), ratio ${(second / first).toFixed(2)}`);
    assert.equal(flagsWhileEjected, '/failed_outlier_check', '/clusters shows the ejection');
    // Returns happen at ticks: base_ejection_time x count, plus up to one interval.
    assert.ok(first >= 1000 && first < 2000, `first ejection lasted ${first} ms: base_ejection_time, ended by an interval tick`);
    assert.ok(second >= 2000 && second < 3500, `second ejection lasted ${second} ms: twice base_ejection_time`);
    assert.equal(await w.stat('outlier_detection.ejections_enforced_consecutive_5xx'), 2);
    assert.equal(await w.stat('outlier_detection.ejections_detected_consecutive_5xx'), 2);
    assert.equal(await w.stat('outlier_detection.ejections_enforced_total'), 2);
    // The loop stops at c's first request after its second return: 3 + 3 + 1 requests reached it.
    assert.equal(seen503, 7, 'three 503s per ejection: none reached c while it was out');
  } finally {
    await w.close();
  }
});

test('max_ejection_percent 34 of 3 hosts: with two failing, only one is ejected and the other keeps taking traffic', async () => {
  const w = await startWorld({
    outlier_detection: { consecutive_5xx: 3, interval: '0.1s', base_ejection_time: '30s', max_ejection_percent: 34 },
  });
  try {
    const [a, b, c] = w.backends;
    b.status = 503;
    c.status = 503;
    for (let i = 0; i < 60; i++) await w.request();
    const flags = await Promise.all([a, b, c].map((x) => w.flags(x)));
    console.log(`max_ejection_percent 34: health_flags a=${flags[0]} b=${flags[1]} c=${flags[2]}, overflow ${await w.stat('outlier_detection.ejections_overflow')}`);
    assert.equal(flags[0], 'healthy');
    assert.equal(flags.filter((f) => f === '/failed_outlier_check').length, 1, 'exactly one host ejected');
    const kept = flags[1] === 'healthy' ? b : c;
    const before = kept.hits.length;
    for (let i = 0; i < 20; i++) await w.request();
    assert.ok(kept.hits.length - before >= 5, 'the failing host that was not ejected still takes its share');
    assert.ok((await w.stat('outlier_detection.ejections_overflow')) >= 1, 'the refused ejection is counted');
    assert.equal(await w.stat('outlier_detection.ejections_active'), 1);
  } finally {
    await w.close();
  }
});

test('healthy_panic_threshold (Istio minHealthPercent) above the healthy share: traffic goes to every host, ejected or not', async () => {
  const w = await startWorld({
    outlier_detection: { consecutive_5xx: 3, interval: '0.1s', base_ejection_time: '30s', max_ejection_percent: 100 },
    common_lb_config: { healthy_panic_threshold: { value: 80 } },
  });
  try {
    const [a, b, c] = w.backends;
    c.status = 503;
    for (let i = 0; i < 12; i++) await w.request();
    assert.equal(await w.flags(c), '/failed_outlier_check');
    const before = c.hits.length;
    for (let i = 0; i < 30; i++) await w.request();
    const during = c.hits.length - before;
    const panics = await w.stat('lb_healthy_panic');
    console.log(`minHealthPercent 80 with 2 of 3 healthy (66%): ejected host got ${during} of 30 requests, lb_healthy_panic ${panics}, a=${a.hits.length} b=${b.hits.length}`);
    assert.ok(during >= 5, 'the ejected host still takes traffic in panic');
    assert.ok(panics > 0);
  } finally {
    await w.close();
  }
});

test('local-origin failures: without split they count as 5xx and eject; with split_external_local_origin_errors consecutive_local_origin_failure does', async () => {
  for (const split of [false, true]) {
    const od = split
      ? { split_external_local_origin_errors: true, consecutive_local_origin_failure: 2, consecutive_5xx: 100, interval: '0.1s', base_ejection_time: '30s', max_ejection_percent: 100 }
      : { consecutive_5xx: 2, interval: '0.1s', base_ejection_time: '30s', max_ejection_percent: 100 };
    const w = await startWorld({ outlier_detection: od });
    try {
      const c = w.backends[2];
      await c.close(); // connection refused from now on: a local-origin failure
      for (let i = 0; i < 12; i++) await w.request();
      const type = split ? 'consecutive_local_origin_failure' : 'consecutive_5xx';
      console.log(`connect failures, split=${split}: health_flags ${await w.flags(c)}, ejections_enforced_${type} ${await w.stat(`outlier_detection.ejections_enforced_${type}`)}`);
      assert.equal(await w.flags(c), '/failed_outlier_check');
      assert.equal(await w.stat(`outlier_detection.ejections_enforced_${type}`), 1);
    } finally {
      await w.close();
    }
  }
});

test('success-rate and failure-percentage ejection as Envoy defines them: among 5 hosts, the one far below the others is ejected at an interval tick', async () => {
  for (const kind of ['success_rate', 'failure_percentage'] as const) {
    const od =
      kind === 'success_rate'
        ? { success_rate_minimum_hosts: 5, success_rate_request_volume: 10, enforcing_success_rate: 100 }
        : { failure_percentage_minimum_hosts: 5, failure_percentage_request_volume: 10, failure_percentage_threshold: 50, enforcing_failure_percentage: 100, enforcing_success_rate: 0 };
    // consecutive_5xx out of reach: only the rate-based rule can eject.
    const w = await startWorld({ outlier_detection: { consecutive_5xx: 100000, interval: '0.3s', base_ejection_time: '30s', max_ejection_percent: 100, ...od } }, 5);
    try {
      const e = w.backends[4];
      e.status = 503;
      let flags = '';
      // Ejection happens at an interval tick (0.3 s): keep the load going for some ticks, bounded
      // in time and count (a fast machine sends 600 requests in under one tick's worth of volume).
      const deadline = Date.now() + 15_000;
      for (let i = 0; i < 20_000 && flags !== '/failed_outlier_check' && (i < 600 || Date.now() < deadline); i++) {
        await w.request();
        if (i % 20 === 19) flags = await w.flags(e);
      }
      const clusters = await w.admin('/clusters');
      const threshold = /^up::outlier::success_rate_ejection_threshold::(.*)$/m.exec(clusters)?.[1];
      console.log(`${kind}: health_flags of the failing host ${flags}, ejections_enforced_${kind} ${await w.stat(`outlier_detection.ejections_enforced_${kind}`)}, success_rate_ejection_threshold ${threshold}`);
      assert.equal(flags, '/failed_outlier_check');
      assert.equal(await w.stat(`outlier_detection.ejections_enforced_${kind}`), 1);
      assert.equal(await w.stat('outlier_detection.ejections_enforced_consecutive_5xx'), 0);
      for (const b of w.backends.slice(0, 4)) assert.equal(await w.flags(b), 'healthy');
    } finally {
      await w.close();
    }
  }
});
